"""Area "Processen": process owners edit diagrams and forms, deploy versions and migrate exams (issue 6)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

import forms as formlib
from forms.model import FIELD_TYPES
from processes import migration, process_editor
from processes.errors import ExamflowError, ValidationFailed
from processes.models import ROLES
from webapp import uow

bp = Blueprint("editor", __name__, template_folder="templates")

# The school settings a gateway may read (the data a PvB starts with, runner.SETTING_DEFAULTS).
GATEWAY_SETTINGS = {
    "bewijsstukken_gebruiken": "Bewijsstukken gebruiken",
    "een_beoordelaar_toegestaan": "Eén beoordelaar toegestaan",
}


@bp.app_context_processor
def _menu():
    def editor_nav() -> bool:
        if "editor_nav" not in g:
            g.editor_nav = current_user.is_authenticated and bool(
                process_editor.owned_schools(current_user.user_id, uow()))
        return g.editor_nav

    return {"editor_nav": editor_nav}


def _findings_json(findings: list[process_editor.Finding]):
    return jsonify({"findings": [{"element_id": f.element_id, "message": f.message} for f in findings]})


def _body_xml() -> bytes:
    data = request.get_data(cache=False)
    if not data.strip():
        abort(400)
    return data


@bp.get("/processen")
@login_required
def index():
    rows = process_editor.list_processes(current_user.user_id, uow())
    return render_template("editor/index.html", rows=rows)


@bp.get("/processen/<int:school_id>/<process_id>")
@login_required
def edit(school_id: int, process_id: str):
    return _render_edit(school_id, process_id)


def _render_edit(school_id: int, process_id: str, **extra):
    view = process_editor.open_draft(school_id, process_id, current_user.user_id, uow())
    roles = [{"value": code, "label": f"{label} ({code})"} for code, label in ROLES.items()]
    return render_template("editor/edit.html", view=view, roles=roles, form_keys=sorted(view.forms),
                           settings=[{"value": k, "label": label} for k, label in GATEWAY_SETTINGS.items()], **extra)


@bp.get("/processen/<int:school_id>/<process_id>/concept.bpmn")
@login_required
def draft_xml(school_id: int, process_id: str):
    view = process_editor.open_draft(school_id, process_id, current_user.user_id, uow())
    return Response(view.bpmn_xml, mimetype="application/xml")


@bp.post("/processen/<int:school_id>/<process_id>/concept")
@login_required
def save(school_id: int, process_id: str):
    findings = process_editor.save_draft(school_id, process_id, _body_xml(), current_user.user_id, uow())
    return _findings_json(findings)


@bp.post("/processen/<int:school_id>/<process_id>/controleren")
@login_required
def check(school_id: int, process_id: str):
    findings = process_editor.check_draft(school_id, process_id, _body_xml(), current_user.user_id, uow())
    return _findings_json(findings)


@bp.post("/processen/<int:school_id>/<process_id>/concept/verwijderen")
@login_required
def discard(school_id: int, process_id: str):
    process_editor.discard_draft(school_id, process_id, current_user.user_id, uow())
    flash("Het concept is verwijderd; de editor toont weer de versie in gebruik.", "info")
    return redirect(url_for("editor.edit", school_id=school_id, process_id=process_id), code=303)


@bp.post("/processen/<int:school_id>/<process_id>/deployen")
@login_required
def deploy(school_id: int, process_id: str):
    if request.form.get("bevestigd") != "ja":
        flash("Bevestig dat u deze versie in gebruik wilt nemen.", "fout")
        return redirect(url_for("editor.edit", school_id=school_id, process_id=process_id), code=303)
    try:
        result = process_editor.deploy_draft(school_id, process_id, current_user.user_id,
                                             request.form.get("wijziging", ""), uow())
    except ValidationFailed as exc:
        return _render_edit(school_id, process_id, deploy_error=exc.message, deploy_errors=exc.errors), 422
    if result.unchanged:
        flash("Er is niets veranderd ten opzichte van de versie in gebruik; er is geen nieuwe versie gemaakt.", "info")
    else:
        flash(f"Versie {result.version} is in gebruik genomen: nieuwe examens starten erop. Lopende examens "
              "blijven op hun versie tot u ze verplaatst.", "info")
    return redirect(url_for("editor.versions", school_id=school_id, process_id=process_id), code=303)


# ----------------------------------------------------------------------------- versions


@bp.get("/processen/<int:school_id>/<process_id>/versies")
@login_required
def versions(school_id: int, process_id: str):
    rows = process_editor.list_versions(school_id, process_id, current_user.user_id, uow())
    log = process_editor.process_log(school_id, process_id, current_user.user_id, uow())
    return render_template("editor/versions.html", rows=rows, log=log, school_id=school_id, process_id=process_id)


@bp.get("/processen/<int:school_id>/<process_id>/versies/<int:version_id>.bpmn")
@login_required
def version_xml(school_id: int, process_id: str, version_id: int):
    pv = process_editor.version_for(school_id, process_id, version_id, current_user.user_id, uow())
    return Response(pv.bpmn_xml, mimetype="application/xml")


@bp.get("/processen/<int:school_id>/<process_id>/versies/<int:old_id>/<int:new_id>")
@login_required
def compare(school_id: int, process_id: str, old_id: int, new_id: int):
    old = process_editor.version_for(school_id, process_id, old_id, current_user.user_id, uow())
    new = process_editor.version_for(school_id, process_id, new_id, current_user.user_id, uow())
    diff = process_editor.diff_versions(old, new)
    return render_template("editor/compare.html", diff=diff, school_id=school_id, process_id=process_id,
                           new_id=new_id)


# ----------------------------------------------------------------------------- migration


def _target_id() -> int:
    target = request.values.get("naar", type=int)
    if target is None:
        raise ExamflowError("Kies de versie waarnaar u lopende examens wilt verplaatsen.")
    return target


@bp.get("/processen/<int:school_id>/<process_id>/migratie")
@login_required
def migration_plan(school_id: int, process_id: str):
    target = _target_id()
    plans = migration.plan_migration(school_id, process_id, target, current_user.user_id, uow())
    return render_template("editor/migration.html", plans=plans, school_id=school_id, process_id=process_id,
                           target=target)


@bp.post("/processen/<int:school_id>/<process_id>/migratie")
@login_required
def migration_apply(school_id: int, process_id: str):
    target = _target_id()
    if request.form.get("bevestigd") != "ja":
        flash("Bevestig dat u de gekozen examens wilt verplaatsen.", "fout")
        return redirect(url_for("editor.migration_plan", school_id=school_id, process_id=process_id, naar=target),
                        code=303)
    try:
        chosen = [int(v) for v in request.form.getlist("examen")]
    except ValueError:
        raise ExamflowError("Ongeldige keuze van examens.") from None
    if not chosen:
        flash("Kies ten minste één examen om te verplaatsen.", "fout")
        return redirect(url_for("editor.migration_plan", school_id=school_id, process_id=process_id, naar=target),
                        code=303)
    outcome = migration.apply_migration(school_id, process_id, target, chosen, current_user.user_id, uow())
    flash(f"{len(outcome.moved)} examen(s) verplaatst.", "info")
    for instance_id, reasons in outcome.refused.items():
        flash(f"Examen {instance_id} is niet verplaatst: {' '.join(reasons)}", "fout")
    return redirect(url_for("editor.versions", school_id=school_id, process_id=process_id), code=303)


# ----------------------------------------------------------------------------- forms


@bp.get("/processen/<int:school_id>/<process_id>/formulieren/<form_key>")
@login_required
def form_edit(school_id: int, process_id: str, form_key: str):
    view = process_editor.open_draft(school_id, process_id, current_user.user_id, uow())
    raw = view.forms.get(form_key)
    if raw is None:
        abort(404)
    return render_template("editor/form.html", view=view, form_key=form_key, raw=raw,
                           field_types=sorted(FIELD_TYPES), roles=sorted(ROLES))


def _json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed({"formulier": ["Stuur het formulier als JSON-object."]},
                               "Stuur het formulier als JSON-object.")
    return data


@bp.post("/processen/<int:school_id>/<process_id>/formulieren/<form_key>/voorbeeld")
@login_required
def form_preview(school_id: int, process_id: str, form_key: str):
    process_editor.open_draft(school_id, process_id, current_user.user_id, uow())  # the policy check
    raw = _json_body()
    try:
        form = formlib.parse_form(raw)
    except formlib.FormFileError as exc:
        return jsonify({"message": f"Het formulier is ongeldig: {exc}"}), 422
    fields = formlib.render_description(form, values={}, errors=None, choices={}, criteria_model=None)
    html = render_template("editor/_form_preview.html", form=form, fields=fields)
    return jsonify({"html": html})


@bp.post("/processen/<int:school_id>/<process_id>/formulieren/<form_key>")
@login_required
def form_save(school_id: int, process_id: str, form_key: str):
    try:
        process_editor.save_draft_form(school_id, process_id, form_key, _json_body(), current_user.user_id, uow())
    except ValidationFailed as exc:
        return jsonify({"message": exc.message, "errors": exc.errors}), 422
    return jsonify({"message": "Formulier in het concept opgeslagen."})


@bp.errorhandler(ExamflowError)
def _error(exc: ExamflowError):
    """The editor's script posts XML or JSON and reads JSON back: answer it in kind (4xx, Dutch)."""
    if request.mimetype in ("application/xml", "text/xml", "application/json"):
        body = {"message": exc.message}
        if isinstance(exc, ValidationFailed):
            body["errors"] = exc.errors
        return jsonify(body), exc.status
    return render_template("error.html", status=exc.status, message=exc.message), exc.status
