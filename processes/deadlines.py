"""Termijnen (R48) for the exam committee, the exam bureau and beheerder: the deadlines that are
overdue or nearly so, on screen and as an Excel workbook. Incidents and the exchange log are in
``processes.oversight``; who may see an overview at all is decided here (``overseen_schools``).

Read-side use cases over the ``deadline`` index table; none of them loads engine state. The overview
reads ``deadline`` through its index (school_id, closed_at, due_at), so its cost follows the open
windows that are due, not the number of exams.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from handlers.calendar import AMSTERDAM, SchoolCalendar
from processes import policy
from processes.db import UnitOfWork
from processes.errors import BadRequest, Forbidden
from processes.models import (
    ROLES,
    SCHOOL_WIDE_ROLES,
    Deadline,
    Participant,
    ProcessInstance,
    RoleMembership,
    School,
    Student,
    User,
)

ASSESSOR_ROLES = ("praktijkbeoordelaar", "roc_beoordelaar")
KIND_LABELS = {
    "beoordeling": "Beoordeling (5 werkdagen)",
    "uitwisseling": "Uitwisseling naar studentinformatiesysteem (2 werkdagen)",
}
OVERDUE = "te laat"
SOON = "bijna"


@dataclass(frozen=True)
class DeadlineRow:
    """One open deadline window (termijn) that is overdue or nearly so."""

    deadline_id: int
    instance_id: int
    school: str
    exam: str
    student_name: str | None
    student_number: str | None
    crebo: str | None
    kind: str
    due_at: datetime
    status: str  # OVERDUE ("te laat") or SOON ("bijna")
    # Working days past due_at in the school's calendar; zero or negative: that many are left.
    working_days_overdue: int
    assessors: tuple[str, ...]

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def working_days_left(self) -> int:
        return -self.working_days_overdue


def overseen_schools(s: Session, user_id: int, roles=SCHOOL_WIDE_ROLES) -> dict[int, set[str]]:
    """The schools where the (active) user holds one of ``roles``, with those roles; else Forbidden.
    Shared by every oversight page (``processes.oversight`` too), so all of them admit the same people."""
    user = s.get(User, user_id)
    schools: dict[int, set[str]] = {}
    if user is not None and user.active:
        for school_id, role in policy.school_wide_memberships(s, user_id):
            if role in roles:
                schools.setdefault(school_id, set()).add(role)
    if not schools:
        names = " of ".join(ROLES[r] for r in sorted(roles))
        raise Forbidden(f"Dit overzicht is alleen voor de rol {names}.")
    return schools


def _calendars(s: Session, school_ids) -> dict[int, SchoolCalendar]:
    rows = s.execute(select(School.id, School.settings).where(School.id.in_(school_ids))).all()
    return {r.id: SchoolCalendar.from_settings(r.settings or {}) for r in rows}


def _soon_horizon(calendar: SchoolCalendar, now: datetime, soon_days: int) -> datetime:
    """The end (in Amsterdam) of the ``soon_days``-th working day from now: due before it is "bijna"."""
    last = calendar.add_working_days(now, soon_days).date()
    return datetime.combine(last + timedelta(days=1), time(0), AMSTERDAM)


def list_deadlines(
    user_id: int,
    uow: UnitOfWork,
    now: datetime,
    *,
    crebo: str | None = None,
    assessor_id: int | None = None,
    soon_days: int = 2,
) -> list[DeadlineRow]:
    """Termijnen (R48): the open deadlines at the user's schools that are overdue or due within
    ``soon_days`` working days, most overdue first. For examencommissie, examenbureau and beheerder."""
    if soon_days < 0:
        raise BadRequest("Het aantal werkdagen vooruit kan niet negatief zijn.")
    with uow:
        s = uow.session
        schools = overseen_schools(s, user_id)
        calendars = _calendars(s, schools)
        # One branch per school, each the prefix of ix_deadline_school_open plus a range on due_at.
        windows = [
            and_(
                Deadline.school_id == school_id,
                Deadline.closed_at.is_(None),
                Deadline.due_at < _soon_horizon(calendar, now, soon_days),
                # R27: archived students are hidden from the committee and the bureau, not from the admin.
                *(() if "beheerder" in schools[school_id] else (Student.archived_at.is_(None),)),
            )
            for school_id, calendar in calendars.items()
        ]
        student_user = aliased(User)
        stmt = (
            select(
                Deadline.id,
                Deadline.instance_id,
                Deadline.school_id,
                Deadline.kind,
                Deadline.due_at,
                Deadline.overdue_at,
                ProcessInstance.title,
                School.name.label("school_name"),
                student_user.name.label("student_name"),
                Student.student_number,
                Student.crebo,
            )
            .select_from(Deadline)
            .join(ProcessInstance, ProcessInstance.id == Deadline.instance_id)
            .join(School, School.id == Deadline.school_id)
            .outerjoin(Student, Student.id == ProcessInstance.student_id)
            .outerjoin(student_user, student_user.id == Student.user_id)
            .where(or_(*windows))
            .order_by(Deadline.due_at, Deadline.id)
        )
        if crebo:
            stmt = stmt.where(Student.crebo == crebo)
        if assessor_id is not None:
            stmt = stmt.where(
                exists().where(
                    Participant.instance_id == Deadline.instance_id,
                    Participant.role.in_(ASSESSOR_ROLES),
                    Participant.user_id == assessor_id,
                )
            )
        rows = s.execute(stmt).all()
        assessors = _assessor_names(s, {r.instance_id for r in rows})
    out = []
    for r in rows:
        overdue = r.due_at <= now or r.overdue_at is not None
        out.append(
            DeadlineRow(
                deadline_id=r.id,
                instance_id=r.instance_id,
                school=r.school_name,
                exam=r.title,
                student_name=r.student_name,
                student_number=r.student_number,
                crebo=r.crebo,
                kind=r.kind,
                due_at=r.due_at,
                status=OVERDUE if overdue else SOON,
                working_days_overdue=calendars[r.school_id].working_days_between(r.due_at, now),
                assessors=tuple(assessors.get(r.instance_id, ())),
            )
        )
    return out


def _assessor_names(s: Session, instance_ids: set[int]) -> dict[int, list[str]]:
    if not instance_ids:
        return {}
    rows = s.execute(
        select(Participant.instance_id, User.name)
        .join(User, User.id == Participant.user_id)
        .where(Participant.instance_id.in_(instance_ids), Participant.role.in_(ASSESSOR_ROLES))
        .order_by(Participant.instance_id, Participant.role, User.name)  # praktijk before roc
    ).all()
    out: dict[int, list[str]] = {}
    for r in rows:
        out.setdefault(r.instance_id, []).append(r.name)
    return out


def assessor_choices(user_id: int, uow: UnitOfWork) -> list[tuple[int, str]]:
    """The assessors (praktijk- and ROC-beoordelaars) of the user's schools, for the filter."""
    with uow:
        s = uow.session
        schools = overseen_schools(s, user_id)
        rows = s.execute(
            select(User.id, User.name)
            .join(RoleMembership, RoleMembership.user_id == User.id)
            .where(RoleMembership.school_id.in_(schools), RoleMembership.role.in_(ASSESSOR_ROLES))
            .distinct()
            .order_by(User.name, User.id)
        ).all()
    return [(r.id, r.name) for r in rows]


def oversees_any_school(user_id: int, uow: UnitOfWork) -> bool:
    """Whether the user is examencommissie, examenbureau or beheerder anywhere (for the menu)."""
    with uow:
        try:
            overseen_schools(uow.session, user_id)
        except Forbidden:
            return False
        return True


WORKBOOK_COLUMNS = (
    # header, width
    ("Status", 10),
    ("Werkdagen te laat", 18),
    ("Uiterlijk", 17),
    ("Soort termijn", 34),
    ("Examen", 36),
    ("Student", 24),
    ("Studentnummer", 15),
    ("Crebo", 9),
    ("Beoordelaars", 36),
    ("School", 20),
    ("Examen-id", 11),
)


def deadlines_workbook(rows: list[DeadlineRow]) -> bytes:
    """The deadline overview as an Excel workbook (R4, R48), one row per deadline."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Termijnen"
    ws.append([header for header, _ in WORKBOOK_COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        # Excel has no time zones: the school's local time, as shown in the screens.
        due_local = r.due_at.astimezone(AMSTERDAM).replace(tzinfo=None)
        ws.append(
            [
                r.status,
                r.working_days_overdue,
                due_local,
                r.kind_label,
                r.exam,
                r.student_name or "",
                r.student_number or "",
                r.crebo or "",
                ", ".join(r.assessors),
                r.school,
                r.instance_id,
            ]
        )
        ws.cell(row=ws.max_row, column=3).number_format = "dd-mm-yyyy hh:mm"
    for index, (_, width) in enumerate(WORKBOOK_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(WORKBOOK_COLUMNS))}{max(1, ws.max_row)}"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
