"""Use cases on exams at exam moments: the exam bank, planning, the Go and enrolment (R35, R37, R41–R45).

The enrolment diagram (``bpmn/aanmelden.bpmn``, ``processes/registrations.py``) calls ``take_seat``
inside its steps; ``enrol_student`` is the same for an enrolment from outside a process (the API,
OKE flow 2). A seat is taken with one conditional UPDATE (decision D11), so capacity holds under
concurrency on SQLite and PostgreSQL alike without locks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handlers.calendar import to_amsterdam
from processes import policy
from processes.db import UnitOfWork
from processes.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from processes.models import (
    ROLES,
    Enrolment,
    Exam,
    ExamGo,
    ExamMoment,
    ExamRegistration,
    ExamVersion,
    Student,
    utcnow,
)

log = logging.getLogger(__name__)

# R37: the accommodations that travel with an enrolment, code → Dutch label.
ACCOMMODATIONS: dict[str, str] = {
    "extra_tijd": "Extra tijd",
    "voorleessoftware": "Voorleessoftware",
    "spellingcontrole": "Spellingcontrole",
    "vergroot_lettertype": "Vergroot lettertype",
    "aparte_ruimte": "Aparte ruimte",
}
# R45: these statuses use an attempt; absence counts unless the committee excuses it.
ATTEMPT_STATUSES = ("ingeschreven", "afwezig", "afgerond")


def moment_or_404(s, moment_id: int) -> ExamMoment:
    """The exam moment, or a 404 that says so."""
    moment = s.get(ExamMoment, moment_id)
    if moment is None:
        raise NotFound("Onbekend examenmoment.")
    return moment


ENROLMENT_VARIANTS = ("handmatig", "zelf", "automatisch")
ASSESSMENT_VARIANTS = ("1", "2")


def create_exam(school_id: int, code: str, title: str, crebo: str, actor_id: int, uow: UnitOfWork,
                max_attempts: int = 2, *, cohort: str | None = None, teacher_id: int | None = None,
                assessor_id: int | None = None, enrolment_variant: str | None = None,
                assessment_variant: str | None = None) -> int:
    """Adds an exam to the school's exam bank (examenbureau or examencommissie), with the vakdocent who
    gives the Go, its assessor and, if it differs from the school's, its own variants (R43, R50)."""
    errors = {k: ["Dit veld is verplicht."] for k, v in (("code", code), ("title", title)) if not v.strip()}
    if max_attempts < 1:
        errors["max_attempts"] = ["Minstens één poging."]
    if enrolment_variant is not None and enrolment_variant not in ENROLMENT_VARIANTS:
        errors["enrolment_variant"] = [f"Kies uit: {', '.join(ENROLMENT_VARIANTS)}."]
    if assessment_variant is not None and str(assessment_variant) not in ASSESSMENT_VARIANTS:
        errors["assessment_variant"] = ["Kies variant 1 of 2."]
    if errors:
        raise ValidationFailed(errors)
    with uow:
        s = uow.session
        policy.require_role(s, policy.active_user(s, actor_id), school_id, ("examenbureau", "examencommissie"),
                            "een examen aanmaken")
        if s.scalar(select(Exam.id).where(Exam.school_id == school_id, Exam.code == code)) is not None:
            raise BadRequest(f"Er bestaat al een examen met code '{code}' op deze school.")
        for field_name, user_id, role in (("teacher_id", teacher_id, "roc_begeleider"),
                                          ("assessor_id", assessor_id, "roc_beoordelaar")):
            if user_id is not None and not policy.holds_role(s, user_id, school_id, role):
                raise ValidationFailed({field_name: [f"Deze persoon heeft de rol {ROLES[role]} niet op deze school."]})
        exam = Exam(school_id=school_id, code=code, title=title, crebo=crebo, max_attempts=max_attempts,
                    cohort=cohort, teacher_id=teacher_id, assessor_id=assessor_id,
                    enrolment_variant=enrolment_variant,
                    assessment_variant=str(assessment_variant) if assessment_variant is not None else None)
        s.add(exam)
        uow.commit()
        return exam.id


def add_version(exam_id: int, actor_id: int, uow: UnitOfWork, in_bank: bool = True, cesuur: int | None = None,
                assessment_model: dict | None = None) -> int:
    """Adds a new, not yet established version of an exam (R35, R40). Returns its id. A version outside
    the exam bank starts the committee's approval task (``bpmn/versie_goedkeuren.bpmn``)."""
    if cesuur is not None and (isinstance(cesuur, bool) or not isinstance(cesuur, int) or not 0 <= cesuur <= 1000):
        raise ValidationFailed({"cesuur": ["Een geheel getal van 0 tot en met 1000."]})
    with uow:
        s = uow.session
        exam = s.get(Exam, exam_id)
        if exam is None:
            raise NotFound("Onbekend examen.")
        actor = policy.active_user(s, actor_id)
        role = policy.require_role(s, actor, exam.school_id, ("examenbureau", "examencommissie"),
                                   "een examenversie toevoegen")
        last = s.scalar(select(func.max(ExamVersion.version)).where(ExamVersion.exam_id == exam_id))
        v = ExamVersion(exam_id=exam_id, version=(last or 0) + 1, established=False, in_bank=in_bank,
                        cesuur=cesuur, assessment_model=assessment_model)
        s.add(v)
        s.flush()
        if not in_bank:
            # R35: the committee's approval, as a task in its inbox (imported here: it runs the engine).
            from processes.registrations import start_version_approval

            start_version_approval(s, v, exam, actor, role, utcnow())
        uow.commit()
        return v.id


def establish_version(version_id: int, actor_id: int, uow: UnitOfWork) -> None:
    """The examencommissie establishes a version; for one outside the exam bank this is its approval (R35)."""
    with uow:
        s = uow.session
        v = s.get(ExamVersion, version_id)
        if v is None:
            raise NotFound("Onbekende examenversie.")
        exam = s.get(Exam, v.exam_id)
        policy.require_role(s, policy.active_user(s, actor_id), exam.school_id, ("examencommissie",),
                            "een examenversie vaststellen")
        if v.established:
            raise Conflict("Deze examenversie is al vastgesteld.")
        if not v.in_bank:
            raise Conflict("Deze versie staat niet in de examenbank: de examencommissie keurt haar goed met de "
                           "taak 'Examenversie goedkeuren' (R35).")
        v.established = True
        log.info("exam version %s of exam %s established by user %s", v.id, exam.id, actor_id)
        uow.commit()


def plan_moment(version_id: int, starts_at: datetime, location: str, capacity: int, enrol_from: datetime,
                actor_id: int, uow: UnitOfWork, enrol_until: datetime | None = None, *,
                ends_at: datetime | None = None, surveillant_id: int | None = None) -> int:
    """The examenbureau plans an exam moment (R44) for an established version only (R35); with a
    surveillant, only he records its proces-verbaal (R36)."""
    errors: dict[str, list[str]] = {}
    if ends_at is not None and ends_at <= starts_at:
        errors["ends_at"] = ["Het examenmoment eindigt vóór het begint."]
    if capacity < 1:
        errors["capacity"] = ["De capaciteit is minstens 1."]
    if not location.strip():
        errors["location"] = ["Vul een locatie in."]
    if enrol_until is not None and enrol_until < enrol_from:
        errors["enrol_until"] = ["De inschrijfperiode eindigt vóór zij begint."]
    if enrol_from > starts_at or (enrol_until is not None and enrol_until > starts_at):
        errors.setdefault("enrol_from", []).append("De inschrijfperiode ligt na het examenmoment.")
    if errors:
        raise ValidationFailed(errors)
    with uow:
        s = uow.session
        v = s.get(ExamVersion, version_id)
        if v is None:
            raise NotFound("Onbekende examenversie.")
        exam = s.get(Exam, v.exam_id)
        actor = policy.active_user(s, actor_id)
        policy.require_role(s, actor, exam.school_id, ("examenbureau",), "een examenmoment plannen")
        if not v.established:
            raise BadRequest(f"Versie {v.version} van {exam.code} is niet vastgesteld: alleen vastgestelde "
                             "examenversies worden ingepland (R35).")
        if surveillant_id is not None and not policy.holds_role(s, surveillant_id, exam.school_id, "surveillant"):
            raise ValidationFailed({"surveillant_id": ["Deze persoon is geen surveillant op deze school."]})
        m = ExamMoment(exam_version_id=v.id, school_id=exam.school_id, starts_at=starts_at, location=location,
                       capacity=capacity, enrolled=0, enrol_from=enrol_from, enrol_until=enrol_until,
                       ends_at=ends_at, surveillant_id=surveillant_id)
        s.add(m)
        uow.commit()
        return m.id


def give_go(exam_id: int, student_id: int, actor_id: int, uow: UnitOfWork) -> int:
    """The ROC-begeleider gives a student the Go for an exam (R42). Returns the Go's id."""
    with uow:
        s = uow.session
        exam = s.get(Exam, exam_id)
        if exam is None:
            raise NotFound("Onbekend examen.")
        student = s.get(Student, student_id)
        if student is None or student.school_id != exam.school_id:
            raise NotFound("Onbekende student op deze school.")
        policy.require_role(s, policy.active_user(s, actor_id), exam.school_id, ("roc_begeleider",), "een Go geven")
        if s.scalar(select(ExamGo.id).where(ExamGo.exam_id == exam_id, ExamGo.student_id == student_id)):
            raise Conflict(f"Deze student heeft al een Go voor {exam.code}.")
        go = ExamGo(exam_id=exam_id, student_id=student_id, given_by_id=actor_id, given_at=utcnow())
        s.add(go)
        try:
            s.flush()
        except IntegrityError:
            raise Conflict(f"Deze student heeft al een Go voor {exam.code}.") from None
        log.info("go for exam %s given to student %s by user %s", exam_id, student_id, actor_id)
        uow.commit()
        return go.id


def _check_accommodations(accommodations: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(accommodations))
    unknown = [a for a in chosen if a not in ACCOMMODATIONS]
    if unknown:
        raise ValidationFailed({"accommodations": [
            f"Onbekende faciliteit '{a}'. Bekend: {', '.join(ACCOMMODATIONS)}." for a in unknown]})
    return chosen


def enrol_student(moment_id: int, student_id: int, actor_id: int, uow: UnitOfWork,
                  accommodations: Iterable[str] = (), now: datetime | None = None,
                  external_id: str | None = None) -> int:
    """Enrols a student at an exam moment with his accommodations (R37). Returns the enrolment's id.

    The student himself or the examenbureau of the school may. Refused, with nothing changed, without
    a Go (R42), outside the enrolment period (R43), when the moment is full (R44), when no attempts
    are left (R45), for a version that is not established (R35) and when he is already enrolled.
    """
    chosen = _check_accommodations(accommodations)
    now = now or utcnow()
    with uow:
        s = uow.session
        moment = moment_or_404(s, moment_id)
        student = s.get(Student, student_id)
        if student is None or student.school_id != moment.school_id:
            raise NotFound("Onbekende student op de school van dit examenmoment.")
        actor = policy.active_user(s, actor_id)
        is_self = actor.id == student.user_id and policy.holds_role(s, actor.id, moment.school_id, "student")
        if not is_self:
            policy.require_role(s, actor, moment.school_id, ("examenbureau",), "deze student inschrijven")
        enrolment = take_seat(s, moment, student, chosen, now, external_id=external_id, by_student=is_self)
        if enrolment.registration_id is not None:
            # The student's enrolment process may be waiting for exactly this: let it move on.
            from processes.registrations import enrolled_outside_the_task

            enrolled_outside_the_task(s, enrolment, actor, "student" if is_self else "examenbureau", now)
        uow.commit()
        log.info("student %s enrolled at moment %s (exam %s, attempt %s, accommodations %s) by user %s",
                 student.id, moment.id, enrolment.exam_id, enrolment.attempt, chosen, actor.id)
        return enrolment.id


def attempts_used(s: Session, exam_id: int, student_id: int) -> int:
    """R45: enrolments that used an attempt; an absence the committee excused does not count."""
    return s.scalar(
        select(func.count(Enrolment.id)).where(
            Enrolment.exam_id == exam_id, Enrolment.student_id == student_id,
            Enrolment.status.in_(ATTEMPT_STATUSES), Enrolment.excused.is_(False),
        )
    ) or 0


def attempts_allowed(s: Session, exam: Exam, student_id: int) -> int:
    """The exam's maximum plus the extra attempts the examencommissie granted this student (R45)."""
    extra = s.scalar(select(ExamRegistration.extra_attempts).where(
        ExamRegistration.exam_id == exam.id, ExamRegistration.student_id == student_id)) or 0
    return exam.max_attempts + extra


def take_seat(s: Session, moment: ExamMoment, student: Student, accommodations: list[str], now: datetime,
              external_id: str | None = None, by_student: bool = True) -> Enrolment:
    """The checks and writes of one enrolment, in the caller's transaction (R35, R42–R45).

    The enrolment period binds self-enrolment (and automatic enrolment, ``by_student``); the
    examenbureau may enrol until the moment starts (R43).

    The Go row is locked first: enrolments of one student for one exam wait for each other, so two
    at different moments cannot both take his last attempt. The seat is one conditional UPDATE.
    """
    version = s.get(ExamVersion, moment.exam_version_id)
    exam = s.get(Exam, version.exam_id)
    if moment.cancelled_at is not None:
        raise Conflict(f"Dit examenmoment is geannuleerd ({moment.cancel_reason}); inschrijven kan niet. "
                       "Kies een ander examenmoment.")
    if not version.established:
        raise BadRequest(f"Versie {version.version} van {exam.code} is niet vastgesteld: inschrijven kan "
                         "alleen voor een vastgestelde examenversie (R35).")
    go_locked = s.execute(
        update(ExamGo).where(ExamGo.exam_id == exam.id, ExamGo.student_id == student.id)
        .values(given_at=ExamGo.given_at).execution_options(synchronize_session=False)
    ).rowcount
    if go_locked != 1:
        raise Forbidden(f"Inschrijven voor {exam.code} kan pas na de Go van de ROC-begeleider (R42).")
    until = (moment.enrol_until or moment.starts_at) if by_student else moment.starts_at
    if by_student and now < moment.enrol_from:
        raise BadRequest(f"De inschrijving voor dit examenmoment opent op "
                         f"{to_amsterdam(moment.enrol_from):%d-%m-%Y %H:%M} (R43).")
    if now > until:
        raise BadRequest(f"De inschrijving voor dit examenmoment is gesloten sinds "
                         f"{to_amsterdam(until):%d-%m-%Y %H:%M} (R43).")
    here = s.scalar(select(Enrolment).where(Enrolment.moment_id == moment.id, Enrolment.student_id == student.id))
    if here is not None and here.status != "afgemeld":
        raise Conflict("Deze student is al ingeschreven voor dit examenmoment.")
    used = attempts_used(s, exam.id, student.id)
    allowed = attempts_allowed(s, exam, student.id)
    if used >= allowed:
        raise Forbidden(f"Geen pogingen meer voor {exam.code}: {used} van {allowed} gebruikt "
                        "(afwezigheid telt als poging); een extra poging vraagt toestemming (R45).")
    open_elsewhere = s.scalar(select(Enrolment.id).where(
        Enrolment.exam_id == exam.id, Enrolment.student_id == student.id, Enrolment.status == "ingeschreven"))
    if open_elsewhere is not None:
        raise Conflict(f"Deze student staat al ingeschreven voor een ander moment van {exam.code}.")
    # The seat: one conditional UPDATE, atomic on both databases; 0 rows means full (R44) or, when a
    # cancellation committed while this request waited for the row, cancelled.
    taken = s.execute(
        update(ExamMoment)
        .where(ExamMoment.id == moment.id, ExamMoment.enrolled < ExamMoment.capacity,
               ExamMoment.cancelled_at.is_(None))
        .values(enrolled=ExamMoment.enrolled + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        s.refresh(moment)
        if moment.cancelled_at is not None:
            raise Conflict(f"Dit examenmoment is geannuleerd ({moment.cancel_reason}); inschrijven kan niet. "
                           "Kies een ander examenmoment.")
        raise Conflict(f"Dit examenmoment is vol: alle {moment.capacity} plaatsen zijn bezet (R44).")
    previous = s.scalar(select(Enrolment.id).where(Enrolment.exam_id == exam.id,
                                                  Enrolment.student_id == student.id)
                        .order_by(Enrolment.id.desc()).limit(1))
    registration_id = s.scalar(select(ExamRegistration.id).where(
        ExamRegistration.exam_id == exam.id, ExamRegistration.student_id == student.id))
    if here is not None:
        # Back at a moment he had unenrolled from: the same row (one per student and moment) is his again.
        here.status, here.accommodations, here.attempt, here.created_at = "ingeschreven", accommodations, used + 1, now
        here.registration_id = registration_id
        here.external_id = external_id or here.external_id
        s.flush()
        return here
    enrolment = Enrolment(moment_id=moment.id, student_id=student.id, exam_id=exam.id, attempt=used + 1,
                          status="ingeschreven", accommodations=accommodations, previous_id=previous,
                          created_at=now, external_id=external_id, registration_id=registration_id)
    s.add(enrolment)
    try:
        with s.begin_nested():
            s.flush()
    except IntegrityError:
        # The same student, enrolled at the same moment by a concurrent request: the caller rolls back.
        raise Conflict("Deze student is al ingeschreven voor dit examenmoment.") from None
    return enrolment


def open_moments(s: Session, exam_id: int, now: datetime, *, only_open_period: bool) -> list[ExamMoment]:
    """The planned moments of an exam's established versions that have not started and are not
    cancelled, earliest first; with ``only_open_period`` only those whose enrolment period is open now."""
    q = (select(ExamMoment).join(ExamVersion, ExamVersion.id == ExamMoment.exam_version_id)
         .where(ExamVersion.exam_id == exam_id, ExamVersion.established.is_(True), ExamMoment.starts_at > now,
                ExamMoment.cancelled_at.is_(None))
         .order_by(ExamMoment.starts_at, ExamMoment.id))
    moments = list(s.scalars(q))
    if only_open_period:
        moments = [m for m in moments if m.enrol_from <= now <= (m.enrol_until or m.starts_at)]
    return moments


def moment_choices(s: Session, instance_id: int, for_student: bool, now: datetime) -> list[dict]:
    """The moments a moment field of a registration's form may name (the exam's planned moments)."""
    exam_id = s.scalar(select(ExamRegistration.exam_id).where(ExamRegistration.instance_id == instance_id))
    if exam_id is None:
        return []
    return [{"value": m.id, "label": moment_label(m)}
            for m in open_moments(s, exam_id, now, only_open_period=for_student)]


def moment_label(m: ExamMoment) -> str:
    free = m.capacity - m.enrolled
    return (f"{to_amsterdam(m.starts_at):%d-%m-%Y %H:%M}, {m.location} "
            f"({free} van {m.capacity} plaatsen vrij)")


def cancelled_moment_of(s: Session, registration_id: int) -> str | None:
    """When the student's last enrolment for this exam was undone because its moment was cancelled: the
    moment with when and why (for "Mijn examens" and his task to choose again), else None."""
    last = s.execute(
        select(Enrolment.status, ExamMoment).join(ExamMoment, ExamMoment.id == Enrolment.moment_id)
        .where(Enrolment.registration_id == registration_id).order_by(Enrolment.id.desc()).limit(1)).first()
    if last is None or last[0] != "afgemeld" or last[1].cancelled_at is None:
        return None
    m = last[1]
    return (f"{to_amsterdam(m.starts_at):%d-%m-%Y %H:%M}, {m.location}: geannuleerd op "
            f"{to_amsterdam(m.cancelled_at):%d-%m-%Y %H:%M} ({m.cancel_reason})")
