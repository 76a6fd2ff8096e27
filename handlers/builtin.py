"""Handlers shipped with Examenflow: the service tasks of the PvB diagram."""

from __future__ import annotations

import logging
from datetime import date

from handlers import clock
from handlers.calendar import AMSTERDAM  # importing it registers the expression helpers
from handlers.registry import HandlerContext, StepRefused, service_handler

log = logging.getLogger(__name__)


def _exam(ctx: HandlerContext):
    if ctx.exam is None:
        raise RuntimeError(f"handler at {ctx.element_id} needs an exam")
    return ctx.exam


@service_handler("record_assignment_ready")
def record_assignment_ready(data: dict, ctx: HandlerContext) -> dict:
    """Marks the assignment as ready to be established."""
    return {"opdracht_gereed": True}


@service_handler("check_assessors")
def check_assessors(data: dict, ctx: HandlerContext) -> dict:
    """R8: a second assessor is required by the instructions; the school's agreement may allow one.

    Sets ``tweede_beoordelaar`` for the diagram's gateways.
    """
    exam = _exam(ctx)
    people = exam.participants()
    if "roc_beoordelaar" not in people:
        raise StepRefused("Leg een ROC-beoordelaar vast.", field="roc_beoordelaar")
    if "praktijkbeoordelaar" in people:
        return {"tweede_beoordelaar": True}
    if not ctx.settings.get("een_beoordelaar_toegestaan", False):
        raise StepRefused(
            "Een tweede beoordelaar (praktijkbeoordelaar) is verplicht op deze school.",
            field="praktijkbeoordelaar",
        )
    exam.warn(
        "een_beoordelaar",
        "Er is maar één beoordelaar vastgelegd. De instructie vraagt er twee; de school staat één toe (R8).",
    )
    return {"tweede_beoordelaar": False}


@service_handler("lock_assignment")
def lock_assignment(data: dict, ctx: HandlerContext) -> dict:
    """R14: after the three approvals the content of the assignment is locked. The gateway after it reads
    whether the assignment was established in the school's bank (R16: then step 3 is skipped)."""
    in_bank = bool(_exam(ctx).lock_assignment())
    return {"opdracht_vergrendeld": True, "opdracht_vastgesteld_in_bank": in_bank}


@service_handler("unlock_assignment")
def unlock_assignment(data: dict, ctx: HandlerContext) -> dict:
    """After a rejection in step 3 the assignment is reworked, then approved anew."""
    _exam(ctx).unlock_assignment()
    return {"opdracht_vergrendeld": False}


@service_handler("establish_assignment")
def establish_assignment(data: dict, ctx: HandlerContext) -> dict:
    """Step 3 done: the assignment is established (R15); from now on only the admin changes people (R7)."""
    _exam(ctx).establish_assignment()
    return {"opdracht_vastgesteld": True}


@service_handler("lock_evidence")
def lock_evidence(data: dict, ctx: HandlerContext) -> dict:
    """R23: once the evidence check finds it complete, the assessment starts and the evidence is locked."""
    _exam(ctx).lock_evidence()
    return {"bewijs_vergrendeld": True}


def _as_date(value) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


@service_handler("check_appointments")
def check_appointments(data: dict, ctx: HandlerContext) -> dict:
    """R21: appointments after the desired end date are allowed, with a warning."""
    end = _as_date(data.get("gewenste_einddatum"))
    late = []
    for key, label in (("uitvoeringsdatum", "uitvoering"), ("beoordelingsdatum", "beoordeling")):
        when = _as_date(data.get(key))
        if end and when and when > end:
            late.append(f"{label} op {when.strftime('%d-%m-%Y')}")
    if late:
        _exam(ctx).warn(
            "afspraak_na_einddatum",
            f"Afspraak na de gewenste einddatum ({end.strftime('%d-%m-%Y')}): {', '.join(late)} (R21).",
        )
    return {"afspraak_na_einddatum": bool(late)}


def _now_iso() -> str:
    """The clock's now as ISO 8601 with the Amsterdam offset (what the timers' expressions count from)."""
    return clock.now().astimezone(AMSTERDAM).isoformat()


@service_handler("record_execution_end")
def record_execution_end(data: dict, ctx: HandlerContext) -> dict:
    """Step 5 done: the end of execution, from which the 5 working days for the assessments run (R48)."""
    return {"uitvoering_einde": _now_iso()}


@service_handler("remind_assessors")
def remind_assessors(data: dict, ctx: HandlerContext) -> dict:
    """R48: the assessments were not recorded within 5 working days after the end of execution."""
    _exam(ctx).warn("beoordeling_te_laat", "De beoordeling is niet binnen 5 werkdagen vastgelegd (R48).")
    return {}


@service_handler("record_result")
def record_result(data: dict, ctx: HandlerContext) -> dict:
    """Step 10: the established result, computed by the server from the final assessment.

    ``resultaat_vastgesteld_op`` starts the 2 working days for delivering it (R48).
    """
    result = _exam(ctx).record_result()
    return {"uitslag": result["uitslag"], "resultaat_vastgesteld_op": _now_iso()}


@service_handler("start_follow_up")
def start_follow_up(data: dict, ctx: HandlerContext) -> dict:
    """R30: not passed — a new PvB linked to this one."""
    new_id = _exam(ctx).start_follow_up(str(data.get("vervolg_toelichting", "")))
    return {"vervolg_examen": new_id}


@service_handler("archive_exam")
def archive_exam(data: dict, ctx: HandlerContext) -> dict:
    """Step 11: the dossier is archived (kept, never deleted: R27)."""
    _exam(ctx).archive()
    return {"gearchiveerd": True}
