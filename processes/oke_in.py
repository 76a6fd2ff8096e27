"""OKE flow 2 coming in: the school's planner or SIS sends sittings and enrolments (issue 5, point 7).

``PUT /offerings/{offeringId}`` creates or updates an exam moment (``ExamMoment.external_id`` is the
offeringId, unique per school); ``PUT /associations/{associationId}`` creates an enrolment through
:func:`processes.enrolment.enrol_student` (so the Go, the enrolment period, capacity, attempts and the
version check hold: R35, R42–R45) or updates it (accommodations, or cancelled: ``afgemeld`` with its
seat freed). A message that does not validate against the OKE specification changes nothing.

The mapping, OKE → Examenflow:

- offering ``startDateTime``/``endDateTime`` → ``starts_at``/``ends_at``; the ``nl-test-admin`` entry's
  ``locationCode`` (else ``room.primaryCode.code``) → ``location``; ``maxNumberStudents`` (else
  ``room.totalSeats``, else :data:`DEFAULT_CAPACITY`) → ``capacity``; ``enrollStartDate``/
  ``enrollEndDate`` (school dates) → the enrolment period, which otherwise runs from the first PUT to
  the start; the exam is ``Exam.code`` at the client's school named by ``component.primaryCode.code``
  (an embedded component), an ``otherCodes`` entry of codeType ``componentCode``, or the ``component``
  id itself, in that order, and the moment gets its newest established version (R35); the entry's
  ``offeringState`` ``canceled`` (PUT, or PATCH as flow 2.5 sends it) cancels the moment through
  :func:`processes.moments.cancel_moment`, with ``irregularities`` as the reason if given.
- association ``person.primaryCode`` (or an ``otherCodes`` entry) of codeType ``studentNumber`` →
  the school's student; ``offering`` → the moment; ``state`` ``associated`` → enrolled, ``canceled``
  or ``denied`` → ``afgemeld``; the ``nl-test-admin`` entry's ``personalNeeds`` (see
  :data:`PERSONAL_NEEDS`, or Examenflow's own accommodation codes) and ``additionalTimeInMin`` > 0
  (or ``extraTimeInMin``, as the spec's examples spell it) → ``accommodations`` (R37); ``extra_tijd``
  for extra time, whose minutes are not kept.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handlers import oke
from handlers.calendar import to_amsterdam
from processes import moments, policy, registrations
from processes.db import UnitOfWork
from processes.enrolment import ACCOMMODATIONS, enrol_student
from processes.errors import BadRequest, Conflict, Forbidden, NotFound
from processes.models import (
    Enrolment,
    Exam,
    ExamMoment,
    ExamRegistration,
    ExamVersion,
    ProcessInstance,
    Student,
    User,
    utcnow,
)
from processes.oke_clients import SYSTEM_ROLE, OkeActor

log = logging.getLogger(__name__)

# Without maxNumberStudents or a room's seats: a classroom; the planner changes it with the next PUT.
DEFAULT_CAPACITY = 30
NO_LOCATION = "Nog niet bekend"
LOCATION_MAX = 200
# OKE's personalNeeds (IMS AfA PNP terms, flow2.md's examples) → R37's accommodation codes.
PERSONAL_NEEDS: dict[str, str] = {
    "extraTime": "extra_tijd",
    "spoken": "voorleessoftware",
    "spell-checker-on-screen": "spellingcontrole",
    "magnification": "vergroot_lettertype",
}
# Extra time in minutes: the consumer schema's field, and the spelling of the spec's own examples.
EXTRA_TIME_FIELDS = ("additionalTimeInMin", "extraTimeInMin")
ASSOCIATED = "associated"
CANCELLED_STATES = ("canceled", "denied")
# An offering's nl-test-admin offeringState that cancels the sitting (flow 2.5), and the reason it gets
# when the message gives none.
CANCELED = "canceled"
CANCEL_REASON = "Geannuleerd door de planning (OKE)"


class OkeRefused(BadRequest):
    """A flow-2 message refused before anything changed; ``errors`` lists the findings."""

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = errors or []


def _checked(validate, body: Any, path_id: str) -> dict:
    try:
        validate(body, path_id)
    except oke.OkeMessageInvalid as exc:
        raise OkeRefused(f"Het bericht voldoet niet aan de OKE-specificatie ({exc.what}).", exc.errors) from None
    return body


def _instant(text: str) -> datetime:
    # The spec's date-time format has been checked: RFC 3339 with an offset.
    return datetime.fromisoformat(text)


def _day_start(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(0), tzinfo=oke.SCHOOL_TZ)


def _system_user(s: Session, actor: OkeActor, what: str) -> User:
    user = s.get(User, actor.user_id)
    if user is None or not user.active:
        raise Forbidden("Dit account is niet actief.")
    policy.require_role(s, user, actor.school_id, (SYSTEM_ROLE,), what)
    return user


# ----------------------------------------------------------------------------- offerings


def put_offering(actor: OkeActor, offering_id: str, body: Any, uow: UnitOfWork,
                 now: datetime | None = None) -> tuple[bool, dict]:
    """Flow 2.1: creates or updates the moment of ``offering_id`` at the client's school.

    Returns ``(created, the offering as GET shows it)``. Refused, with nothing changed, when the body
    does not validate, names an unknown exam or one without an established version (R35), would put the
    capacity below the seats taken (R44), or changes a cancelled sitting. ``offeringState`` ``canceled``
    cancels the sitting (:func:`cancel_offering`); its other attributes are then ignored (flow 2.5).
    """
    body = _checked(oke.validate_offering_put, body, offering_id)
    entry = oke.consumer_entry(body)
    if entry.get("offeringState") == CANCELED:
        return False, cancel_offering(actor, offering_id, entry, uow, now)
    starts_at, ends_at = _instant(body["startDateTime"]), _instant(body["endDateTime"])
    if ends_at <= starts_at:
        raise OkeRefused("endDateTime ligt niet na startDateTime.")
    location = _location(body, entry)
    capacity = _capacity(body)
    now = now or utcnow()
    with uow:
        s = uow.session
        _system_user(s, actor, "een examenmoment plannen")
        moment = s.scalar(select(ExamMoment).where(ExamMoment.school_id == actor.school_id,
                                                   ExamMoment.external_id == offering_id))
        exam = _named_exam(s, actor.school_id, body)
        created = moment is None
        if not created and moment.cancelled_at is not None:
            raise Conflict("Deze zitting is geannuleerd en wordt niet opnieuw actief; plan een nieuwe zitting met "
                           "een nieuwe offeringId.")
        if created:
            moment = _new_moment(s, actor, offering_id, exam, starts_at, capacity or DEFAULT_CAPACITY, now)
        else:
            _keep_exam(s, moment, exam)
            if capacity is not None:
                _set_capacity(s, moment, capacity)
        moment.starts_at, moment.ends_at, moment.location = starts_at, ends_at, location
        moment.enrol_from, moment.enrol_until = _enrolment_period(body, moment.enrol_from, starts_at)
        try:
            s.flush()
        except IntegrityError:
            raise Conflict("Deze zitting werd tegelijk door een ander verzoek aangemaakt; stuur opnieuw.") from None
        view = _offering_view(s, moment, actor.school_code)
        uow.commit()
    log.info("OKE client %s (user %s) %s moment %s (offering %s): %s, %s, capacity %s", actor.client_id,
             actor.user_id, "created" if created else "updated", moment.id, offering_id, starts_at.isoformat(),
             location, moment.capacity)
    return created, view


def patch_offering(actor: OkeActor, offering_id: str, body: Any, uow: UnitOfWork,
                   now: datetime | None = None) -> dict:
    """Flow 2.5: ``offeringState`` ``canceled`` cancels the sitting. Other changes come with PUT (flow 2.1);
    a PATCH that asks for anything else is refused, with nothing changed."""
    body = _checked(oke.validate_offering_patch, body, offering_id)
    entry = oke.consumer_entry(body)
    if entry.get("offeringState") != CANCELED:
        raise OkeRefused("Een PATCH op een zitting verwerkt alleen het annuleren (nl-test-admin offeringState "
                         "canceled, flow 2.5); stuur andere wijzigingen met PUT.")
    return cancel_offering(actor, offering_id, entry, uow, now)


def cancel_offering(actor: OkeActor, offering_id: str, entry: dict, uow: UnitOfWork,
                    now: datetime | None = None) -> dict:
    """Cancels the sitting through :func:`processes.moments.cancel_moment`, as the client's system
    account. The reason is the entry's ``irregularities`` when it has one (the spec has no field for a
    reason; decision D23), else :data:`CANCEL_REASON`. A sitting already cancelled answers as it stands:
    a message sent again changes nothing."""
    reason = entry.get("irregularities")
    reason = reason.strip() if isinstance(reason, str) and reason.strip() else CANCEL_REASON
    with uow:
        s = uow.session
        _system_user(s, actor, "een examenmoment annuleren")
        moment_id = s.scalar(select(ExamMoment.id).where(ExamMoment.school_id == actor.school_id,
                                                         ExamMoment.external_id == offering_id))
        if moment_id is None:
            raise NotFound("Onbekende zitting (offeringId) op deze school: annuleren kan alleen een bestaande "
                           "zitting.")
    try:
        done = moments.cancel_moment(moment_id, actor.user_id, reason, uow, now=now)
    except moments.MomentAlreadyCancelled:
        log.info("OKE client %s (user %s): offering %s was already cancelled", actor.client_id, actor.user_id,
                 offering_id)
    else:
        log.info("OKE client %s (user %s) cancelled moment %s (offering %s): %s students unenrolled", actor.client_id,
                 actor.user_id, moment_id, offering_id, done.unenrolled)
    return get_offering(actor, offering_id, uow)


def get_offering(actor: OkeActor, offering_id: str, uow: UnitOfWork) -> dict:
    """Flow 2.6: the current state of a sitting of the client's school."""
    with uow:
        s = uow.session
        moment = s.scalar(select(ExamMoment).where(ExamMoment.school_id == actor.school_id,
                                                   ExamMoment.external_id == offering_id))
        if moment is None:
            raise NotFound("Onbekende zitting (offeringId) op deze school.")
        return _offering_view(s, moment, actor.school_code)


def _location(body: dict, entry: dict) -> str:
    room = body.get("room") or {}
    location = (entry.get("locationCode") or (room.get("primaryCode") or {}).get("code") or "").strip()
    if len(location) > LOCATION_MAX or "\x00" in location:
        raise OkeRefused(f"locationCode is langer dan {LOCATION_MAX} tekens of bevat ongeldige tekens.")
    return location or NO_LOCATION


def _capacity(body: dict) -> int | None:
    seats = body.get("maxNumberStudents", (body.get("room") or {}).get("totalSeats"))
    if seats is None:
        return None
    if seats != int(seats) or seats < 1:
        raise OkeRefused(f"maxNumberStudents {seats} is geen geheel getal van minstens 1 (R44).")
    return int(seats)


def _exam_codes(body: dict) -> list[str]:
    component = body.get("component")
    codes = []
    if isinstance(component, dict):
        codes.append(component["primaryCode"]["code"])
    codes += [c["code"] for c in body.get("otherCodes") or () if c.get("codeType") == "componentCode"]
    if isinstance(component, str):
        codes.append(component)
    return codes


def _named_exam(s: Session, school_id: int, body: dict) -> Exam | None:
    codes = _exam_codes(body)
    if not codes:
        return None
    exams = {e.code: e for e in s.scalars(select(Exam).where(Exam.school_id == school_id, Exam.code.in_(codes)))}
    for code in codes:
        if code in exams:
            return exams[code]
    raise OkeRefused(f"Onbekend examen: geen examen met code {' of '.join(codes)} op deze school.")


def _new_moment(s: Session, actor: OkeActor, offering_id: str, exam: Exam | None, starts_at: datetime,
                capacity: int, now: datetime) -> ExamMoment:
    if exam is None:
        raise OkeRefused("Het bericht noemt geen examen: stuur component (met primaryCode) of otherCodes met "
                         "codeType componentCode.")
    version = s.scalar(select(ExamVersion).where(ExamVersion.exam_id == exam.id, ExamVersion.established)
                       .order_by(ExamVersion.version.desc()).limit(1))
    if version is None:
        newest = s.scalar(select(func.max(ExamVersion.version)).where(ExamVersion.exam_id == exam.id))
        which = f"Versie {newest} van {exam.code} is" if newest else f"{exam.code} heeft geen versie die"
        raise OkeRefused(f"{which} niet vastgesteld: alleen vastgestelde examenversies worden ingepland (R35).")
    moment = ExamMoment(exam_version_id=version.id, school_id=actor.school_id, starts_at=starts_at,
                        location=NO_LOCATION, capacity=capacity, enrolled=0, enrol_from=min(now, starts_at),
                        external_id=offering_id)
    s.add(moment)
    return moment


def _keep_exam(s: Session, moment: ExamMoment, exam: Exam | None) -> None:
    current = s.get(Exam, s.get(ExamVersion, moment.exam_version_id).exam_id)
    if exam is not None and exam.id != current.id:
        raise Conflict(f"Deze zitting is voor {current.code}; een zitting wisselt niet van examen.")


def _set_capacity(s: Session, moment: ExamMoment, capacity: int) -> None:
    # Never below the seats taken: one conditional UPDATE, like taking a seat (decision D11).
    changed = s.execute(
        update(ExamMoment).where(ExamMoment.id == moment.id, ExamMoment.enrolled <= capacity)
        .values(capacity=capacity).execution_options(synchronize_session=False)
    ).rowcount
    s.refresh(moment)
    if changed != 1:
        raise Conflict(f"De capaciteit kan niet onder de {moment.enrolled} bezette plaatsen (R44).")


def _enrolment_period(body: dict, enrol_from: datetime, starts_at: datetime) -> tuple[datetime, datetime | None]:
    if body.get("enrollStartDate"):
        enrol_from = _day_start(body["enrollStartDate"])
    enrol_until = None
    if body.get("enrollEndDate"):
        enrol_until = min(_day_start(body["enrollEndDate"]) + timedelta(days=1), starts_at)
        if enrol_until < enrol_from:
            raise OkeRefused("De inschrijfperiode eindigt (enrollEndDate) vóór zij begint.")
    return min(enrol_from, starts_at), enrol_until


def _offering_view(s: Session, moment: ExamMoment, school_code: str) -> dict:
    version = s.get(ExamVersion, moment.exam_version_id)
    exam = s.get(Exam, version.exam_id)
    starts = to_amsterdam(moment.starts_at)
    return {
        "offeringId": moment.external_id or oke.offering_id_for(school_code, moment.id),
        "primaryCode": {"codeType": "offeringCode", "code": f"{exam.code}-{moment.id}"},
        "offeringType": "component",
        "name": [{"language": "nl-NL", "value": f"{exam.title} {starts:%d-%m-%Y %H:%M}"}],
        "description": [{"language": "nl-NL", "value": f"{exam.code} {exam.title}, versie {version.version}"}],
        "teachingLanguage": "nld",
        "resultExpected": True,
        "maxNumberStudents": moment.capacity,
        "enrolledNumberStudents": moment.enrolled,
        "otherCodes": [{"codeType": "componentCode", "code": exam.code}],
        "consumers": [{"consumerKey": oke.CONSUMER_KEY,
                       "offeringState": CANCELED if moment.cancelled_at is not None else "active",
                       "locationCode": moment.location}],
        "startDateTime": starts.isoformat(),
        "endDateTime": to_amsterdam(moment.ends_at or moment.starts_at).isoformat(),
    }


# ----------------------------------------------------------------------------- associations


def put_association(actor: OkeActor, association_id: str, body: Any, uow: UnitOfWork,
                    now: datetime | None = None) -> tuple[bool, dict]:
    """Flow 2.2.B/2.3: enrols the student of an association at its sitting, or updates the enrolment.

    Returns ``(created, the association as GET shows it)``. A new one goes through
    :func:`processes.enrolment.enrol_student` and is refused as that refuses (R35, R42–R45); a second
    PUT sets the accommodations, or with state ``canceled``/``denied`` unenrols (``afgemeld``, seat freed).
    """
    body = _checked(oke.validate_association_put, body, association_id)
    if body["role"] != "student":
        raise OkeRefused(f"Alleen deelnames met role 'student' worden verwerkt, niet '{body['role']}'.")
    if body["state"] != ASSOCIATED and body["state"] not in CANCELLED_STATES:
        raise OkeRefused(f"state '{body['state']}' wordt niet verwerkt; gebruik associated of canceled.")
    accommodations = accommodations_from(oke.consumer_entry(body))
    offering_id = _offering_id(body)
    with uow:
        s = uow.session
        existing = s.scalar(select(Enrolment).where(Enrolment.external_id == association_id))
        if existing is not None:
            return False, _update_enrolment(s, uow, actor, existing, body, offering_id, accommodations)
        if body["state"] != ASSOCIATED:
            raise NotFound("Onbekende deelname: afmelden kan alleen een bestaande deelname.")
        moment = s.scalar(select(ExamMoment).where(ExamMoment.school_id == actor.school_id,
                                                   ExamMoment.external_id == offering_id))
        if moment is None:
            raise OkeRefused(f"Onbekende zitting {offering_id}: stuur eerst PUT /offerings/{offering_id}.")
        moment_id, student_id = moment.id, _student_id(s, actor.school_id, body)
    enrolment_id = enrol_student(moment_id, student_id, actor.user_id, uow, accommodations=accommodations,
                                 now=now, external_id=association_id)
    log.info("OKE client %s (user %s) enrolled student %s at moment %s: enrolment %s (association %s)",
             actor.client_id, actor.user_id, student_id, moment_id, enrolment_id, association_id)
    return True, get_association(actor, association_id, uow)


def get_association(actor: OkeActor, association_id: str, uow: UnitOfWork) -> dict:
    """Flow 2.6: the current state of an enrolment at a sitting of the client's school."""
    with uow:
        s = uow.session
        row = s.execute(select(Enrolment, ExamMoment).join(ExamMoment, ExamMoment.id == Enrolment.moment_id)
                        .where(Enrolment.external_id == association_id,
                               ExamMoment.school_id == actor.school_id)).one_or_none()
        if row is None:
            raise NotFound("Onbekende deelname (associationId) op deze school.")
        return _association_view(row[0], row[1], actor.school_code)


def accommodations_from(entry: dict) -> list[str]:
    """R37's accommodation codes from an association's ``nl-test-admin`` entry; an unknown need is refused
    (a need dropped unseen would cost the student his accommodation)."""
    minutes = [entry[key] for key in EXTRA_TIME_FIELDS if key in entry]
    if any(isinstance(m, bool) or not isinstance(m, int) for m in minutes):
        raise OkeRefused(f"{' en '.join(EXTRA_TIME_FIELDS)} zijn gehele getallen (minuten).")
    chosen = ["extra_tijd"] if any(m > 0 for m in minutes) else []
    unknown = []
    for need in entry.get("personalNeeds") or ():
        code = PERSONAL_NEEDS.get(need, need)
        if code in ACCOMMODATIONS:
            chosen.append(code)
        else:
            unknown.append(need)
    if unknown:
        known = ", ".join([*PERSONAL_NEEDS, *ACCOMMODATIONS])
        raise OkeRefused(f"Onbekende personalNeeds: {', '.join(unknown)}. Bekend: {known}.")
    return list(dict.fromkeys(chosen))


def _offering_id(body: dict) -> str:
    offering = body.get("offering")
    offering_id = offering.get("offeringId") if isinstance(offering, dict) else offering
    if not offering_id:
        raise OkeRefused("Het bericht noemt geen zitting (offering).")
    return offering_id


def _student_number(body: dict) -> str | None:
    person = body.get("person")
    if not isinstance(person, dict):
        return None
    codes = [person.get("primaryCode") or {}, *(person.get("otherCodes") or ())]
    return next((c["code"] for c in codes if c.get("codeType") == "studentNumber"), None)


def _student_id(s: Session, school_id: int, body: dict) -> int:
    number = _student_number(body)
    if number is None:
        raise OkeRefused("Het bericht noemt geen studentnummer: stuur person met primaryCode (of otherCodes) van "
                         "codeType studentNumber.")
    student_id = s.scalar(select(Student.id).where(Student.school_id == school_id, Student.student_number == number))
    if student_id is None:
        raise OkeRefused(f"Onbekende student: geen student met studentnummer {number} op deze school.")
    return student_id


def _update_enrolment(s: Session, uow: UnitOfWork, actor: OkeActor, enrolment: Enrolment, body: dict,
                      offering_id: str, accommodations: list[str]) -> dict:
    moment = s.get(ExamMoment, enrolment.moment_id)
    if moment.school_id != actor.school_id:
        raise Conflict("Deze associationId is al in gebruik.")
    user = _system_user(s, actor, "deze deelname wijzigen")
    if moment.external_id != offering_id:
        raise OkeRefused("Een deelname verhuist niet naar een andere zitting: meld haar af en stuur een nieuwe "
                         "associationId.")
    number = _student_number(body)
    if number is not None and s.get(Student, enrolment.student_id).student_number != number:
        raise OkeRefused("Deze deelname hoort bij een andere student.")
    if body["state"] in CANCELLED_STATES:
        _cancel(s, user, actor, enrolment)
    elif enrolment.status == "afgemeld":
        raise Conflict("Deze deelname is afgemeld en kan niet opnieuw worden aangemeld.")
    elif enrolment.accommodations != accommodations:
        before = enrolment.accommodations
        enrolment.accommodations = accommodations
        _record(s, user, actor, enrolment, "enrolment_accommodations_changed",
                f"Faciliteiten gewijzigd via OKE: {', '.join(accommodations) or 'geen'}",
                {"before": before, "after": accommodations})
    s.flush()
    view = _association_view(enrolment, moment, actor.school_code)
    uow.commit()
    return view


def _cancel(s: Session, user: User, actor: OkeActor, enrolment: Enrolment) -> None:
    if enrolment.status == "afgemeld":
        return
    # Only an enrolment still ingeschreven is unenrolled, once: the conditional UPDATE decides.
    if not registrations.release_seat(s, enrolment):
        s.refresh(enrolment)
        raise Conflict(f"Deze deelname is al {enrolment.status}; afmelden kan niet meer.")
    details = {"oke_client": actor.client_id, "enrolment_id": enrolment.id, "association_id": enrolment.external_id}
    if not registrations.after_unenrolment(s, enrolment, user, SYSTEM_ROLE, utcnow(), "via OKE", details):
        log.info("OKE client %s (user %s): enrolment_cancelled, enrolment %s", actor.client_id, user.id, enrolment.id)


def _record(s: Session, user: User, actor: OkeActor, enrolment: Enrolment, action: str, summary: str,
            data: dict) -> None:
    """In the exam's audit trail when the enrolment belongs to a registration with a process, else logged."""
    instance = None
    if enrolment.registration_id is not None:
        instance = s.scalar(select(ProcessInstance)
                            .join(ExamRegistration, ExamRegistration.instance_id == ProcessInstance.id)
                            .where(ExamRegistration.id == enrolment.registration_id))
    details = {"oke_client": actor.client_id, "enrolment_id": enrolment.id, "association_id": enrolment.external_id,
               **data}
    if instance is None:
        log.info("OKE client %s (user %s): %s, enrolment %s: %s", actor.client_id, user.id, action, enrolment.id,
                 data)
        return
    registrations.audit_outside_step(s, instance, user, SYSTEM_ROLE, action, summary, details, utcnow())


def _association_view(enrolment: Enrolment, moment: ExamMoment, school_code: str) -> dict:
    needs = {code: need for need, code in PERSONAL_NEEDS.items()}
    return {
        "associationId": enrolment.external_id,
        "associationType": oke.ASSOCIATION_TYPE,
        "role": "student",
        "state": "canceled" if enrolment.status == "afgemeld" else ASSOCIATED,
        "offering": moment.external_id or oke.offering_id_for(school_code, moment.id),
        "consumers": [{"consumerKey": oke.CONSUMER_KEY, "attempt": enrolment.attempt,
                       "personalNeeds": [needs.get(code, code) for code in enrolment.accommodations]}],
    }
