"""Read-side queries for the pages of exams at exam moments: a school's exam bank with its versions
and moments (R35, R44), a moment's enrolments with their accommodations (R37), the surveillant's
moments and proces-verbaal (R36) and the mandate (R33). Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processes import policy
from processes.db import UnitOfWork
from processes.deadlines import overseen_schools
from processes.enrolment import ACCOMMODATIONS, moment_or_404
from processes.errors import Conflict, Forbidden, NotFound
from processes.models import (
    ROLES,
    Enrolment,
    Exam,
    ExamMoment,
    ExamRegistration,
    ExamVersion,
    Mandate,
    ProcesVerbaal,
    RoleMembership,
    School,
    Student,
    User,
)
from processes.registration_context import active_mandate

# Who keeps a school's exam bank; establishing a version is the committee's alone (R35).
BANK_ROLES = ("examenbureau", "examencommissie")


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    number: str | None = None


@dataclass(frozen=True)
class SchoolChoice:
    id: int
    name: str
    roles: frozenset[str]


@dataclass(frozen=True)
class Cancellation:
    """A cancelled moment: when, by whom, why."""

    at: datetime
    by: str | None
    reason: str


@dataclass(frozen=True)
class MomentRow:
    id: int
    starts_at: datetime
    location: str
    capacity: int
    enrolled: int
    enrol_from: datetime
    enrol_until: datetime | None
    has_proces_verbaal: bool
    cancellation: Cancellation | None = None

    @property
    def free(self) -> int:
        return self.capacity - self.enrolled


@dataclass(frozen=True)
class VersionRow:
    id: int
    version: int
    established: bool
    in_bank: bool
    cesuur: int | None
    moments: list[MomentRow]


@dataclass(frozen=True)
class ExamRow:
    id: int
    code: str
    title: str
    crebo: str
    cohort: str | None
    max_attempts: int
    teacher: str | None
    assessor: str | None
    enrolment_variant: str | None
    assessment_variant: str | None
    registrations: int
    versions: list[VersionRow]


@dataclass(frozen=True)
class ExamBank:
    school: SchoolChoice
    schools: list[SchoolChoice]
    exams: list[ExamRow]
    teachers: list[Person]
    assessors: list[Person]
    students: list[Person]
    surveillants: list[Person]


@dataclass(frozen=True)
class EnrolledStudent:
    enrolment_id: int
    name: str
    number: str
    attempt: int
    status: str
    accommodations: list[str]


@dataclass(frozen=True)
class MomentView:
    id: int
    school_id: int
    exam: str
    version: int
    cesuur: int | None
    starts_at: datetime
    location: str
    capacity: int
    enrolled: int
    surveillant: str | None
    students: list[EnrolledStudent]
    proces_verbaal_id: int | None
    cancellation: Cancellation | None = None
    # The roles the viewer holds at the moment's school (the page offers cancelling to the examenbureau).
    viewer_roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Attendance:
    enrolment_id: int
    name: str
    number: str
    present: bool


@dataclass(frozen=True)
class ProcesVerbaalView:
    id: int
    moment: MomentView
    surveillant: str
    recorded_at: datetime
    version: int
    cesuur: int | None
    attendance: list[Attendance]
    incidents: str


@dataclass(frozen=True)
class MandateView:
    school_id: int
    school: str
    active: bool
    granted_by: str | None
    granted_at: datetime | None
    note: str
    may_change: bool


def _names(s: Session, ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    return dict(s.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}


def _cancellation(m: ExamMoment, names: dict[int, str]) -> Cancellation | None:
    if m.cancelled_at is None:
        return None
    return Cancellation(m.cancelled_at, names.get(m.cancelled_by_id), m.cancel_reason or "")


def roles_anywhere(user_id: int, uow: UnitOfWork) -> frozenset[str]:
    """Every role the user holds at any school (for the menu)."""
    with uow:
        return frozenset(uow.session.scalars(select(RoleMembership.role).where(RoleMembership.user_id == user_id)))


# --------------------------------------------------------------------------- the exam bank


def _bank_schools(s: Session, user_id: int) -> list[SchoolChoice]:
    held = overseen_schools(s, user_id, roles=BANK_ROLES)
    names = dict(s.execute(select(School.id, School.name).where(School.id.in_(list(held)))).all())
    return sorted((SchoolChoice(i, names[i], frozenset(r)) for i, r in held.items()), key=lambda c: c.name)


def _people(s: Session, school_id: int, role: str) -> list[Person]:
    rows = s.execute(select(User.id, User.name).join(RoleMembership, RoleMembership.user_id == User.id)
                     .where(RoleMembership.school_id == school_id, RoleMembership.role == role,
                            User.active.is_(True)).order_by(User.name)).all()
    return [Person(r.id, r.name) for r in rows]


def _moments(s: Session, version_ids: list[int]) -> dict[int, list[MomentRow]]:
    with_pv = set(s.scalars(select(ProcesVerbaal.moment_id).join(ExamMoment, ExamMoment.id == ProcesVerbaal.moment_id)
                            .where(ExamMoment.exam_version_id.in_(version_ids))))
    out: dict[int, list[MomentRow]] = {}
    moments = list(s.scalars(select(ExamMoment).where(ExamMoment.exam_version_id.in_(version_ids))
                             .order_by(ExamMoment.starts_at, ExamMoment.id)))
    names = _names(s, [m.cancelled_by_id for m in moments])
    for m in moments:
        out.setdefault(m.exam_version_id, []).append(MomentRow(
            m.id, m.starts_at, m.location, m.capacity, m.enrolled, m.enrol_from, m.enrol_until, m.id in with_pv,
            _cancellation(m, names)))
    return out


def exam_bank(school_id: int | None, user_id: int, uow: UnitOfWork) -> ExamBank:
    """The exams of a school with versions and planned moments, for its examenbureau and examencommissie.
    Without ``school_id``: the first school where the user holds one of those roles."""
    with uow:
        s = uow.session
        schools = _bank_schools(s, user_id)
        school = next((c for c in schools if c.id == school_id), None) if school_id else schools[0]
        if school is None:
            raise Forbidden("U heeft geen rol Examenbureau of Examencommissie op deze school.")
        exams = list(s.scalars(select(Exam).where(Exam.school_id == school.id).order_by(Exam.code)))
        versions = list(s.scalars(select(ExamVersion).where(ExamVersion.exam_id.in_([e.id for e in exams]))
                                  .order_by(ExamVersion.exam_id, ExamVersion.version)))
        moments = _moments(s, [v.id for v in versions])
        counts = dict(s.execute(select(ExamRegistration.exam_id, func.count(ExamRegistration.id))
                                .where(ExamRegistration.school_id == school.id)
                                .group_by(ExamRegistration.exam_id)).all())
        names = _names(s, [e.teacher_id for e in exams] + [e.assessor_id for e in exams])
        rows = [
            ExamRow(e.id, e.code, e.title, e.crebo, e.cohort, e.max_attempts, names.get(e.teacher_id),
                    names.get(e.assessor_id), e.enrolment_variant, e.assessment_variant, counts.get(e.id, 0),
                    [VersionRow(v.id, v.version, v.established, v.in_bank, v.cesuur, moments.get(v.id, []))
                     for v in versions if v.exam_id == e.id])
            for e in exams
        ]
        students = [Person(st.id, name, st.student_number) for st, name in s.execute(
            select(Student, User.name).join(User, User.id == Student.user_id)
            .where(Student.school_id == school.id, User.active.is_(True)).order_by(User.name)).tuples()]
        return ExamBank(school, schools, rows, _people(s, school.id, "roc_begeleider"),
                        _people(s, school.id, "roc_beoordelaar"), students, _people(s, school.id, "surveillant"))


# --------------------------------------------------------------------------- moments


def _moment_view(s: Session, moment: ExamMoment, viewer_roles: frozenset[str] = frozenset()) -> MomentView:
    version = s.get(ExamVersion, moment.exam_version_id)
    exam = s.get(Exam, version.exam_id)
    rows = s.execute(
        select(Enrolment, User.name, Student.student_number)
        .join(Student, Student.id == Enrolment.student_id).join(User, User.id == Student.user_id)
        .where(Enrolment.moment_id == moment.id,
               # A cancelled moment still shows who was on it (all afgemeld since), for the bureau's follow-up.
               *(() if moment.cancelled_at is not None else (Enrolment.status != "afgemeld",)))
        .order_by(User.name, Enrolment.id)
    ).tuples()
    students = [EnrolledStudent(e.id, name, number, e.attempt, e.status,
                                [ACCOMMODATIONS.get(a, a) for a in e.accommodations or []])
                for e, name, number in rows]
    pv_id = s.scalar(select(ProcesVerbaal.id).where(ProcesVerbaal.moment_id == moment.id))
    names = _names(s, [moment.surveillant_id, moment.cancelled_by_id])
    return MomentView(moment.id, moment.school_id, f"{exam.code} {exam.title}", version.version, version.cesuur,
                      moment.starts_at, moment.location, moment.capacity, moment.enrolled,
                      names.get(moment.surveillant_id), students, pv_id, _cancellation(moment, names), viewer_roles)


def _user(s: Session, user_id: int) -> User:
    user = s.get(User, user_id)
    if user is None or not user.active:
        raise Forbidden("Dit account is niet actief.")
    return user


def moment_enrolments(moment_id: int, user_id: int, uow: UnitOfWork) -> MomentView:
    """A moment with its enrolled students and their accommodations (R37), for the school's bank roles."""
    with uow:
        s = uow.session
        moment = moment_or_404(s, moment_id)
        user = _user(s, user_id)
        policy.require_role(s, user, moment.school_id, BANK_ROLES, "de inschrijvingen bekijken")
        roles = frozenset(r for r in BANK_ROLES if policy.holds_role(s, user.id, moment.school_id, r))
        return _moment_view(s, moment, roles)


def _may_record(s: Session, user_id: int, moment: ExamMoment) -> bool:
    """The surveillant of the moment; when it names none, any surveillant of its school (R36)."""
    if moment.surveillant_id is not None and moment.surveillant_id != user_id:
        return False
    return policy.holds_role(s, user_id, moment.school_id, "surveillant")


def surveillance_moments(user_id: int, uow: UnitOfWork, now: datetime) -> list[MomentView]:
    """The moments whose proces-verbaal this surveillant may record now: started, not cancelled, none
    recorded yet."""
    require_role_anywhere(user_id, "surveillant", uow, "Het proces-verbaal")
    with uow:
        s = uow.session
        _user(s, user_id)
        schools = select(RoleMembership.school_id).where(RoleMembership.user_id == user_id,
                                                         RoleMembership.role == "surveillant")
        moments = s.scalars(
            select(ExamMoment).where(ExamMoment.school_id.in_(schools), ExamMoment.starts_at <= now,
                                     ExamMoment.cancelled_at.is_(None),
                                     ~select(ProcesVerbaal.id).where(ProcesVerbaal.moment_id == ExamMoment.id)
                                     .exists())
            .order_by(ExamMoment.starts_at.desc(), ExamMoment.id)
        )
        return [_moment_view(s, m) for m in moments if _may_record(s, user_id, m)]


def moment_for_surveillant(moment_id: int, user_id: int, uow: UnitOfWork) -> MomentView:
    """The moment and its enrolled students, for the form of the proces-verbaal (R36)."""
    with uow:
        s = uow.session
        moment = moment_or_404(s, moment_id)
        _user(s, user_id)
        if not _may_record(s, user_id, moment):
            raise Forbidden("Alleen de surveillant van dit examenmoment legt het proces-verbaal vast.")
        if moment.cancelled_at is not None:
            raise Conflict("Dit examenmoment is geannuleerd: er is geen proces-verbaal.")
        return _moment_view(s, moment)


def proces_verbaal(moment_id: int, user_id: int, uow: UnitOfWork) -> ProcesVerbaalView:
    """The recorded proces-verbaal of a moment, read-only: for its surveillant and the school's bank roles."""
    with uow:
        s = uow.session
        moment = moment_or_404(s, moment_id)
        user = _user(s, user_id)
        pv = s.scalar(select(ProcesVerbaal).where(ProcesVerbaal.moment_id == moment.id))
        if pv is None:
            raise NotFound("Van dit examenmoment is nog geen proces-verbaal vastgelegd.")
        if pv.surveillant_id != user.id:
            policy.require_role(s, user, moment.school_id, BANK_ROLES, "dit proces-verbaal bekijken")
        view = _moment_view(s, moment)
        by_id = {st.enrolment_id: st for st in view.students}
        attendance = [Attendance(int(k), by_id[int(k)].name, by_id[int(k)].number, v == "aanwezig")
                      for k, v in pv.attendance.items() if int(k) in by_id]
        return ProcesVerbaalView(pv.id, view, _names(s, [pv.surveillant_id])[pv.surveillant_id], pv.recorded_at,
                                 pv.version_number, pv.cesuur, sorted(attendance, key=lambda a: a.name),
                                 pv.incidents)


# --------------------------------------------------------------------------- the mandate (R33)


def mandates(user_id: int, uow: UnitOfWork) -> list[MandateView]:
    """Per school where the user sits on the examencommissie or the examenbureau: whether the bureau
    holds a mandate to establish results, granted by whom and when."""
    with uow:
        s = uow.session
        out = []
        for school in _bank_schools(s, user_id):
            mandate: Mandate | None = active_mandate(s, school.id)
            granted_by = _names(s, [mandate.granted_by_id]).get(mandate.granted_by_id) if mandate else None
            out.append(MandateView(school.id, school.name, mandate is not None, granted_by,
                                   mandate.granted_at if mandate else None, mandate.note if mandate else "",
                                   "examencommissie" in school.roles))
        return out


def school_name(school_id: int, uow: UnitOfWork) -> str:
    with uow:
        school = uow.session.get(School, school_id)
        return school.name if school else ""


def require_role_anywhere(user_id: int, role: str, uow: UnitOfWork, page: str) -> None:
    """For pages of one role at whatever school (Mijn examens, the surveillant's list)."""
    if role not in roles_anywhere(user_id, uow):
        raise Forbidden(f"{page} is alleen voor de rol {ROLES[role]}.")
