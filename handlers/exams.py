"""Handlers of the diagrams for exams at exam moments: aanmelden, herkansing, beoordelen_v1/v2.

Thin on purpose: each one asks the exam's services (``ctx.exam``, implemented in
``processes/registrations.py``) to do the work inside the step's transaction and returns the data the
diagram's gateways and timers read. A service that refuses raises ``StepRefused`` (a 4xx).
"""

from __future__ import annotations

from handlers import clock
from handlers.calendar import AMSTERDAM
from handlers.registry import HandlerContext, service_handler

# The boolean fields of the enrolment forms that are accommodations (R37), by their codes.
ACCOMMODATION_FIELDS = ("extra_tijd", "voorleessoftware", "spellingcontrole", "vergroot_lettertype", "aparte_ruimte")


def _exam(ctx: HandlerContext):
    if ctx.exam is None:
        raise RuntimeError(f"handler at {ctx.element_id} needs an exam")
    return ctx.exam


def _now_iso() -> str:
    return clock.now().astimezone(AMSTERDAM).isoformat()


@service_handler("record_go")
def record_go(data: dict, ctx: HandlerContext) -> dict:
    """R42: the vakdocent's Go, recorded for the student and exam."""
    _exam(ctx).record_go()
    return {"go_gegeven_op": _now_iso()}


@service_handler("prepare_enrolment")
def prepare_enrolment(data: dict, ctx: HandlerContext) -> dict:
    """R43, R50: the exam's (or school's) enrolment and assessment variants, and when self-enrolment
    closes; also clears what a previous attempt left in the data."""
    plan = _exam(ctx).enrolment_plan()
    return {**plan, "ingeschreven_op": None, "inschrijving": None, "behaald": None, "herkansen": None}


@service_handler("enrol")
def enrol(data: dict, ctx: HandlerContext) -> dict:
    """Enrols the student at the moment chosen in the form, with the accommodations ticked (R37, R44)."""
    chosen = [code for code in ACCOMMODATION_FIELDS if data.get(code) is True]
    enrolment_id, moment_id = _exam(ctx).enrol(data.get("moment"), chosen)
    return {"inschrijving": enrolment_id, "ingeschreven_op": moment_id}


@service_handler("enrol_automatically")
def enrol_automatically(data: dict, ctx: HandlerContext) -> dict:
    """R43 automatic: the first planned moment with a free seat whose period is open, if any."""
    enrolment_id, moment_id = _exam(ctx).enrol_automatically()
    return {"inschrijving": enrolment_id, "ingeschreven_op": moment_id}


@service_handler("judge_absence")
def judge_absence(data: dict, ctx: HandlerContext) -> dict:
    """R45: an excused absence does not use an attempt."""
    excused = data.get("besluit") == "verschoond"
    _exam(ctx).judge_absence(excused, data.get("toelichting", ""))
    return {"afwezigheid_verschoond": excused}


@service_handler("count_attempts")
def count_attempts(data: dict, ctx: HandlerContext) -> dict:
    """R45: whether an attempt is left; ``herkansen`` is what the enrolment diagram loops on."""
    used, allowed = _exam(ctx).attempts()
    return {"pogingen_gebruikt": used, "pogingen_toegestaan": allowed, "herkansen": used < allowed,
            "aanvraag": None}


@service_handler("grant_extra_attempt")
def grant_extra_attempt(data: dict, ctx: HandlerContext) -> dict:
    """R45: the examencommissie's decision on an extra attempt."""
    granted = data.get("besluit") == "toegestaan"
    _exam(ctx).decide_extra_attempt(granted, data.get("toelichting", ""))
    return {"herkansen": granted}


@service_handler("record_exam_result")
def record_exam_result(data: dict, ctx: HandlerContext) -> dict:
    """R38, R40: the provisional result, linked to the version, its model and cut-off score.
    ``beoordeeld_op`` starts the 2 working days for the exchange (R48)."""
    passed = _exam(ctx).record_exam_result(int(data["score"]), data.get("toelichting", ""))
    return {"behaald": passed, "beoordeeld_op": _now_iso()}


@service_handler("send_exam_result")
def send_exam_result(data: dict, ctx: HandlerContext) -> dict:
    """Flow 3 through the outbox with final=false: the provisional result (R46, R50)."""
    return {"voorlopig_bericht": _exam(ctx).send_exam_result(final=False)}


@service_handler("publish_provisional")
def publish_provisional(data: dict, ctx: HandlerContext) -> dict:
    """R49, R50: the student sees his provisional result from here on."""
    _exam(ctx).publish_provisional()
    return {"voorlopig_zichtbaar": True}


@service_handler("check_cesuur")
def check_cesuur(data: dict, ctx: HandlerContext) -> dict:
    """R38 variant 2: establishing waits for the cut-off score; once known, pass or fail follows."""
    passed = _exam(ctx).apply_cesuur()
    return {"cesuur_bekend": passed is not None, "behaald": passed}


@service_handler("check_mandate")
def check_mandate(data: dict, ctx: HandlerContext) -> dict:
    """R33: the examenbureau establishes when the examencommissie recorded a mandate for it."""
    return {"mandaat_examenbureau": _exam(ctx).mandate_active()}


@service_handler("establish_exam_result")
def establish_exam_result(data: dict, ctx: HandlerContext) -> dict:
    """R38: the result becomes definitive and goes to the SIS as flow 3 with final=true."""
    passed = _exam(ctx).establish_exam_result()
    return {"behaald": passed, "resultaat_vastgesteld_op": _now_iso()}


@service_handler("close_registration")
def close_registration(data: dict, ctx: HandlerContext) -> dict:
    """The exam leaves the student's list of open exams: passed, or no attempt left (R41, R45)."""
    _exam(ctx).close_registration(data.get("behaald") is True)
    return {}


@service_handler("decide_exam_version")
def decide_exam_version(data: dict, ctx: HandlerContext) -> dict:
    """R35: the examencommissie's approval of a version outside the exam bank establishes it."""
    approved = data.get("besluit") == "goedgekeurd"
    _exam(ctx).decide_version(int(data["examenversie"]), approved, data.get("toelichting", ""))
    return {"versie_goedgekeurd": approved}
