"""The exam dossier: where an exam stands and what happened, who did it, in which role, when."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from processes import queries
from processes.models import ROLES
from webapp import uow

bp = Blueprint("dossier", __name__, template_folder="templates")


@bp.get("/examens/<int:instance_id>")
@login_required
def show(instance_id: int):
    view = queries.get_instance(instance_id, current_user.user_id, uow())
    return render_template("dossier/instance.html", exam=view, roles=ROLES)
