"""Oversight for the exam committee and the exam bureau: deadlines (R48), incidents, exchange log (R47)."""

from __future__ import annotations

from datetime import date, datetime, time

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from handlers import clock
from handlers.calendar import AMSTERDAM
from processes import deadlines, oversight
from webapp import uow

bp = Blueprint("committee", __name__, template_folder="templates")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.app_context_processor
def _menu():
    def committee_nav() -> bool:
        """For the menu in base.html: asked once per request, and only when a template asks."""
        if "committee_nav" not in g:
            g.committee_nav = current_user.is_authenticated and deadlines.oversees_any_school(
                current_user.user_id, uow()
            )
        return g.committee_nav

    return {"committee_nav": committee_nav}


def _deadline_filters() -> dict:
    crebo = (request.args.get("crebo") or "").strip() or None
    return {"crebo": crebo, "assessor_id": request.args.get("beoordelaar", type=int)}


@bp.get("/termijnen")
@login_required
def deadlines_overview():
    now = clock.now()
    filters = _deadline_filters()
    rows = deadlines.list_deadlines(current_user.user_id, uow(), now, **filters)
    return render_template(
        "committee/deadlines.html",
        rows=rows,
        filters=filters,
        today=now.astimezone(AMSTERDAM),
        assessors=deadlines.assessor_choices(current_user.user_id, uow()),
        overdue=sum(1 for r in rows if r.status == deadlines.OVERDUE),
    )


@bp.get("/termijnen.xlsx")
@login_required
def deadlines_xlsx():
    now = clock.now()
    rows = deadlines.list_deadlines(current_user.user_id, uow(), now, **_deadline_filters())
    filename = f"termijnen-{now.astimezone(AMSTERDAM).date().isoformat()}.xlsx"
    return Response(
        deadlines.deadlines_workbook(rows),
        mimetype=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/incidenten")
@login_required
def incidents():
    rows = oversight.list_incidents(current_user.user_id, uow())
    return render_template("committee/incidents.html", rows=rows)


@bp.post("/incidenten/<int:timer_id>/opnieuw")
@login_required
def retry_incident(timer_id: int):
    oversight.retry_timer_incident(timer_id, current_user.user_id, uow(), clock.now())
    flash("Het incident wordt opnieuw geprobeerd.", "info")
    return redirect(url_for("committee.incidents"))


def _since(text: str | None) -> datetime | None:
    """A date from the filter form means the start of that day in the school's time zone."""
    try:
        return datetime.combine(date.fromisoformat(text), time(0), AMSTERDAM) if text else None
    except ValueError:
        return None


@bp.get("/uitwisseling")
@login_required
def exchange_log():
    status = request.args.get("status") or None
    if status not in oversight.MESSAGE_STATUSES:
        status = None
    since_text = request.args.get("sinds") or ""
    since = _since(since_text)
    instance_id = request.args.get("examen", type=int)
    page = request.args.get("pagina", default=1, type=int) or 1
    result = oversight.exchange_overview(
        current_user.user_id, uow(), status=status, since=since, instance_id=instance_id, page=page
    )
    filters = {"status": status, "sinds": since_text if since else "", "examen": instance_id}
    return render_template(
        "committee/exchange_log.html", result=result, filters=filters, statuses=oversight.MESSAGE_STATUSES
    )
