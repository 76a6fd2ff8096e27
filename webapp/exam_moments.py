"""Exams for the student and the surveillant: "Mijn examens" — his PvBs and his exams at exam moments
with their results (R41, R49, R34) — and the proces-verbaal of a moment (R36)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from handlers import clock
from processes import exam_queries, moments, registrations, student_overview
from processes.enrolment import ACCOMMODATIONS
from processes.errors import Conflict, ExamflowError, ValidationFailed
from webapp import form_input, uow

bp = Blueprint("exam_moments", __name__, template_folder="templates")

ATTENDANCE_PREFIX = "aanwezigheid-"


@bp.get("/mijn-examens")
@login_required
def my_exams():
    exam_queries.require_role_anywhere(current_user.user_id, "student", uow(), "Mijn examens")
    exams = registrations.my_exams(current_user.user_id, uow())
    pvbs = student_overview.my_pvbs(current_user.user_id, uow())
    return render_template("exam_moments/my_exams.html", exams=exams, pvbs=pvbs,
                           status_labels=registrations.STATUS_LABELS, accommodations=ACCOMMODATIONS)


@bp.get("/proces-verbaal")
@login_required
def surveillance():
    moments = exam_queries.surveillance_moments(current_user.user_id, uow(), clock.now())
    return render_template("exam_moments/surveillance.html", moments=moments)


def _form(moment_id: int, refusal: ExamflowError | None = None):
    view = exam_queries.moment_for_surveillant(moment_id, current_user.user_id, uow())
    if view.proces_verbaal_id is not None and refusal is None:
        return redirect(url_for("exam_moments.show_proces_verbaal", moment_id=moment_id))
    page = render_template("exam_moments/proces_verbaal_form.html", moment=view, refusal=refusal,
                           values=request.form, prefix=ATTENDANCE_PREFIX, now=clock.now())
    return page, refusal.status if refusal else 200


@bp.get("/examenmomenten/<int:moment_id>/proces-verbaal/nieuw")
@login_required
def proces_verbaal_form(moment_id: int):
    return _form(moment_id)


@bp.post("/examenmomenten/<int:moment_id>/proces-verbaal/nieuw")
@login_required
def record_proces_verbaal(moment_id: int):
    attendance = {key.removeprefix(ATTENDANCE_PREFIX): value for key, value in request.form.items()
                  if key.startswith(ATTENDANCE_PREFIX)}
    try:
        form_input.require_confirmation("het proces-verbaal vast te leggen")
        moments.record_proces_verbaal(moment_id, current_user.user_id, attendance,
                                            request.form.get("bijzonderheden", ""), uow(), now=clock.now())
    except (ValidationFailed, Conflict) as exc:
        return _form(moment_id, refusal=exc)
    flash("Het proces-verbaal is vastgelegd; de processen van de studenten gaan verder.", "info")
    return redirect(url_for("exam_moments.show_proces_verbaal", moment_id=moment_id), code=303)


@bp.get("/examenmomenten/<int:moment_id>/proces-verbaal")
@login_required
def show_proces_verbaal(moment_id: int):
    pv = exam_queries.proces_verbaal(moment_id, current_user.user_id, uow())
    return render_template("exam_moments/proces_verbaal.html", pv=pv)
