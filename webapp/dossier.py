"""The exam dossier: where an exam stands and what happened, who did it, in which role, when."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from processes import assignments, attachments, queries
from processes.errors import Conflict, Forbidden, ValidationFailed
from processes.models import ROLES
from webapp import csrf, uow, uploads

bp = Blueprint("dossier", __name__, template_folder="templates")

EDITABLE_ROLES = ("praktijkbegeleider", "praktijkbeoordelaar", "roc_beoordelaar", "examencommissie")


@bp.get("/examens/<int:instance_id>")
@login_required
def show(instance_id: int):
    view = queries.get_instance(instance_id, current_user.user_id, uow())
    may_edit = _is_roc_begeleider(view)
    # R7, R22: the beheerder changes participants also after establishment, during execution.
    may_change_people = view.status == "running" and assignments.is_school_admin_of(instance_id,
                                                                                   current_user.user_id, uow())
    people = (queries.people_for_roles(instance_id, current_user.user_id, uow())
              if may_edit or may_change_people else {})
    return render_template("dossier/instance.html", exam=view, roles=ROLES, may_edit=may_edit,
                           may_change_people=may_change_people,
                           attachments=attachments.list_attachments(instance_id, current_user.user_id, uow()),
                           evidence=attachments.list_attachments(instance_id, current_user.user_id, uow(), "bewijs"),
                           evidence_state=(attachments.evidence_state(instance_id, current_user.user_id, uow())
                                           if view.assignment else None),
                           upload_limit=current_app.config["EXAMENFLOW_UPLOAD_MAX_BYTES"],
                           upload_chunk=current_app.config["EXAMENFLOW_UPLOAD_CHUNK_BYTES"],
                           people=people, editable_roles=EDITABLE_ROLES,
                           current_elements=[t["element_id"] for t in view.open_tasks])


def _is_roc_begeleider(view: queries.InstanceView) -> bool:
    return view.participant_ids.get("roc_begeleider") == current_user.user_id


@bp.get("/examens/<int:instance_id>/diagram.xml")
@login_required
def diagram_xml(instance_id: int):
    xml = queries.get_instance_diagram(instance_id, current_user.user_id, uow())
    return Response(xml, mimetype="application/xml")


@bp.post("/examens/<int:instance_id>/opdracht")
@login_required
def edit_assignment(instance_id: int):
    changes = {k: request.form[k] for k in ("title", "text", "examenlocatie", "context") if k in request.form}
    if request.form.get("desired_end_date"):
        changes["desired_end_date"] = request.form["desired_end_date"]
    try:
        version = assignments.edit_exam_assignment(instance_id, current_user.user_id, changes, uow())
    except (Conflict, Forbidden, ValidationFailed) as exc:
        flash(exc.message if not isinstance(exc, ValidationFailed) else
              "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items()), "fout")
        return redirect(url_for("dossier.show", instance_id=instance_id), code=303)
    flash(f"De opdracht is opgeslagen (versie {version}).", "info")
    return redirect(url_for("dossier.show", instance_id=instance_id), code=303)


@bp.post("/examens/<int:instance_id>/deelnemers")
@login_required
def change_participant(instance_id: int):
    role = request.form.get("role", "")
    try:
        user_id = int(request.form.get("user_id", ""))
    except ValueError:
        flash("Kies een persoon.", "fout")
        return redirect(url_for("dossier.show", instance_id=instance_id), code=303)
    try:
        assignments.change_participant(instance_id, role, user_id, current_user.user_id, uow())
    except (Forbidden, ValidationFailed) as exc:
        flash(exc.message if not isinstance(exc, ValidationFailed) else
              " ".join(m for msgs in exc.errors.values() for m in msgs), "fout")
        return redirect(url_for("dossier.show", instance_id=instance_id), code=303)
    flash(f"{ROLES.get(role, role)} gewijzigd; open taken gaan mee.", "info")
    return redirect(url_for("dossier.show", instance_id=instance_id), code=303)


# Multipart framing around the file itself (boundaries, headers, the CSRF field).
_FORM_OVERHEAD = 64 * 1024


@bp.post("/examens/<int:instance_id>/bijlagen")
@csrf.exempt  # checked below, once the body may be as large as a file may be
@login_required
def add_attachment(instance_id: int):
    """R18: a file added to the assignment, streamed to storage (design 12), in one request (without
    JavaScript; the page's script sends it in resumable chunks, webapp/uploads.py)."""
    return _single_upload(instance_id, "bijlage", "#bijlagen")


@bp.post("/examens/<int:instance_id>/bewijs")
@csrf.exempt  # as above
@login_required
def add_evidence(instance_id: int):
    """R20: the student's evidence, until the evidence check locks it (R23)."""
    return _single_upload(instance_id, "bewijs", "#bewijsstukken")


def _single_upload(instance_id: int, kind: str, anchor: str):
    back = redirect(url_for("dossier.show", instance_id=instance_id) + anchor, code=303)
    limit = current_app.config["EXAMENFLOW_UPLOAD_MAX_BYTES"]
    try:
        # Refused before the body is read: someone who may not add never uploads 512 MiB for nothing.
        attachments.check_may_add(instance_id, current_user.user_id, uow(), kind)
    except (Conflict, Forbidden) as exc:
        flash(exc.message, "fout")
        return back, exc.status
    if request.content_length is not None and request.content_length > limit + _FORM_OVERHEAD:
        flash(f"Het bestand is te groot: de grens is {limit // 2**20} MiB per bestand.", "fout")
        return back, 413
    request.max_content_length = limit + _FORM_OVERHEAD
    csrf.protect()
    upload = request.files.get("bestand")
    if upload is None or not upload.filename:
        flash("Kies een bestand.", "fout")
        return back, 400
    try:
        stored = attachments.store_stream(upload.stream, uploads.storage_dir(), limit)
        attachments.add_attachment(instance_id, current_user.user_id, upload.filename, upload.mimetype, stored,
                                   uow(), kind=kind)
    except (attachments.TooLarge, Conflict, Forbidden, ValidationFailed) as exc:
        flash(exc.message, "fout")
        return back, exc.status
    flash(f"{'Bewijsstuk' if kind == 'bewijs' else 'Bijlage'} '{upload.filename}' toegevoegd.", "info")
    return back


@bp.post("/examens/<int:instance_id>/bestanden/<int:attachment_id>/intrekken")
@login_required
def withdraw_file(instance_id: int, attachment_id: int):
    """Withdraws a file before the lock; it stays stored and listed as withdrawn (R27)."""
    if request.form.get("bevestiging") != "ja":
        flash("Bevestig eerst dat u het bestand wilt intrekken.", "fout")
        return redirect(url_for("dossier.show", instance_id=instance_id), code=303)
    try:
        name = attachments.withdraw_attachment(instance_id, attachment_id, current_user.user_id, uow())
    except (Conflict, Forbidden) as exc:
        flash(exc.message, "fout")
        return redirect(url_for("dossier.show", instance_id=instance_id), code=303), exc.status
    flash(f"'{name}' is ingetrokken; het blijft bewaard in het dossier.", "info")
    return redirect(url_for("dossier.show", instance_id=instance_id), code=303)


@bp.get("/examens/<int:instance_id>/bijlagen/<int:attachment_id>")
@login_required
def open_attachment(instance_id: int, attachment_id: int):
    return uploads.send_stored(attachments.open_attachment(instance_id, attachment_id, current_user.user_id, uow()))
