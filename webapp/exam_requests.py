"""Inspection and objection (R34): the student asks the examencommissie about one of his own exams, from
"Mijn examens" or from the exam's dossier. The request runs as its own process (decision D21)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from processes import exam_requests
from processes.errors import Conflict, ExamflowError, Forbidden, NotFound, ValidationFailed
from webapp import form_input, uow

bp = Blueprint("exam_requests", __name__, template_folder="templates")

# Where the student goes back to after sending: the page the form was on.
BACK = {"dossier": "dossier", "mijn-examens": "mijn-examens"}


@bp.app_template_global()
def exam_request_form(instance_id: int | None) -> exam_requests.RequestForm | None:
    """For the forms on "Mijn examens" and the dossier: only the exam's own student gets one."""
    if instance_id is None or not current_user.is_authenticated:
        return None
    try:
        return exam_requests.request_form(instance_id, current_user.user_id, uow())
    except (Forbidden, NotFound):
        return None


def _back(instance_id: int) -> str:
    if request.form.get("terug") == "dossier":
        return url_for("dossier.show", instance_id=instance_id) + "#inzage-bezwaar"
    return url_for("exam_moments.my_exams") + f"#examen-{instance_id}"


def _page(instance_id: int, refusal: ExamflowError | None = None):
    form = exam_requests.request_form(instance_id, current_user.user_id, uow())
    values = request.form if refusal else {}
    errors = refusal.errors if isinstance(refusal, ValidationFailed) else {}
    page = render_template("exam_requests/page.html", rf=form, refusal=refusal, values=values, errors=errors,
                           back=BACK.get(request.form.get("terug", ""), "mijn-examens"))
    return page, refusal.status if refusal else 200


@bp.get("/examens/<int:instance_id>/inzage-bezwaar")
@login_required
def form(instance_id: int):
    return _page(instance_id)


@bp.post("/examens/<int:instance_id>/inzage-bezwaar")
@login_required
def lodge(instance_id: int):
    try:
        exam_requests.lodge_request(
            instance_id, current_user.user_id, form_input.text("soort"), request.form.get("reden", ""),
            form_input.optional_text("resultaat"), form_input.checked("bevestiging"), uow())
    except (ValidationFailed, Conflict) as exc:
        return _page(instance_id, refusal=exc)
    kind = "Je verzoek om inzage" if request.form.get("soort") == "inzage" else "Je bezwaar"
    flash(f"{kind} is verstuurd naar de examencommissie. Je ziet het besluit hier en krijgt een taak "
          "'Besluit inzien' zodra de examencommissie heeft besloten.", "info")
    return redirect(_back(instance_id), code=303)
