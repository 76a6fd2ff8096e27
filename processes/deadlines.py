"""Oversight for the exam committee and the exam bureau (R46-R48): deadlines that are overdue or
nearly so, timers that became incidents, and the exchange log with the student information system.

Read-side use cases over index tables (``deadline``, ``timer``, ``outbox_message``, ``exchange_log``);
none of them loads engine state. The deadline overview reads ``deadline`` through its index
(school_id, closed_at, due_at), so its cost follows the open windows that are due, not the number
of exams.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from handlers.calendar import AMSTERDAM, SchoolCalendar
from processes import audit, policy
from processes.db import UnitOfWork
from processes.errors import BadRequest, Forbidden, NotFound
from processes.models import (
    ROLES,
    SCHOOL_WIDE_ROLES,
    Deadline,
    ExchangeLogEntry,
    OutboxMessage,
    Participant,
    ProcessInstance,
    RoleMembership,
    School,
    Student,
    Timer,
    User,
)
from processes.queries import Page
from processes.timers import reset_incident

log = logging.getLogger(__name__)

ASSESSOR_ROLES = ("praktijkbeoordelaar", "roc_beoordelaar")
# Who may send a timer that became an incident back to the scheduler.
RETRY_ROLES = ("beheerder", "examenbureau")
KIND_LABELS = {
    "beoordeling": "Beoordeling (5 werkdagen)",
    "uitwisseling": "Uitwisseling naar studentinformatiesysteem (2 werkdagen)",
}
OVERDUE = "te laat"
SOON = "bijna"
MESSAGE_STATUSES = {
    "pending": "In wachtrij",
    "delivered": "Afgeleverd",
    "failed": "Mislukt",
    "superseded": "Vervangen door nieuwer bericht",
}
# Outcomes of one delivery attempt as the sender records them; an unknown one is shown as it is.
OUTCOME_LABELS = {"delivered": "gelukt", "refused": "geweigerd", "error": "mislukt", "failed": "mislukt"}
RESPONSE_EXCERPT = 500


# ----------------------------------------------------------------------------- deadlines (R48)


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


def _overseen_schools(s: Session, user_id: int, roles=SCHOOL_WIDE_ROLES) -> dict[int, set[str]]:
    """The schools where the (active) user holds one of ``roles``, with those roles; else Forbidden."""
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
        calendars = _calendars(s, _overseen_schools(s, user_id))
        # One branch per school, each the prefix of ix_deadline_school_open plus a range on due_at.
        windows = [
            and_(
                Deadline.school_id == school_id,
                Deadline.closed_at.is_(None),
                Deadline.due_at < _soon_horizon(calendar, now, soon_days),
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
        schools = _overseen_schools(s, user_id)
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
            _overseen_schools(uow.session, user_id)
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


# ----------------------------------------------------------------------------- incidents


@dataclass(frozen=True)
class IncidentRow:
    """A timer whose firing kept failing; it waits for a person to retry it."""

    timer_id: int
    instance_id: int
    school: str
    exam: str
    element_id: str
    due_at: datetime
    attempts: int
    last_error: str | None
    may_retry: bool


def list_incidents(user_id: int, uow: UnitOfWork) -> list[IncidentRow]:
    """Timers that became incidents at the user's schools, oldest due first."""
    with uow:
        s = uow.session
        schools = _overseen_schools(s, user_id)
        rows = s.execute(
            select(
                Timer.id,
                Timer.instance_id,
                Timer.element_id,
                Timer.due_at,
                Timer.attempts,
                Timer.last_error,
                ProcessInstance.school_id,
                ProcessInstance.title,
                School.name.label("school_name"),
            )
            .join(ProcessInstance, ProcessInstance.id == Timer.instance_id)
            .join(School, School.id == ProcessInstance.school_id)
            .where(Timer.status == "incident", ProcessInstance.school_id.in_(schools))
            .order_by(Timer.due_at, Timer.id)
        ).all()
    return [
        IncidentRow(
            timer_id=r.id,
            instance_id=r.instance_id,
            school=r.school_name,
            exam=r.title,
            element_id=r.element_id,
            due_at=r.due_at,
            attempts=r.attempts,
            last_error=r.last_error,
            may_retry=bool(schools[r.school_id] & set(RETRY_ROLES)),
        )
        for r in rows
    ]


def retry_timer_incident(timer_id: int, user_id: int, uow: UnitOfWork, now: datetime) -> int:
    """Sends an incident back to the scheduler (beheerder or examenbureau of the exam's school);
    the retry is recorded in the exam's audit trail (R32). Returns the instance id."""
    with uow:
        s = uow.session
        timer = s.get(Timer, timer_id)
        if timer is None or timer.status != "incident":
            raise NotFound("Geen incident met dit nummer.")
        inst = s.get(ProcessInstance, timer.instance_id)
        user = s.get(User, user_id)
        if user is None:
            raise NotFound("Onbekende gebruiker.")
        role = policy.require_role(s, user, inst.school_id, RETRY_ROLES, "een incident opnieuw proberen")
        error, attempts = timer.last_error, timer.attempts
        reset_incident(timer)
        audit.append_event(
            s,
            inst,
            actor_id=user.id,
            actor_name=user.name,
            role=role,
            action="timer_incident_retried",
            summary=f"Incident opnieuw geprobeerd ({timer.element_id})",
            data={"timer": timer.task_guid, "attempts": attempts, "last_error": error},
            element_id=timer.element_id,
            now=now,
        )
        uow.commit()
        log.info("timer %s of instance %s retried by user %s", timer_id, inst.id, user_id)
        return inst.id


# ----------------------------------------------------------------------------- exchange log (R46, R47)


@dataclass(frozen=True)
class ExchangeAttempt:
    """One delivery attempt: when, what was asked, what came back."""

    attempt: int
    at: datetime
    outcome: str
    response_status: int | None
    duration_ms: int
    request_method: str
    request_url: str
    response_excerpt: str | None

    @property
    def outcome_label(self) -> str:
        return OUTCOME_LABELS.get(self.outcome, self.outcome)


@dataclass(frozen=True)
class ExchangeMessage:
    message_id: int
    school: str
    instance_id: int | None
    exam: str | None
    student_name: str | None
    kind: str
    method: str
    path: str
    status: str
    attempt_count: int
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    attempts: tuple[ExchangeAttempt, ...]

    @property
    def status_label(self) -> str:
        return MESSAGE_STATUSES.get(self.status, self.status)


def exchange_overview(
    user_id: int,
    uow: UnitOfWork,
    *,
    status: str | None = None,
    since: datetime | None = None,
    instance_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """The exchange log (R47): messages to the student information system, newest first, each with
    every delivery attempt. ``since`` keeps messages created or attempted from that moment on."""
    if status is not None and status not in MESSAGE_STATUSES:
        raise BadRequest(f"Onbekende status '{status}'.")
    page = max(1, page)
    per_page = min(max(1, per_page), 200)
    with uow:
        s = uow.session
        schools = _overseen_schools(s, user_id)
        conds = [OutboxMessage.school_id.in_(schools)]
        if status is not None:
            conds.append(OutboxMessage.status == status)
        if instance_id is not None:
            conds.append(OutboxMessage.instance_id == instance_id)
        if since is not None:
            conds.append(
                or_(
                    OutboxMessage.created_at >= since,
                    exists().where(ExchangeLogEntry.message_id == OutboxMessage.id, ExchangeLogEntry.at >= since),
                )
            )
        total = s.scalar(select(func.count()).select_from(OutboxMessage).where(*conds)) or 0
        student_user = aliased(User)
        rows = s.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.instance_id,
                OutboxMessage.kind,
                OutboxMessage.method,
                OutboxMessage.path,
                OutboxMessage.status,
                OutboxMessage.attempts,
                OutboxMessage.created_at,
                OutboxMessage.delivered_at,
                OutboxMessage.last_error,
                School.name.label("school_name"),
                ProcessInstance.title,
                student_user.name.label("student_name"),
            )
            .join(School, School.id == OutboxMessage.school_id)
            .outerjoin(ProcessInstance, ProcessInstance.id == OutboxMessage.instance_id)
            .outerjoin(Student, Student.id == ProcessInstance.student_id)
            .outerjoin(student_user, student_user.id == Student.user_id)
            .where(*conds)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        attempts = _attempts(s, [r.id for r in rows])
    items = [
        ExchangeMessage(
            message_id=r.id,
            school=r.school_name,
            instance_id=r.instance_id,
            exam=r.title,
            student_name=r.student_name,
            kind=r.kind,
            method=r.method,
            path=r.path,
            status=r.status,
            attempt_count=r.attempts,
            created_at=r.created_at,
            delivered_at=r.delivered_at,
            last_error=r.last_error,
            attempts=tuple(attempts.get(r.id, ())),
        )
        for r in rows
    ]
    return Page(items=items, total=total, page=page, per_page=per_page)


def _attempts(s: Session, message_ids: list[int]) -> dict[int, list[ExchangeAttempt]]:
    if not message_ids:
        return {}
    rows = s.execute(
        select(
            ExchangeLogEntry.message_id,
            ExchangeLogEntry.attempt,
            ExchangeLogEntry.at,
            ExchangeLogEntry.outcome,
            ExchangeLogEntry.response_status,
            ExchangeLogEntry.duration_ms,
            ExchangeLogEntry.request_method,
            ExchangeLogEntry.request_url,
            func.substr(ExchangeLogEntry.response_body, 1, RESPONSE_EXCERPT).label("excerpt"),
        )
        .where(ExchangeLogEntry.message_id.in_(message_ids))
        .order_by(ExchangeLogEntry.message_id, ExchangeLogEntry.attempt, ExchangeLogEntry.id)
    ).all()
    out: dict[int, list[ExchangeAttempt]] = {}
    for r in rows:
        out.setdefault(r.message_id, []).append(
            ExchangeAttempt(
                attempt=r.attempt,
                at=r.at,
                outcome=r.outcome,
                response_status=r.response_status,
                duration_ms=r.duration_ms,
                request_method=r.request_method,
                request_url=r.request_url,
                response_excerpt=r.excerpt,
            )
        )
    return out
