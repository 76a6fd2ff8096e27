"""What becomes of an exam moment: cancelled before it starts (every enrolled student unenrolled, no
attempt used, R45), or held and recorded in its proces-verbaal (R36), which moves each student's
``aanmelden`` process on and sends the session report through the outbox (OKE flow 2).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from handlers import oke
from handlers.calendar import to_amsterdam
from processes import policy
from processes.db import UnitOfWork
from processes.enrolment import moment_or_404
from processes.errors import BadRequest, Conflict, Forbidden, ValidationFailed
from processes.models import (
    Enrolment,
    ExamMoment,
    ExamRegistration,
    ExamVersion,
    OutboxMessage,
    ProcesVerbaal,
    School,
    utcnow,
)
from processes.registrations import after_unenrolment, deliver, release_seat

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- cancelling a moment

CANCEL_REASON_MAX = 2000


class MomentAlreadyCancelled(Conflict):
    """The moment was cancelled before (by this request's twin or earlier): nothing is done twice."""


@dataclass(frozen=True)
class MomentCancellation:
    moment_id: int
    cancelled_at: datetime
    reason: str
    unenrolled: int


def cancel_moment(moment_id: int, actor_id: int, reason: str, uow: UnitOfWork,
                  now: datetime | None = None) -> MomentCancellation:
    """The examenbureau (or the planner's OKE client, its system account) cancels an exam moment before
    it starts: the moment takes no more enrolments, and every student still ingeschreven is unenrolled,
    his seat freed and his process sent back to enrolment, the reason in his audit trail. An
    unenrolment uses no attempt (R45). After the start it is refused: that is the proces-verbaal's."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise ValidationFailed({"reden": ["Geef een reden voor de annulering."]},
                               "Een reden is verplicht; er is niets geannuleerd.")
    if len(reason) > CANCEL_REASON_MAX or "\x00" in reason:
        raise ValidationFailed({"reden": [f"De reden is maximaal {CANCEL_REASON_MAX} tekens, zonder ongeldige "
                                          "tekens."]}, "Er is niets geannuleerd.")
    now = now or utcnow()
    with uow:
        s = uow.session
        moment = moment_or_404(s, moment_id)
        actor = policy.active_user(s, actor_id)
        role = policy.require_role(s, actor, moment.school_id, ("examenbureau",), "een examenmoment annuleren")
        if moment.cancelled_at is not None:
            raise MomentAlreadyCancelled(
                f"Dit examenmoment is al geannuleerd op {to_amsterdam(moment.cancelled_at):%d-%m-%Y %H:%M}.")
        if now >= moment.starts_at:
            raise Conflict(f"Het examenmoment is al begonnen ({to_amsterdam(moment.starts_at):%d-%m-%Y %H:%M}): "
                           "annuleren kan niet meer. Leg in het proces-verbaal vast wat er is gebeurd.")
        # Once, also under concurrency: the conditional UPDATE decides who cancels (as a seat, decision D11).
        marked = s.execute(
            update(ExamMoment).where(ExamMoment.id == moment.id, ExamMoment.cancelled_at.is_(None))
            .values(cancelled_at=now, cancelled_by_id=actor.id, cancel_reason=reason)
            .execution_options(synchronize_session=False)
        ).rowcount
        if marked != 1:
            raise MomentAlreadyCancelled("Dit examenmoment is intussen al geannuleerd.")
        enrolled = list(s.scalars(select(Enrolment).where(Enrolment.moment_id == moment.id,
                                                          Enrolment.status == "ingeschreven")
                                  .order_by(Enrolment.id)))
        when = to_amsterdam(moment.starts_at)
        why = f"het examenmoment van {when:%d-%m-%Y %H:%M} is geannuleerd: {reason}"
        unenrolled = 0
        for enrolment in enrolled:
            if not release_seat(s, enrolment):
                continue  # changed meanwhile (unenrolled by himself): nothing left to free
            after_unenrolment(s, enrolment, actor, role, now, why,
                              {"moment_cancelled": moment.id, "reason": reason})
            unenrolled += 1
        uow.commit()
    log.info("moment %s cancelled by user %s (%s) at %s, %s students unenrolled: %s", moment_id, actor_id, role,
             now.isoformat(), unenrolled, reason)
    return MomentCancellation(moment_id, now, reason, unenrolled)


# --------------------------------------------------------------------------- proces-verbaal (R36)


def record_proces_verbaal(moment_id: int, actor_id: int, attendance: dict, incidents: str, uow: UnitOfWork,
                          now: datetime | None = None) -> int:
    """The surveillant records who was there and what happened (R36). Every enrolled student's
    process moves on: present to the assessment, absent to the resit decision. Returns its id."""
    if not isinstance(attendance, dict):
        raise ValidationFailed({"aanwezigheid": ["Geef per ingeschreven student aanwezig of afwezig op."]})
    if not isinstance(incidents, str) or len(incidents) > 20_000:
        raise ValidationFailed({"bijzonderheden": ["Maximaal 20.000 tekens."]})
    now = now or utcnow()
    with uow:
        s = uow.session
        moment = moment_or_404(s, moment_id)
        actor = policy.active_user(s, actor_id)
        if moment.surveillant_id is not None and moment.surveillant_id != actor.id:
            raise Forbidden("Alleen de surveillant van dit examenmoment legt het proces-verbaal vast.")
        policy.require_role(s, actor, moment.school_id, ("surveillant",), "een proces-verbaal vastleggen")
        if moment.cancelled_at is not None:
            raise Conflict("Dit examenmoment is geannuleerd: er is geen proces-verbaal.")
        if s.scalar(select(ProcesVerbaal.id).where(ProcesVerbaal.moment_id == moment.id)) is not None:
            raise Conflict("Het proces-verbaal van dit examenmoment is al vastgelegd.")
        if now < moment.starts_at:
            raise BadRequest(f"Het examenmoment begint pas op {to_amsterdam(moment.starts_at):%d-%m-%Y %H:%M}.")
        enrolled = list(s.scalars(select(Enrolment).where(Enrolment.moment_id == moment.id,
                                                          Enrolment.status == "ingeschreven")
                                  .order_by(Enrolment.id)))
        present = _check_attendance(attendance, {e.id for e in enrolled})
        version = s.get(ExamVersion, moment.exam_version_id)
        pv = ProcesVerbaal(moment_id=moment.id, school_id=moment.school_id, surveillant_id=actor.id,
                           recorded_at=now, exam_version_id=version.id, version_number=version.version,
                           cesuur=version.cesuur, assessment_model=version.assessment_model,
                           attendance={str(e.id): "aanwezig" if present[e.id] else "afwezig" for e in enrolled},
                           incidents=incidents.strip())
        s.add(pv)
        s.flush()
        begin = to_amsterdam(moment.starts_at).isoformat()
        for e in enrolled:
            e.status = "afgerond" if present[e.id] else "afwezig"
            s.flush()
            instance_id = s.scalar(select(ExamRegistration.instance_id).where(
                ExamRegistration.id == e.registration_id)) if e.registration_id else None
            if instance_id is None:
                continue
            word = "aanwezig" if present[e.id] else "afwezig"
            deliver(s, instance_id, "afname_vastgelegd",
                    {"aanwezig": present[e.id], "begin": begin, "moment": moment.id, "inschrijving": e.id},
                    now, actor, "surveillant", f"Proces-verbaal vastgelegd: {word}",
                    details={"proces_verbaal": pv.id, "moment": moment.id, "aanwezig": present[e.id]})
        pv.outbox_message_id = _queue_session_report(s, moment, pv, now)
        s.flush()
        uow.commit()
        log.info("proces-verbaal %s of moment %s recorded by user %s", pv.id, moment.id, actor.id)
        return pv.id


def _queue_session_report(s: Session, moment: ExamMoment, pv: ProcesVerbaal, now: datetime) -> int:
    """OKE flow 4.1 through the outbox (design 13): the sitting's report with its incidents and the
    attendance count; attendance per student has no field there (handlers.oke.build_offering_report)."""
    school = s.get(School, moment.school_id)
    offering_id = moment.external_id or oke.offering_id_for(school.code, moment.id)
    present = sum(1 for v in pv.attendance.values() if v == "aanwezig")
    text = (pv.incidents or "Geen bijzonderheden.") + f" Aanwezig: {present}, afwezig: {len(pv.attendance) - present}."
    path, body = oke.build_offering_report(offering_id, irregularities=text)
    oke.validate_offering_patch(body, offering_id)
    message = OutboxMessage(school_id=moment.school_id, instance_id=None, kind="session_report", method="PATCH",
                            path=path, body=body, idempotency_key=f"proces-verbaal-{pv.id}", status="pending",
                            attempts=0, next_attempt_at=now, created_at=now)
    s.add(message)
    s.flush()
    return message.id


def _check_attendance(attendance: dict, enrolled: set[int]) -> dict[int, bool]:
    present: dict[int, bool] = {}
    errors = []
    for key, value in attendance.items():
        try:
            enrolment_id = int(key)
        except (TypeError, ValueError):
            errors.append(f"'{key}' is geen inschrijving van dit examenmoment.")
            continue
        if enrolment_id not in enrolled:
            errors.append(f"Inschrijving {enrolment_id} hoort niet bij dit examenmoment.")
        elif value not in (True, False, "aanwezig", "afwezig"):
            errors.append(f"Inschrijving {enrolment_id}: kies aanwezig of afwezig.")
        else:
            present[enrolment_id] = value in (True, "aanwezig")
    missing = sorted(enrolled - set(present))
    if missing:
        errors.append("Geef voor iedere ingeschreven student aanwezig of afwezig op (ontbreekt: inschrijving "
                      + ", ".join(map(str, missing)) + ").")
    if errors:
        raise ValidationFailed({"aanwezigheid": errors})
    return present
