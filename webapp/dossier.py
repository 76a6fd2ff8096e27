"""The exam dossier: where an exam stands and what happened, who did it, in which role, when."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from processes import assignments, queries
from processes.errors import Conflict, Forbidden, ValidationFailed
from processes.models import ROLES
from webapp import uow

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
