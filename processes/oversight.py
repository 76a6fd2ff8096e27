"""Oversight for the exam bureau (R46, R47): timers that became incidents, and the exchange log with
the student information system.

Read-side use cases over index tables (``timer``, ``outbox_message``, ``exchange_log``), plus the retry
of an incident; none of them loads engine state. Who may see what follows the same school-wide roles as
the deadline overview (``processes.deadlines.overseen_schools``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from processes import audit, policy
from processes.db import UnitOfWork
from processes.deadlines import overseen_schools
from processes.errors import BadRequest, NotFound
from processes.models import ExchangeLogEntry, OutboxMessage, ProcessInstance, School, Student, Timer, User
from processes.queries import Page
from processes.timers import reset_incident

log = logging.getLogger(__name__)

# Who may send a timer that became an incident back to the scheduler.
RETRY_ROLES = ("beheerder", "examenbureau")
MESSAGE_STATUSES = {
    "pending": "In wachtrij",
    "delivered": "Afgeleverd",
    "failed": "Mislukt",
    "superseded": "Vervangen door nieuwer bericht",
}
# Outcomes of one delivery attempt as the sender records them; an unknown one is shown as it is.
OUTCOME_LABELS = {"delivered": "gelukt", "refused": "geweigerd", "error": "mislukt", "failed": "mislukt"}
RESPONSE_EXCERPT = 500


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
        schools = overseen_schools(s, user_id)
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
        schools = overseen_schools(s, user_id)
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
