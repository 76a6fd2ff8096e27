"""Retention (R27): which exams' documents pass their retention period, for the school's beheerder.

Nothing is deleted by users. An exam's documents (signed forms, assessments, the PDFs made from
them, attachments) are kept ``RETENTION_YEARS`` after the exam ended: the moment its process
completed, which is ``process_instance.updated_at`` of a completed instance (the step that ended it;
nothing writes a completed instance afterwards). For a PvB that is step 11, the same transaction
that archives the dossier. This overview lists the exams whose period has passed or passes within the
next twelve months; what happens to them is the school's decision, taken outside the system
(decision D22).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased

from processes import policy
from processes.administration import RETENTION_YEARS, retain_until
from processes.db import UnitOfWork
from processes.errors import NotFound
from processes.models import (
    Attachment,
    AuditEvent,
    Exam,
    ExamAssignment,
    ExamRegistration,
    ProcessInstance,
    School,
    Student,
    User,
    utcnow,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
HORIZON_MONTHS = 12
# More rows than a page can sensibly show; the page says when it shows only these.
MAX_ROWS = 1000


@dataclass(frozen=True)
class RetentionRow:
    instance_id: int
    kind: str
    exam: str
    student_name: str
    student_number: str
    ended_on: date
    retain_until: date
    signed_forms: int
    attachments: int
    attachment_bytes: int


@dataclass(frozen=True)
class RetentionOverview:
    today: date
    horizon: date
    past: list[RetentionRow]
    upcoming: list[RetentionRow]
    truncated: bool


def _years_back(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def _months_ahead(d: date, months: int) -> date:
    year, month = divmod(d.month - 1 + months, 12)
    for day in (d.day, 30, 29, 28):
        try:
            return date(d.year + year, month + 1, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def list_retention_due(school_id: int, actor_id: int, uow: UnitOfWork, today: date | None = None
                       ) -> RetentionOverview:
    """The school's exams whose retention period (R27) has passed or passes within twelve months.

    Only for the school's beheerder. Read-only: nothing here deletes or changes anything."""
    with uow:
        s = uow.session
        actor = s.get(User, actor_id)
        if actor is None or s.get(School, school_id) is None:
            raise NotFound("Onbekende gebruiker of school.")
        policy.require_role(s, actor, school_id, ("beheerder",), "de bewaartermijnen inzien")
        today = today or utcnow().astimezone(AMSTERDAM).date()
        horizon = _months_ahead(today, HORIZON_MONTHS)
        # Ended on or before this day (in Amsterdam) → its period ends on or before the horizon.
        last_day = _years_back(horizon, RETENTION_YEARS)
        before = datetime.combine(last_day + timedelta(days=1), time(0), AMSTERDAM)
        student_user = aliased(User)
        attachments = (select(Attachment.instance_id, func.count().label("n"),
                              func.coalesce(func.sum(Attachment.size), 0).label("bytes"))
                       .group_by(Attachment.instance_id).subquery())
        forms = (select(AuditEvent.instance_id, func.count().label("n"))
                 .where(AuditEvent.action == "task_completed").group_by(AuditEvent.instance_id).subquery())
        rows = s.execute(
            select(ProcessInstance.id, ProcessInstance.title, ProcessInstance.updated_at,
                   ExamAssignment.instance_id.label("pvb"), Exam.title.label("exam_title"),
                   student_user.name.label("student_name"), Student.student_number,
                   func.coalesce(forms.c.n, 0).label("forms"), func.coalesce(attachments.c.n, 0).label("files"),
                   func.coalesce(attachments.c.bytes, 0).label("bytes"))
            .outerjoin(ExamAssignment, ExamAssignment.instance_id == ProcessInstance.id)
            .outerjoin(ExamRegistration, ExamRegistration.instance_id == ProcessInstance.id)
            .outerjoin(Exam, Exam.id == ExamRegistration.exam_id)
            .outerjoin(Student, Student.id == ProcessInstance.student_id)
            .outerjoin(student_user, student_user.id == Student.user_id)
            .outerjoin(forms, forms.c.instance_id == ProcessInstance.id)
            .outerjoin(attachments, attachments.c.instance_id == ProcessInstance.id)
            .where(ProcessInstance.school_id == school_id, ProcessInstance.status == "completed",
                   ProcessInstance.updated_at < before,
                   or_(ExamAssignment.instance_id.is_not(None), ExamRegistration.id.is_not(None)))
            .order_by(ProcessInstance.updated_at, ProcessInstance.id)
            .limit(MAX_ROWS + 1)
        ).all()
    out = []
    for r in rows[:MAX_ROWS]:
        ended = r.updated_at.astimezone(AMSTERDAM)
        out.append(RetentionRow(
            instance_id=r.id, kind="PvB" if r.pvb is not None else "Examen (examenmoment)",
            exam=r.exam_title or r.title, student_name=r.student_name or "—",
            student_number=r.student_number or "—", ended_on=ended.date(), retain_until=retain_until(ended),
            signed_forms=int(r.forms), attachments=int(r.files), attachment_bytes=int(r.bytes),
        ))
    return RetentionOverview(
        today=today, horizon=horizon, past=[r for r in out if r.retain_until <= today],
        upcoming=[r for r in out if today < r.retain_until <= horizon], truncated=len(rows) > MAX_ROWS,
    )
