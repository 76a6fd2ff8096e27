"""Examens: a school's exam bank for its examenbureau and examencommissie — exams, versions, the
cut-off score, exam moments and registrations (R35, R40, R41, R44) — and the mandate (R33)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from handlers import clock
from processes import enrolment, exam_queries, moments, registrations
from processes.errors import BadRequest, Conflict, ExamflowError, ValidationFailed
from webapp import form_input, uow

bp = Blueprint("exam_bank", __name__, template_folder="templates")

# Refusals shown on the page itself, with the form kept; a 403 or 404 gets the error page.
SHOWN_ON_PAGE = (ValidationFailed, BadRequest, Conflict)
ENROLMENT_VARIANTS = {"handmatig": "Handmatig door het examenbureau", "zelf": "Zelf inschrijven door de student",
                      "automatisch": "Automatisch"}
ASSESSMENT_VARIANTS = {"1": "Variant 1: beoordelen in Examenflow", "2": "Variant 2: voorlopig tot de cesuur bekend is"}


@bp.app_context_processor
def _menu():
    def my_roles() -> frozenset[str]:
        """For the menu in base.html: asked once per request, and only when a template asks."""
        if "my_roles" not in g:
            g.my_roles = (exam_queries.roles_anywhere(current_user.user_id, uow())
                          if current_user.is_authenticated else frozenset())
        return g.my_roles

    return {"my_roles": my_roles}


def _school_arg(source) -> int | None:
    """Which school's bank to show again; an odd value shows the first one."""
    try:
        return int(source.get("school") or "")
    except ValueError:
        return None


def _page(school_id: int | None, refusal: ExamflowError | None = None):
    bank = exam_queries.exam_bank(school_id, current_user.user_id, uow())
    return render_template(
        "exam_bank/overview.html", bank=bank, refusal=refusal, values=request.form if refusal else {},
        enrolment_variants=ENROLMENT_VARIANTS, assessment_variants=ASSESSMENT_VARIANTS,
    ), refusal.status if refusal else 200


@bp.get("/examenbank")
@login_required
def overview():
    return _page(_school_arg(request.args))


def _act(action: Callable[[], str]):
    """Runs one use case from a posted form: a flash and back to the bank, or the page with the refusal."""
    school_id = _school_arg(request.form)
    try:
        message = action()
    except SHOWN_ON_PAGE as exc:
        return _page(school_id, refusal=exc)
    flash(message, "info")
    return redirect(url_for("exam_bank.overview", school=school_id), code=303)


@bp.post("/examenbank/examens")
@login_required
def create_exam():
    def action() -> str:
        school_id = form_input.integer("school", "School")
        code, title = form_input.text("code"), form_input.text("title")
        enrolment.create_exam(
            school_id, code, title, form_input.text("crebo"), current_user.user_id, uow(),
            max_attempts=form_input.integer("max_attempts", "Maximaal aantal pogingen"),
            cohort=form_input.optional_text("cohort"),
            teacher_id=form_input.integer("teacher_id", "Vakdocent", required=False),
            assessor_id=form_input.integer("assessor_id", "Beoordelaar", required=False),
            enrolment_variant=form_input.optional_text("enrolment_variant"),
            assessment_variant=form_input.optional_text("assessment_variant"),
        )
        return f"Examen {code} is toegevoegd aan de examenbank."

    return _act(action)


@bp.post("/examenbank/examens/<int:exam_id>/versies")
@login_required
def add_version(exam_id: int):
    def action() -> str:
        enrolment.add_version(exam_id, current_user.user_id, uow(), in_bank=form_input.checked("in_bank"),
                              cesuur=form_input.integer("cesuur", "Cesuur", required=False))
        return "De nieuwe examenversie is toegevoegd; de examencommissie stelt haar vast."

    return _act(action)


@bp.post("/examenbank/versies/<int:version_id>/vaststellen")
@login_required
def establish_version(version_id: int):
    def action() -> str:
        form_input.require_confirmation("de examenversie vast te stellen")
        enrolment.establish_version(version_id, current_user.user_id, uow())
        return "De examenversie is vastgesteld en kan worden ingepland."

    return _act(action)


@bp.post("/examenbank/versies/<int:version_id>/cesuur")
@login_required
def set_cesuur(version_id: int):
    def action() -> str:
        cesuur = form_input.integer("cesuur", "Cesuur")
        form_input.require_confirmation("de cesuur vast te leggen")
        moved = registrations.set_cesuur(version_id, cesuur, current_user.user_id, uow())
        return f"De cesuur is vastgelegd op {cesuur}; {moved} wachtende resultaten gaan verder."

    return _act(action)


@bp.post("/examenbank/versies/<int:version_id>/momenten")
@login_required
def plan_moment(version_id: int):
    def action() -> str:
        enrolment.plan_moment(
            version_id, form_input.local_datetime("starts_at", "Begint op"), form_input.text("location"),
            form_input.integer("capacity", "Capaciteit"),
            form_input.local_datetime("enrol_from", "Inschrijven vanaf"), current_user.user_id, uow(),
            enrol_until=form_input.local_datetime("enrol_until", "Inschrijven tot", required=False),
            ends_at=form_input.local_datetime("ends_at", "Eindigt op", required=False),
            surveillant_id=form_input.integer("surveillant_id", "Surveillant", required=False),
        )
        return "Het examenmoment is ingepland."

    return _act(action)


@bp.post("/examenbank/examens/<int:exam_id>/registraties")
@login_required
def register_student(exam_id: int):
    def action() -> str:
        student_id = form_input.integer("student_id", "Student")
        registrations.register_student(exam_id, student_id, current_user.user_id, uow())
        return "De student is geregistreerd; de vakdocent krijgt de taak om de Go te geven."

    return _act(action)


@bp.post("/examenbank/cohort")
@login_required
def register_cohort():
    def action() -> str:
        school_id = form_input.integer("school", "School")
        form_input.require_confirmation("de studenten te registreren")
        outcome = registrations.register_cohort(
            school_id, current_user.user_id, uow(), cohort=form_input.optional_text("cohort"),
            crebo=form_input.optional_text("crebo"), school_year=form_input.optional_text("school_year"),
        )
        return (f"{outcome.created} registraties aangemaakt, {outcome.already} stonden er al "
                f"({outcome.exams} examens, {outcome.students} studenten bekeken).")

    return _act(action)


def _moment_page(moment_id: int, refusal: ExamflowError | None = None):
    view = exam_queries.moment_enrolments(moment_id, current_user.user_id, uow())
    return render_template("exam_bank/moment.html", moment=view, refusal=refusal, now=clock.now(),
                           values=request.form if refusal else {}), refusal.status if refusal else 200


@bp.get("/examenbank/momenten/<int:moment_id>")
@login_required
def moment(moment_id: int):
    return _moment_page(moment_id)


@bp.post("/examenbank/momenten/<int:moment_id>/annuleren")
@login_required
def cancel_moment(moment_id: int):
    """The examenbureau cancels a moment before it starts; every enrolled student is unenrolled."""
    try:
        form_input.require_confirmation("het examenmoment te annuleren en de ingeschreven studenten af te melden")
        done = moments.cancel_moment(moment_id, current_user.user_id, form_input.text("reden"), uow(),
                                           now=clock.now())
    except SHOWN_ON_PAGE as exc:
        return _moment_page(moment_id, refusal=exc)
    students = "student is" if done.unenrolled == 1 else "studenten zijn"
    flash(f"Het examenmoment is geannuleerd; {done.unenrolled} {students} afgemeld en terug bij het kiezen van "
          "een examenmoment (dit kost geen poging).", "info")
    return redirect(url_for("exam_bank.moment", moment_id=moment_id), code=303)


# --------------------------------------------------------------------------- mandate (R33)


def _mandate_page(refusal: ExamflowError | None = None):
    rows = exam_queries.mandates(current_user.user_id, uow())
    return render_template("exam_bank/mandate.html", rows=rows, refusal=refusal), refusal.status if refusal else 200


@bp.get("/mandaat")
@login_required
def mandate():
    return _mandate_page()


def _mandate_act(action: Callable[[int], str]):
    try:
        message = action(form_input.integer("school", "School"))
    except SHOWN_ON_PAGE as exc:
        return _mandate_page(refusal=exc)
    flash(message, "info")
    return redirect(url_for("exam_bank.mandate"), code=303)


@bp.post("/mandaat/verlenen")
@login_required
def grant_mandate():
    def action(school_id: int) -> str:
        form_input.require_confirmation("het mandaat te verlenen")
        registrations.grant_mandate(school_id, current_user.user_id, form_input.text("note"), uow())
        return "Het examenbureau heeft nu mandaat om resultaten vast te stellen."

    return _mandate_act(action)


@bp.post("/mandaat/intrekken")
@login_required
def revoke_mandate():
    def action(school_id: int) -> str:
        form_input.require_confirmation("het mandaat in te trekken")
        registrations.revoke_mandate(school_id, current_user.user_id, uow())
        return "Het mandaat is ingetrokken; alleen de examencommissie stelt nu resultaten vast."

    return _mandate_act(action)
