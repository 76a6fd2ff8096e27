"""Beheer: the school admin's pages — students (import, export, archive), exam groups, accounts,
school settings, and setting out a PvB for a whole group (R9)."""

from __future__ import annotations

import json
import queue
import secrets
import threading
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user, login_required
from markupsafe import escape

from processes import administration, assignments, runner, student_import
from processes.errors import ExamflowError, ValidationFailed
from processes.models import ROLES
from webapp import uow

bp = Blueprint("admin", __name__, template_folder="templates", url_prefix="/beheer")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A student file is small; its upload may be larger than an ordinary form.
MAX_IMPORT_BYTES = 5 * 1024 * 1024


def allow_larger_upload() -> None:
    """Registered before CSRFProtect (which reads the form): the student import may be larger than the
    app-wide body limit."""
    if request.method == "POST" and request.path.endswith("/studenten/import"):
        request.max_content_length = MAX_IMPORT_BYTES + 64 * 1024


def _confirmed() -> bool:
    return request.form.get("bevestigd") == "ja"


def _school(school_id: int) -> administration.SchoolRef:
    return administration.school_ref(school_id, current_user.user_id, uow())


@bp.app_context_processor
def _menu():
    def admin_nav() -> bool:
        """For the menu in base.html: asked once per request, and only when a template asks."""
        if "admin_nav" not in g:
            g.admin_nav = current_user.is_authenticated and bool(
                administration.admin_schools(current_user.user_id, uow()))
        return g.admin_nav

    return {"admin_nav": admin_nav}


@bp.get("")
@login_required
def home():
    schools = administration.admin_schools(current_user.user_id, uow())
    if len(schools) == 1:
        return redirect(url_for("admin.school", school_id=schools[0].id))
    if not schools:
        abort(403)
    return render_template("admin/choose.html", schools=schools)


@bp.get("/<int:school_id>")
@login_required
def school(school_id: int):
    return render_template("admin/school.html", school=_school(school_id))


# ----------------------------------------------------------------------------- students


@bp.get("/<int:school_id>/studenten")
@login_required
def students(school_id: int):
    archived = request.args.get("archief") == "1"
    group_id = request.args.get("groep", type=int)
    rows = administration.list_students(school_id, current_user.user_id, uow(), group_id=group_id,
                                        include_archived=archived)
    return render_template("admin/students.html", school=_school(school_id), rows=rows, archived=archived)


def _imports_dir() -> Path:
    path = Path(current_app.config["EXAMENFLOW_INSTANCE_DIR"]) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


@bp.post("/<int:school_id>/studenten/import")
@login_required
def import_preview(school_id: int):
    """Step 1 of an import: read and check the file, show what would happen (nothing is written)."""
    school = _school(school_id)
    upload = request.files.get("bestand")
    if upload is None or not upload.filename:
        flash("Kies een bestand om in te lezen.", "fout")
        return redirect(url_for("admin.students", school_id=school_id))
    content = upload.read()
    report = student_import.import_students(school_id, current_user.user_id, upload.filename, content, uow(),
                                            dry_run=True)
    token = secrets.token_urlsafe(16)
    (_imports_dir() / f"{token}.bin").write_bytes(content)
    (_imports_dir() / f"{token}.json").write_text(json.dumps(
        {"school_id": school_id, "user_id": current_user.user_id, "filename": upload.filename}))
    return render_template("admin/import_preview.html", school=school, report=report, token=token,
                           filename=upload.filename)


@bp.post("/<int:school_id>/studenten/import/bevestigen")
@login_required
def import_confirm(school_id: int):
    school = _school(school_id)
    token = request.form.get("token", "")
    meta_path = _imports_dir() / f"{token}.json"
    if not token.replace("-", "").replace("_", "").isalnum() or not meta_path.exists():
        flash("Deze voorvertoning is verlopen. Lees het bestand opnieuw in.", "fout")
        return redirect(url_for("admin.students", school_id=school_id))
    meta = json.loads(meta_path.read_text())
    if meta["school_id"] != school_id or meta["user_id"] != current_user.user_id:
        abort(403)
    content = (_imports_dir() / f"{token}.bin").read_bytes()
    report = student_import.import_students(school_id, current_user.user_id, meta["filename"], content, uow())
    meta_path.unlink()
    (_imports_dir() / f"{token}.bin").unlink()
    return render_template("admin/import_done.html", school=school, report=report)


@bp.get("/<int:school_id>/studenten.xlsx")
@login_required
def students_xlsx(school_id: int):
    data = student_import.students_workbook(school_id, current_user.user_id, uow())
    return Response(data, mimetype=XLSX, headers={"Content-Disposition": 'attachment; filename="studenten.xlsx"'})


@bp.get("/<int:school_id>/resultaten.xlsx")
@login_required
def results_xlsx(school_id: int):
    data = student_import.results_workbook(school_id, current_user.user_id, uow())
    return Response(data, mimetype=XLSX, headers={"Content-Disposition": 'attachment; filename="resultaten.xlsx"'})


@bp.post("/<int:school_id>/studenten/<int:student_id>/archiveren")
@login_required
def archive_student(school_id: int, student_id: int):
    if not _confirmed():
        flash("Bevestig eerst dat u deze student wilt archiveren.", "fout")
        return redirect(url_for("admin.students", school_id=school_id))
    administration.archive_student(school_id, current_user.user_id, student_id, uow())
    flash("De student is gearchiveerd: verborgen voor docenten en examencommissie, 10 jaar bewaard.", "info")
    return redirect(url_for("admin.students", school_id=school_id))


# ----------------------------------------------------------------------------- groups


@bp.route("/<int:school_id>/groepen", methods=["GET", "POST"])
@login_required
def groups(school_id: int):
    school = _school(school_id)
    errors: dict = {}
    if request.method == "POST":
        try:
            administration.create_group(school_id, current_user.user_id, request.form.get("naam", ""),
                                        request.form.get("cohort", ""), request.form.get("crebo", ""), uow())
            flash("De examengroep is aangemaakt.", "info")
            return redirect(url_for("admin.groups", school_id=school_id))
        except ValidationFailed as exc:
            errors = exc.errors
    archived = request.args.get("archief") == "1"
    rows = administration.list_groups(school_id, current_user.user_id, uow(), include_archived=archived)
    return render_template("admin/groups.html", school=school, rows=rows, errors=errors, archived=archived,
                           form=request.form), (422 if errors else 200)


@bp.post("/<int:school_id>/groepen/<int:group_id>/archiveren")
@login_required
def archive_group(school_id: int, group_id: int):
    if not _confirmed():
        flash("Bevestig eerst dat u deze groep wilt archiveren.", "fout")
        return redirect(url_for("admin.groups", school_id=school_id))
    administration.archive_group(school_id, current_user.user_id, group_id, uow(),
                                 with_students=request.form.get("met_studenten") == "ja")
    flash("De groep is gearchiveerd: verborgen voor docenten en examencommissie, 10 jaar bewaard.", "info")
    return redirect(url_for("admin.groups", school_id=school_id))


# ----------------------------------------------------------------------------- accounts


@bp.route("/<int:school_id>/accounts", methods=["GET", "POST"])
@login_required
def accounts_page(school_id: int):
    school = _school(school_id)
    errors: dict = {}
    if request.method == "POST":
        try:
            administration.create_account(school_id, current_user.user_id, request.form.get("email", ""),
                                          request.form.get("naam", ""), request.form.get("rol", ""), uow())
            flash("Het account heeft de rol gekregen.", "info")
            return redirect(url_for("admin.accounts_page", school_id=school_id))
        except ValidationFailed as exc:
            errors = exc.errors
        except ExamflowError as exc:
            errors = {"email": [exc.message]}
    rows = administration.list_accounts(school_id, current_user.user_id, uow())
    roles = {k: v for k, v in ROLES.items() if k not in ("student", "beheerder")}
    return render_template("admin/accounts.html", school=school, rows=rows, roles=roles, errors=errors,
                           form=request.form), (422 if errors else 200)


@bp.post("/<int:school_id>/accounts/<int:user_id>/actief")
@login_required
def account_active(school_id: int, user_id: int):
    active = request.form.get("actief") == "ja"
    if not active and not _confirmed():
        flash("Bevestig eerst dat u dit account wilt deactiveren.", "fout")
        return redirect(url_for("admin.accounts_page", school_id=school_id))
    administration.set_account_active(school_id, current_user.user_id, user_id, active, uow())
    flash("Het account is geactiveerd." if active else
          "Het account is gedeactiveerd; open sessies zijn beëindigd.", "info")
    return redirect(url_for("admin.accounts_page", school_id=school_id))


# ----------------------------------------------------------------------------- settings


@bp.route("/<int:school_id>/instellingen", methods=["GET", "POST"])
@login_required
def settings(school_id: int):
    school = _school(school_id)
    if request.method == "POST":
        key = request.form.get("sleutel", "")
        changed = administration.change_school_setting(school_id, current_user.user_id, key,
                                                       request.form.get("waarde", ""), uow())
        flash("De instelling is gewijzigd." if changed else "De instelling was al zo.", "info")
        return redirect(url_for("admin.settings", school_id=school_id))
    rows, history = administration.school_settings(school_id, current_user.user_id, uow())
    return render_template("admin/settings.html", school=school, rows=rows, history=history)


# ----------------------------------------------------------------------------- the assignment bank (R16, R17, R11)


@bp.get("/<int:school_id>/opdrachtenbank")
@login_required
def bank(school_id: int):
    return render_template("admin/bank.html", school=_school(school_id),
                           rows=assignments.list_assignments(school_id, uow()), kinds=assignments.KINDS)


@bp.get("/<int:school_id>/opdrachtenbank/<int:assignment_id>")
@login_required
def bank_preview(school_id: int, assignment_id: int):
    school = _school(school_id)
    return render_template("admin/bank_preview.html", school=school,
                           preview=assignments.assignment_preview(school_id, assignment_id, uow()))


@bp.post("/<int:school_id>/opdrachtenbank/<int:assignment_id>/vaststellen")
@login_required
def bank_establish(school_id: int, assignment_id: int):
    if not _confirmed():
        flash("Bevestig eerst dat u deze opdracht wilt vaststellen.", "fout")
        return redirect(url_for("admin.bank", school_id=school_id))
    assignments.establish_bank_assignment(school_id, assignment_id, current_user.user_id, uow())
    flash("De opdracht is vastgesteld: PvB's met deze opdracht slaan het vaststellen per student over (R16).", "info")
    return redirect(url_for("admin.bank", school_id=school_id))


# ----------------------------------------------------------------------------- setting out for a group (R9)


def _set_out_choice(school_id: int) -> dict:
    group_id = request.values.get("groep", type=int)
    student_ids = [int(v) for v in request.values.getlist("student") if v.isdigit()]
    if group_id is not None:
        student_ids = administration.group_members(school_id, current_user.user_id, group_id, uow())
    return {"group_id": group_id, "student_ids": student_ids,
            "assignment_id": request.values.get("opdracht", type=int),
            "begeleider_id": request.values.get("begeleider", type=int)}


@bp.route("/<int:school_id>/uitzetten", methods=["GET", "POST"])
@login_required
def set_out(school_id: int):
    """Choose a group or students and an assignment; a POST shows the preview (R11) to confirm."""
    school = _school(school_id)
    groups_ = administration.list_groups(school_id, current_user.user_id, uow())
    students_ = administration.list_students(school_id, current_user.user_id, uow())
    bank = assignments.list_assignments(school_id, uow())
    begeleiders = administration.role_holders(school_id, "roc_begeleider", uow())
    if request.method == "GET":
        return render_template("admin/set_out.html", school=school, groups=groups_, students=students_, bank=bank,
                               begeleiders=begeleiders)
    choice = _set_out_choice(school_id)
    errors = {}
    if not choice["student_ids"]:
        errors["studenten"] = ["Kies een groep of minstens één student."]
    if choice["assignment_id"] is None:
        errors["opdracht"] = ["Kies een opdracht uit de opdrachtenbank."]
    if choice["begeleider_id"] is None:
        errors["begeleider"] = ["Kies een ROC-begeleider."]
    if errors:
        return render_template("admin/set_out.html", school=school, groups=groups_, students=students_, bank=bank,
                               begeleiders=begeleiders, errors=errors), 422
    preview = assignments.assignment_preview(school_id, choice["assignment_id"], uow())
    chosen = [s for s in students_ if s.id in set(choice["student_ids"])]
    return render_template("admin/set_out_preview.html", school=school, preview=preview, chosen=chosen,
                           choice=choice)


@bp.post("/<int:school_id>/uitzetten/bevestigen")
@login_required
def set_out_confirm(school_id: int):
    """Sets out the PvBs in one transaction, streaming the progress; all or nothing."""
    _school(school_id)
    if not _confirmed():
        flash("Bevestig eerst dat u de PvB's wilt uitzetten.", "fout")
        return redirect(url_for("admin.set_out", school_id=school_id))
    choice = _set_out_choice(school_id)
    user_id = current_user.user_id
    total = len(choice["student_ids"])
    head = render_template("admin/set_out_progress.html", total=total)
    back = url_for("admin.set_out", school_id=school_id)

    work = uow()
    events: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            ids = runner.set_out_pvbs(school_id, choice["student_ids"], user_id, work,
                                      assignment_id=choice["assignment_id"], begeleider_id=choice["begeleider_id"],
                                      progress=lambda done, of: events.put(("progress", done)))
            events.put(("done", len(ids)))
        except ExamflowError as exc:
            detail = "; ".join(m for msgs in getattr(exc, "errors", {}).values() for m in msgs) or exc.message
            events.put(("failed", detail))
        except Exception as exc:  # the page has started: report here, the error page cannot come anymore
            current_app.logger.exception("setting out failed")
            events.put(("failed", f"onverwachte fout ({type(exc).__name__})"))

    def generate():
        yield head
        step = max(1, total // 20)
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        while True:
            kind, value = events.get()
            if kind == "progress":
                if value % step == 0:
                    yield f"<li>{value} van {total} voorbereid…</li>\n"
                continue
            if kind == "done":
                yield (f'</ol><p class="melding" role="status">{value} PvB\'s uitgezet.</p>'
                       f'<p><a href="{back}">Terug</a></p></main></body></html>')
            else:
                yield (f'</ol><p class="melding melding-fout" role="alert">Er is niets uitgezet: {escape(value)}</p>'
                       f'<p><a href="{back}">Terug</a></p></main></body></html>')
            break
        worker.join()

    return Response(stream_with_context(generate()), mimetype="text/html")
