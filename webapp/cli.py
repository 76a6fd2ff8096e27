"""The operator's command line: `examenflow …` (a Flask CLI group over the same use cases)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import FlaskGroup, with_appcontext

import forms as formlib
from processes import accounts, audit, oke_clients, registrations
from processes.errors import ExamflowError
from processes.schema import upgrade_database
from processes.versions import called_files_for, deploy_process, deploy_shipped
from webapp import create_app, services, uow


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=False)
def cli() -> None:
    """Examenflow: examens als BPMN-processen."""


def _fail(exc: ExamflowError) -> None:
    details = [m for messages in getattr(exc, "errors", {}).values() for m in messages]
    click.echo(f"Fout: {' '.join(details) if details else exc.message}", err=True)
    sys.exit(1)


@cli.group()
def db() -> None:
    """Database aanmaken en bijwerken."""


@db.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Maakt de database aan of werkt haar bij tot de nieuwste migratie."""
    upgrade_database(services().engine)
    click.echo("Database bijgewerkt.")


@cli.command()
@click.argument("bpmn_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--forms-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Map met formulierbestanden (standaard forms/).")
@click.option("--by", "by_email", help="E-mailadres van wie deployt (voor het logboek).")
@with_appcontext
def deploy(bpmn_file: Path | None, forms_dir: Path | None, by_email: str | None) -> None:
    """Zet een diagram (of alle diagrammen in bpmn/) met de formulieren in gebruik als nieuwe versie."""
    try:
        actor = accounts.user_id_by_email(by_email, uow()) if by_email else None
        if bpmn_file is None:
            results = deploy_shipped(uow(), actor, forms_dir=forms_dir)
        else:
            form_files = formlib.load_form_dir(forms_dir or formlib.shipped_forms_dir())
            results = [deploy_process(bpmn_file.read_bytes(), bpmn_file.stem, form_files, actor, uow(),
                                      called_files=called_files_for(bpmn_file))]
    except ExamflowError as exc:
        _fail(exc)
    for r in results:
        state = "ongewijzigd" if r.unchanged else "nieuw"
        click.echo(f"{r.process_id}: versie {r.version} ({state})")


@cli.group("process")
def process_group() -> None:
    """Diagrammen controleren en in gebruik nemen (ook per school)."""


def _read_bundle(bpmn_file: Path, forms_dir: Path | None) -> tuple[bytes, dict[str, dict], dict[str, bytes]]:
    try:
        form_files = formlib.load_form_dir(forms_dir or formlib.shipped_forms_dir())
    except formlib.FormFileError as exc:
        click.echo(f"Fout: formulier ongeldig: {exc}", err=True)
        sys.exit(1)
    try:
        return bpmn_file.read_bytes(), form_files, called_files_for(bpmn_file)
    except OSError as exc:
        click.echo(f"Fout: {bpmn_file} kan niet worden gelezen ({exc.strerror}).", err=True)
        sys.exit(1)


def _checked_bundle(bpmn_file: Path, forms_dir: Path | None, refused: str) -> tuple[bytes, dict, dict]:
    """The bundle of ``bpmn_file``, or every finding (element and reason) on stderr and exit 1."""
    from processes.process_editor import validate_bundle

    xml, form_files, called = _read_bundle(bpmn_file, forms_dir)
    findings = validate_bundle(xml, bpmn_file.stem, form_files, called)
    for f in findings:
        click.echo(f"{bpmn_file.name}: {f.element_id or 'diagram'}: {f.message}", err=True)
    if findings:
        click.echo(f"{bpmn_file.name}: {refused} ({len(findings)} fout(en)).", err=True)
        sys.exit(1)
    return xml, form_files, called


@process_group.command("validate")
@click.argument("bpmn_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--forms-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Map met formulierbestanden (standaard forms/).")
def process_validate(bpmn_file: Path, forms_dir: Path | None) -> None:
    """Controleert een diagram zoals een deploy dat doet; noemt elk element met zijn fout."""
    _checked_bundle(bpmn_file, forms_dir, "afgekeurd")
    click.echo(f"{bpmn_file.name}: in orde.")


@process_group.command("deploy")
@click.argument("bpmn_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--forms-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Map met formulierbestanden (standaard forms/).")
@click.option("--school", "school_code", help="Als eigen variant van deze school (standaard: voor alle scholen).")
@click.option("--note", "change_note", default="", help="Wat er verandert (komt in het logboek).")
@click.option("--by", "by_email", help="E-mailadres van wie deployt (voor het logboek).")
@with_appcontext
def process_deploy(bpmn_file: Path, forms_dir: Path | None, school_code: str | None, change_note: str,
                   by_email: str | None) -> None:
    """Controleert een diagram en zet het in gebruik als nieuwe versie; lopende examens houden hun versie."""
    xml, form_files, called = _checked_bundle(bpmn_file, forms_dir, "afgekeurd, niet in gebruik genomen")
    try:
        actor = accounts.user_id_by_email(by_email, uow()) if by_email else None
        school_id = accounts.school_id_by_code(school_code, uow()) if school_code else None
        r = deploy_process(xml, bpmn_file.stem, form_files, actor, uow(), called_files=called,
                           school_id=school_id, change_note=change_note, role="operator")
    except ExamflowError as exc:
        _fail(exc)
    state = "ongewijzigd" if r.unchanged else "nieuw"
    click.echo(f"{r.process_id}: versie {r.version} ({state})" + (f" voor {school_code}" if school_code else ""))


@cli.group()
def school() -> None:
    """Scholen."""


@school.command("create")
@click.argument("code")
@click.argument("name")
@with_appcontext
def school_create(code: str, name: str) -> None:
    try:
        sid = accounts.create_school(code, name, uow())
    except ExamflowError as exc:
        _fail(exc)
    click.echo(f"School {code} aangemaakt (id {sid}).")


@school.command("set")
@click.argument("code")
@click.argument("key")
@click.argument("value")
@with_appcontext
def school_set(code: str, key: str, value: str) -> None:
    """Zet een schoolinstelling die de diagrammen lezen (ja/nee)."""
    try:
        accounts.set_school_setting(accounts.school_id_by_code(code, uow()), key, value, uow())
    except ExamflowError as exc:
        _fail(exc)
    click.echo(f"{code}: {key} = {value}")


@cli.group()
def assignment() -> None:
    """De opdrachtenbank."""


@assignment.command("create")
@click.argument("school_code")
@click.argument("code")
@click.argument("title")
@click.option("--text-file", type=click.File("r", encoding="utf-8"), help="De opdrachttekst.")
@click.option("--model-file", type=click.File("r", encoding="utf-8"), required=True,
              help="Beoordelingsmodel (JSON: werkprocessen met criteria en cruciale criteria).")
@click.option("--established", is_flag=True, help="Door de beheerder als vastgesteld gemarkeerd (R16).")
@with_appcontext
def assignment_create(school_code: str, code: str, title: str, text_file, model_file, established: bool) -> None:
    """Zet een opdracht met haar beoordelingsmodel in de opdrachtenbank van een school."""
    import json

    from processes.assignments import create_assignment

    try:
        model = json.load(model_file)
    except ValueError as exc:
        click.echo(f"Fout: het beoordelingsmodel is geen geldige JSON ({exc}).", err=True)
        sys.exit(1)
    try:
        aid = create_assignment(accounts.school_id_by_code(school_code, uow()), code, title,
                                text_file.read() if text_file else "", model, uow(), established=established)
    except ExamflowError as exc:
        _fail(exc)
    click.echo(f"Opdracht {code} toegevoegd (id {aid}).")


@cli.group()
def user() -> None:
    """Accounts en rollen."""


@user.command("create")
@click.argument("email")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--school", "school_code", help="Schoolcode voor --role.")
@click.option("--role", "roles", multiple=True, help="Rol op die school (meerdere keren mogelijk).")
@with_appcontext
def user_create(email: str, name: str, password: str, school_code: str | None, roles: tuple[str, ...]) -> None:
    """Maakt een account (één per persoon, ook over scholen heen) met rollen."""
    try:
        uid = accounts.create_user(email, name, password, uow())
        if roles:
            if not school_code:
                raise ExamflowError("Geef --school bij --role.")
            sid = accounts.school_id_by_code(school_code, uow())
            for role in roles:
                accounts.grant_role(uid, sid, role, uow())
    except ExamflowError as exc:
        _fail(exc)
    click.echo(f"Account {email} aangemaakt (id {uid}).")


@user.command("grant")
@click.argument("email")
@click.argument("school_code")
@click.argument("role")
@with_appcontext
def user_grant(email: str, school_code: str, role: str) -> None:
    """Geeft een bestaand account een rol op een school."""
    try:
        accounts.grant_role(accounts.user_id_by_email(email, uow()),
                            accounts.school_id_by_code(school_code, uow()), role, uow())
    except ExamflowError as exc:
        _fail(exc)
    click.echo(f"{email} is nu {role} op {school_code}.")


@cli.group()
def student() -> None:
    """Studenten."""


@student.command("create")
@click.argument("email")
@click.argument("school_code")
@click.argument("student_number")
@click.option("--cohort", required=True, help="Startjaar van het kwalificatiedossier (R10).")
@click.option("--crebo", required=True)
@with_appcontext
def student_create(email: str, school_code: str, student_number: str, cohort: str, crebo: str) -> None:
    """Schrijft een bestaand account in als student van een school, met studentnummer (R3)."""
    try:
        sid = accounts.create_student(accounts.user_id_by_email(email, uow()),
                                      accounts.school_id_by_code(school_code, uow()),
                                      student_number, cohort, crebo, uow())
    except ExamflowError as exc:
        _fail(exc)
    click.echo(f"Student {student_number} ingeschreven (id {sid}).")


@cli.group()
def exam() -> None:
    """Examens op examenmomenten: registreren en doorschuiven (R41)."""


@exam.command("register-cohort")
@click.argument("school_code")
@click.option("--cohort", help="Alleen studenten van dit cohort (startjaar kwalificatiedossier).")
@click.option("--crebo", help="Alleen examens van deze opleiding.")
@click.option("--school-year", help="Schooljaar, bv. 2026-2027 (standaard het huidige).")
@with_appcontext
def exam_register_cohort(school_code: str, cohort: str | None, crebo: str | None, school_year: str | None) -> None:
    """Registreert studenten automatisch voor de examens van hun opleiding en cohort (R41)."""
    try:
        outcome = registrations.register_cohort(accounts.school_id_by_code(school_code, uow()), None, uow(),
                                                cohort=cohort, crebo=crebo, school_year=school_year)
    except ExamflowError as exc:
        _fail(exc)
    click.echo(f"{outcome.created} registraties aangemaakt, {outcome.already} bestonden al "
               f"({outcome.students} studenten, {outcome.exams} examens).")


@exam.command("carry-over")
@click.argument("school_code")
@click.option("--from", "from_year", required=True, help="Het afgelopen schooljaar, bv. 2025-2026.")
@with_appcontext
def exam_carry_over(school_code: str, from_year: str) -> None:
    """Schuift niet afgeronde examens door naar het volgende schooljaar (R41)."""
    try:
        moved = registrations.carry_over(accounts.school_id_by_code(school_code, uow()), from_year, None, uow())
    except ExamflowError as exc:
        _fail(exc)
    click.echo(f"{moved} examens doorgeschoven naar {registrations.next_school_year(from_year)}.")


@cli.group()
def token() -> None:
    """API-tokens."""


@token.command("create")
@click.argument("email")
@click.option("--name", default="api", show_default=True)
@click.option("--days", default=90, show_default=True, type=int)
@with_appcontext
def token_create(email: str, name: str, days: int) -> None:
    """Maakt een bearer-token; het wordt één keer getoond."""
    try:
        raw = accounts.create_api_token(accounts.user_id_by_email(email, uow()), name, uow(), days=days)
    except ExamflowError as exc:
        _fail(exc)
    click.echo(raw)


@token.command("revoke")
@click.argument("raw_token")
@with_appcontext
def token_revoke(raw_token: str) -> None:
    try:
        accounts.revoke_api_token(raw_token, uow())
    except ExamflowError as exc:
        _fail(exc)
    click.echo("Token ingetrokken.")


@cli.group()
def oke() -> None:
    """OKE-koppelingen: de toetsplanning of het SIS van een school (flow 2)."""


@oke.group("client")
def oke_client() -> None:
    """OKE-clients (OAuth2 client credentials)."""


@oke_client.command("create")
@click.option("--school", "school_code", required=True, help="Schoolcode; de client werkt alleen voor deze school.")
@click.option("--name", default=oke_clients.DEFAULT_NAME, show_default=True,
              help="Naam van het systeemaccount (zo staat het in logboek en geschiedenis).")
@with_appcontext
def oke_client_create(school_code: str, name: str) -> None:
    """Registreert een toetsplanning of SIS; client-id en geheim worden één keer getoond."""
    try:
        created = oke_clients.create_client(accounts.school_id_by_code(school_code, uow()), name, uow())
    except ExamflowError as exc:
        _fail(exc)
    click.echo(f"OKE-client voor {school_code} aangemaakt (systeemaccount {created.user_id}, rol examenbureau).")
    click.echo(f"client_id:     {created.client_id}")
    click.echo(f"client_secret: {created.secret}")
    click.echo("Bewaar het geheim nu: het wordt niet opgeslagen en niet nog eens getoond.")


@oke_client.command("revoke")
@click.argument("client_id")
@with_appcontext
def oke_client_revoke(client_id: str) -> None:
    """Trekt een OKE-client in: geheim en tokens werken meteen niet meer."""
    try:
        oke_clients.revoke_client(client_id, uow())
    except ExamflowError as exc:
        _fail(exc)
    click.echo(f"OKE-client {client_id} ingetrokken.")


@cli.group("audit")
def audit_group() -> None:
    """Het logboek (audit trail)."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Controleert de hashketen van elk examen: gewijzigde of verwijderde gebeurtenissen."""
    with uow() as work:
        count, problems = audit.verify_all(work.session)
    for p in problems:
        click.echo(f"examen {p.instance_id}: {p.message}")
    if problems:
        click.echo(f"{len(problems)} probleem/problemen in {count} examens.", err=True)
        sys.exit(1)
    click.echo(f"Logboek in orde: {count} examens gecontroleerd.")


@cli.command("scheduler")
@click.option("--once", is_flag=True, help="Eén ronde en dan stoppen.")
@click.option("--daily", is_flag=True, help="Met --once: de dagelijkse ronde (registreren en doorschuiven, R41).")
@click.option("--now", "now_text", help="Doe alsof het nu dit moment is (ISO 8601 met tijdzone).")
@with_appcontext
def scheduler_command(once: bool, daily: bool, now_text: str | None) -> None:
    """Vuurt verlopen termijnen af en levert berichten af; draait los van de webserver."""
    import logging
    from datetime import datetime

    from scheduler import daily_once, run_forever, sweep_once

    now = None
    if now_text:
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError:
            click.echo(f"Fout: '{now_text}' is geen ISO 8601-tijdstip.", err=True)
            sys.exit(2)
        if now.tzinfo is None:
            click.echo("Fout: geef --now met tijdzone, bv. 2026-05-07T09:00+02:00 (design 7).", err=True)
            sys.exit(2)
        if not once:
            click.echo("Fout: --now hoort bij --once.", err=True)
            sys.exit(2)
    svc = services()
    if daily and not once:
        click.echo("Fout: --daily hoort bij --once.", err=True)
        sys.exit(2)
    if daily:
        try:
            daily_report = daily_once(svc.uow, now)
        except ExamflowError as exc:
            _fail(exc)
        click.echo(f"{daily_report.registered} registraties aangemaakt, {daily_report.carried_over} examens "
                   "doorgeschoven.")
        return
    if once:
        report = sweep_once(svc.uow, svc.session_factory, now)
        click.echo(f"{report.timers.fired} termijnen afgevuurd, {report.timers.failed} mislukt "
                   f"({report.timers.incidents} incidenten), {report.delivered} berichten afgeleverd.")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_forever(svc.uow, svc.session_factory)


@cli.command("uploads-opruimen")
@click.option("--dagen", default=7, show_default=True, type=click.IntRange(min=1),
              help="Onafgemaakte uploads die ouder zijn dan dit aantal dagen.")
@with_appcontext
def uploads_cleanup(dagen: int) -> None:
    """Verwijdert de ontvangen delen van uploads die nooit zijn afgemaakt (nooit een document van een examen)."""
    from datetime import timedelta

    from flask import current_app

    from handlers import clock
    from processes.uploads import remove_abandoned

    svc = current_app.extensions["examenflow"]
    removed = remove_abandoned(Path(current_app.config["EXAMENFLOW_STORAGE_DIR"]), clock.now() - timedelta(days=dagen),
                               svc.uow())
    click.echo(f"{removed} onafgemaakte upload(s) opgeruimd.")


@cli.command()
@click.option("--force", is_flag=True, help="Ook `npm ci` uitvoeren als node_modules/ actueel is.")
def assets(force: bool) -> None:
    """Installeert de front-end-bibliotheken (npm ci) en kopieert ze naar webapp/static/vendor/."""
    from webapp.assets import build_assets

    try:
        target = build_assets(force=force)
    except RuntimeError as exc:
        click.echo(f"Fout: {exc}", err=True)
        sys.exit(1)
    click.echo(f"Front-end-bestanden staan in {target}.")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Alleen voorbereiden, niet starten.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Bereidt een demo voor (database, diagrammen, accounts, examens) en start die op host:port."""
    from processes.demo import prepare_demo
    from webapp.assets import assets_present, build_assets

    if not assets_present():
        click.echo("Front-end-bestanden bouwen (npm ci)…")
        try:
            build_assets()
        except RuntimeError as exc:
            click.echo(f"Waarschuwing: {exc}\nDe demo draait zonder procesdiagram.", err=True)

    app = create_app({"EXAMENFLOW_DEMO": True})
    with app.app_context():
        upgrade_database(services().engine)
        summary = prepare_demo(uow())
    for line in summary:
        click.echo(line)
    if not no_serve:
        click.echo(f"Examenflow draait op http://{host}:{port}  (stoppen: Ctrl+C)")
        # app.run() refuses to block inside a Flask CLI command; the development server directly.
        from werkzeug.serving import run_simple

        run_simple(host, port, app, threaded=True, use_reloader=False)
