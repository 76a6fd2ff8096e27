"""Beheer: the exams whose retention period (R27) has passed or passes within a year. Read-only."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from processes import administration, retention
from webapp import uow

bp = Blueprint("retention", __name__, template_folder="templates", url_prefix="/beheer")


@bp.get("/<int:school_id>/bewaartermijnen")
@login_required
def overview(school_id: int):
    result = retention.list_retention_due(school_id, current_user.user_id, uow())
    school = administration.school_ref(school_id, current_user.user_id, uow())
    return render_template("admin/retention.html", school=school, result=result,
                           years=administration.RETENTION_YEARS)
