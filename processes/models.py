"""The data of Examenflow: typed SQLAlchemy 2 models on a plain DeclarativeBase.

Engine state lives in ``process_instance.state`` (deferred: nothing loads it unless a use case
asks). Everything the inbox, dashboards and scheduler search is in index tables synced after each
step (``human_task``, ``timer``, ``participant``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship

from handlers import clock

# The role codes of shared/domain.md. Lanes in diagrams are named by these.
ROLES: dict[str, str] = {
    "beheerder": "Beheerder school",
    "student": "Student",
    "roc_begeleider": "ROC-begeleider",
    "praktijkbegeleider": "Praktijkbegeleider",
    "praktijkbeoordelaar": "Praktijkbeoordelaar",
    "roc_beoordelaar": "ROC-beoordelaar",
    "examencommissie": "Examencommissie",
    "examenbureau": "Examenbureau",
    "surveillant": "Surveillant",
}
# Roles that, where an exam records nobody for them, any holder at the exam's school may act in.
SCHOOL_WIDE_ROLES = frozenset({"beheerder", "examencommissie", "examenbureau"})


def utcnow() -> datetime:
    """The one clock (design 6): what `scheduler --once --now` and the tests move."""
    return clock.now()


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes; SQLite hands back naive ones, which we read as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        # SQLite keeps no offset: store UTC, so that 17:00+01:00 does not come back as 17:00 UTC.
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class EngineState(TypeDecorator):
    """The serialized workflow (JSON text, spec stripped). A class of its own so that tests can
    prove the inbox never loads it."""

    impl = Text
    cache_ok = True


class Base(DeclarativeBase):
    pass


class School(Base):
    __tablename__ = "school"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    """One account per person, also across schools (R2)."""

    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped to end every session of this user server-side.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Mail when a task arrives, bundled per person; the user can switch it off.
    task_mail: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Tasks created up to this moment have been mailed (or were there before mail was switched on).
    task_mail_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[RoleMembership]] = relationship(back_populates="user")


class RoleMembership(Base):
    __tablename__ = "role_membership"
    __table_args__ = (UniqueConstraint("user_id", "school_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    role: Mapped[str] = mapped_column(String(40))

    user: Mapped[User] = relationship(back_populates="memberships")


class Student(Base):
    """A student of a school; the student number is recorded with the account (R3)."""

    __tablename__ = "student"
    __table_args__ = (UniqueConstraint("school_id", "student_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    student_number: Mapped[str] = mapped_column(String(40))
    # Cohort: the start year of the qualification dossier (R10).
    cohort: Mapped[str] = mapped_column(String(20))
    crebo: Mapped[str] = mapped_column(String(20))
    # Archived, never deleted (R27): hidden from teachers and the committee, kept until retain_until.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retain_until: Mapped[date | None] = mapped_column(Date)

    user: Mapped[User] = relationship()


class ProcessVersion(Base):
    """A deployed, immutable bundle: the diagram, its forms and the serialized spec."""

    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("process_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    bpmn_xml: Mapped[str] = deferred(mapped_column(Text, nullable=False))
    sha256: Mapped[str] = mapped_column(String(64))
    forms: Mapped[dict] = deferred(mapped_column(JSON, nullable=False))
    spec_json: Mapped[str] = deferred(mapped_column(Text, nullable=False))
    # The other files of the bundle (the processes its call activities call), file name → XML.
    called_xml: Mapped[dict | None] = deferred(mapped_column(JSON))
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A school's own variant (issue 6): NULL is the shipped default; a school's version wins there.
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"))
    change_note: Mapped[str] = mapped_column(Text, default="")
    deployed_role: Mapped[str | None] = mapped_column(String(40))


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("student.id"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default="running")
    revision: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str | None] = deferred(mapped_column(EngineState))
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Head of this instance's audit hash chain (decision 11).
    audit_head: Mapped[str] = mapped_column(String(64), default="")
    audit_count: Mapped[int] = mapped_column(Integer, default=0)

    version: Mapped[ProcessVersion] = relationship()
    student: Mapped[Student | None] = relationship()


class Participant(Base):
    """Who holds a role in one exam (the student, his assessors, the vaststeller…)."""

    __tablename__ = "participant"
    __table_args__ = (UniqueConstraint("instance_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    role: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)


class HumanTask(Base):
    """Index row of a user task, open or done; the inbox reads only this (decision 4)."""

    __tablename__ = "human_task"
    __table_args__ = (
        UniqueConstraint("instance_id", "task_guid"),
        # "Mijn taken" (decision D6): one partial index per branch of the visibility rule, in the
        # inbox's order, so each branch reads only its first rows and counts without the table.
        Index("ix_human_task_open_assignee", "assignee_id", "created_at", "id",
              postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
        Index("ix_human_task_open_unassigned", "school_id", "lane_role", "created_at", "id",
              postgresql_where=text("status = 'open' AND assignee_id IS NULL"),
              sqlite_where=text("status = 'open' AND assignee_id IS NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_guid: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    lane_role: Mapped[str] = mapped_column(String(40))
    form_key: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="open")
    # Denormalised for the inbox: the exam's participant in lane_role, NULL = the school's role.
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    student_id: Mapped[int | None] = mapped_column(ForeignKey("student.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    completed_role: Mapped[str | None] = mapped_column(String(40))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    instance: Mapped[ProcessInstance] = relationship()
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])


class Timer(Base):
    __tablename__ = "timer"
    __table_args__ = (
        UniqueConstraint("instance_id", "task_guid"),
        Index("ix_timer_status_due", "status", "due_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_guid: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # waiting → fired | cancelled; a timer whose firing keeps failing becomes an incident.
    status: Mapped[str] = mapped_column(String(20), default="waiting")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # After a failed attempt: not before this moment (back-off).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Append-only; a hash chain per instance (decision 11)."""

    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("instance_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    actor_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    task_guid: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    summary: Mapped[str] = mapped_column(String(500), default="")
    data_digest: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ApiToken(Base):
    """Bearer token; only the SHA-256 digest of the random value is stored."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Assignment(Base):
    """An assignment in the school's bank (R16), with its assessment model (R40)."""

    __tablename__ = "assignment"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Werkprocessen with criteria, crucial marks and the pass rule (forms/README.md, "criteria").
    assessment_model: Mapped[dict] = mapped_column(JSON)
    established: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # opdracht | aanvulopdracht; a supplementary assignment always needs establishing per student (R17).
    kind: Mapped[str] = mapped_column(String(20), default="opdracht", server_default="opdracht")


class ExamAssignment(Base):
    """The assignment as set out for one exam: its own copy, editable until the three approvals lock it."""

    __tablename__ = "exam_assignment"
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), primary_key=True)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignment.id"))
    title: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    examenlocatie: Mapped[str] = mapped_column(String(200), default="")
    context: Mapped[str] = mapped_column(Text, default="")
    desired_end_date: Mapped[date | None] = mapped_column(Date)
    assessment_model: Mapped[dict] = mapped_column(JSON)
    content_version: Mapped[int] = mapped_column(Integer, default=1)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    established_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(String(20))
    result_details: Mapped[dict | None] = mapped_column(JSON)
    result_established_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    follow_up_of_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # R23: set when the ROC-beoordelaar finds the evidence complete; from then on nothing is added or withdrawn.
    evidence_locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Assessment(Base):
    """A recorded assessment or consensus; never changed once written (R26)."""

    __tablename__ = "assessment"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    element_id: Mapped[str] = mapped_column(String(100))
    task_guid: Mapped[str] = mapped_column(String(36))
    assessor_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    role: Mapped[str] = mapped_column(String(40))
    judgements: Mapped[dict] = mapped_column(JSON)
    result: Mapped[dict] = mapped_column(JSON)
    complete: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExamWarning(Base):
    """A warning the process gave and let pass (R8 one assessor, R21 late appointments)."""

    __tablename__ = "exam_warning"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Deadline(Base):
    """A deadline window of one exam (R48): assessment within 5, delivery within 2 working days.

    Opened when its boundary timer starts waiting, overdue when the timer fires, closed when the
    steps it guards are done; rows are kept as the deadline's history.
    """

    __tablename__ = "deadline"
    __table_args__ = (Index("ix_deadline_school_open", "school_id", "closed_at", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    kind: Mapped[str] = mapped_column(String(30))
    timer_guid: Mapped[str] = mapped_column(String(36), unique=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """A message to another system, written in the step's transaction, sent after commit (design 13)."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    body: Mapped[dict] = mapped_column(JSON)
    # The same message keeps the same key for every attempt (at-least-once, idempotent PATCH).
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class ExchangeLogEntry(Base):
    """Every attempt to deliver a message: request, response, outcome, time (R46, R47)."""

    __tablename__ = "exchange_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_message.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    request_method: Mapped[str] = mapped_column(String(10))
    request_url: Mapped[str] = mapped_column(String(1000))
    request_body: Mapped[str] = mapped_column(Text)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(20))
    duration_ms: Mapped[int] = mapped_column(Integer)


class Exam(Base):
    """An exam taken at exam moments (not a PvB): its versions live in the exam bank (R35)."""

    __tablename__ = "exam"
    __table_args__ = (UniqueConstraint("school_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    crebo: Mapped[str] = mapped_column(String(20))
    # R45: attempts are limited; another one needs the committee's approval (herkansing.bpmn).
    max_attempts: Mapped[int] = mapped_column(Integer, default=2)
    # R41: registered automatically for the students of this crebo (and cohort, when set).
    cohort: Mapped[str | None] = mapped_column(String(20))
    # R43/R50: the exam's own variant; None means the school's setting.
    enrolment_variant: Mapped[str | None] = mapped_column(String(20))
    assessment_variant: Mapped[str | None] = mapped_column(String(20))
    # The vakdocent who gives the Go (lane roc_begeleider) and the assessor (lane roc_beoordelaar).
    teacher_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    assessor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class ExamVersion(Base):
    """A version of an exam; only established versions are planned (R35), assessed with its model (R40)."""

    __tablename__ = "exam_version"
    __table_args__ = (UniqueConstraint("exam_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exam.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    established: Mapped[bool] = mapped_column(Boolean, default=False)
    # Not in the exam bank: the committee approves it (by establishing it) before use (R35).
    in_bank: Mapped[bool] = mapped_column(Boolean, default=True)
    cesuur: Mapped[int | None] = mapped_column(Integer)
    assessment_model: Mapped[dict | None] = mapped_column(JSON)


class ExamMoment(Base):
    """Date, time, location and capacity of a sitting (R44); ``enrolled`` is the seats taken."""

    __tablename__ = "exam_moment"
    __table_args__ = (
        CheckConstraint("enrolled >= 0 AND enrolled <= capacity", name="ck_exam_moment_capacity"),
        UniqueConstraint("school_id", "external_id", name="uq_exam_moment_external"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    exam_version_id: Mapped[int] = mapped_column(ForeignKey("exam_version.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    location: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int] = mapped_column(Integer)
    # Taken with one conditional UPDATE (decision D11), never read-then-written.
    enrolled: Mapped[int] = mapped_column(Integer, default=0)
    # The self-enrolment period (R43); without an end it closes when the moment starts.
    enrol_from: Mapped[datetime] = mapped_column(UTCDateTime)
    enrol_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    surveillant_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # The planner's offeringId (OKE flow 2), unique per school.
    external_id: Mapped[str | None] = mapped_column(String(100))
    # A cancelled sitting (processes.moments.cancel_moment): who, when and why; it takes no enrolments.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    cancel_reason: Mapped[str | None] = mapped_column(Text)


class ExamGo(Base):
    """The teacher's Go for one student and exam (R42)."""

    __tablename__ = "exam_go"
    __table_args__ = (UniqueConstraint("exam_id", "student_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exam.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    given_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Enrolment(Base):
    """A student at an exam moment, with his accommodations (R37); one attempt of the exam (R45)."""

    __tablename__ = "enrolment"
    __table_args__ = (
        UniqueConstraint("moment_id", "student_id"),
        UniqueConstraint("external_id", name="uq_enrolment_external"),
        Index("ix_enrolment_student_exam", "student_id", "exam_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    moment_id: Mapped[int] = mapped_column(ForeignKey("exam_moment.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"))
    exam_id: Mapped[int] = mapped_column(ForeignKey("exam.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    # ingeschreven | afgemeld | afwezig | afgerond; all but afgemeld use an attempt (R45).
    status: Mapped[str] = mapped_column(String(20), default="ingeschreven")
    accommodations: Mapped[list] = mapped_column(JSON, default=list)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("enrolment.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The registration (and so the process instance) this attempt belongs to.
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("exam_registration.id"), index=True)
    # R45: an absence the examencommissie excused does not use an attempt.
    excused: Mapped[bool] = mapped_column(Boolean, default=False)
    # The SIS's associationId (OKE flow 2), unique per school.
    external_id: Mapped[str | None] = mapped_column(String(100))


class ExamRegistration(Base):
    """A student's open exam (R41): one process instance of ``aanmelden`` carries its Go, enrolments,
    attempts and results. Untaken exams move to the next school year."""

    __tablename__ = "exam_registration"
    __table_args__ = (UniqueConstraint("exam_id", "student_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exam.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), unique=True)
    # "2026-2027"; moved on by the carry-over of R41.
    school_year: Mapped[str] = mapped_column(String(9))
    # open | behaald | niet_behaald
    status: Mapped[str] = mapped_column(String(20), default="open")
    # R45: attempts the examencommissie granted beyond the exam's maximum.
    extra_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExamResult(Base):
    """The result of one attempt (R38, R40): provisional until established, linked to the version and
    its model and cut-off score."""

    __tablename__ = "exam_result"
    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"), unique=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    exam_version_id: Mapped[int] = mapped_column(ForeignKey("exam_version.id"), index=True)
    score: Mapped[int] = mapped_column(Integer)
    cesuur: Mapped[int | None] = mapped_column(Integer)
    assessment_model: Mapped[dict | None] = mapped_column(JSON)
    # None while the cut-off score is unknown (variant 2).
    passed: Mapped[bool | None] = mapped_column(Boolean)
    # voorlopig | definitief
    status: Mapped[str] = mapped_column(String(20), default="voorlopig")
    visible: Mapped[bool] = mapped_column(Boolean, default=False)
    assessed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    established_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    established_role: Mapped[str | None] = mapped_column(String(30))
    established_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mandate_id: Mapped[int | None] = mapped_column(ForeignKey("mandate.id"))


class ProcesVerbaal(Base):
    """What the surveillant recorded for one exam moment (R36): attendance, incidents, the version and
    its model and cut-off score."""

    __tablename__ = "proces_verbaal"
    id: Mapped[int] = mapped_column(primary_key=True)
    moment_id: Mapped[int] = mapped_column(ForeignKey("exam_moment.id"), unique=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    surveillant_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    exam_version_id: Mapped[int] = mapped_column(ForeignKey("exam_version.id"))
    version_number: Mapped[int] = mapped_column(Integer)
    cesuur: Mapped[int | None] = mapped_column(Integer)
    assessment_model: Mapped[dict | None] = mapped_column(JSON)
    # {enrolment id (str): "aanwezig" | "afwezig"}
    attendance: Mapped[dict] = mapped_column(JSON)
    incidents: Mapped[str] = mapped_column(Text, default="")
    outbox_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id"))


class Mandate(Base):
    """The examencommissie's mandate to the examenbureau to establish results (R33), recorded."""

    __tablename__ = "mandate"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OkeClient(Base):
    """A school's planner or SIS that sends OKE flow 2 with OAuth2 client credentials.

    It acts as its own system account (``user_id``: role examenbureau at the school), so that what it
    changes is attributable; its access tokens are ``api_token`` rows of that account. Only the
    SHA-256 digest of the secret is stored.
    """

    __tablename__ = "oke_client"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(60), unique=True)
    secret_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProcessDraft(Base):
    """A process owner's unsaved-to-production work on one process of a school: the diagram and the
    forms he changed. Nothing reads it but the editor; a deploy turns it into a version."""

    __tablename__ = "process_draft"
    __table_args__ = (UniqueConstraint("school_id", "process_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    process_id: Mapped[str] = mapped_column(String(100))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    # Form key → form file (the raw JSON) for the forms changed in this draft.
    forms: Mapped[dict] = mapped_column(JSON, default=dict)
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("process_version.id"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProcessChange(Base):
    """The process owners' log (append-only): every deploy and every migration, who in which role,
    when and what. A migrated instance also gets an event in its own audit chain."""

    __tablename__ = "process_change"
    __table_args__ = (Index("ix_process_change_process", "process_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"))
    process_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("process_version.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    actor_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(String(500), default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExamGroup(Base):
    """An exam group per cohort and crebo (R6, R10); archived, never deleted (R27)."""

    __tablename__ = "exam_group"
    __table_args__ = (UniqueConstraint("school_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The start year of the qualification dossier, not the intake year (R10).
    cohort: Mapped[str] = mapped_column(String(20))
    crebo: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    retain_until: Mapped[date | None] = mapped_column(Date)


class ExamGroupMember(Base):
    __tablename__ = "exam_group_member"
    __table_args__ = (UniqueConstraint("group_id", "student_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("exam_group.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)


class PasswordReset(Base):
    """A reset link (R5): single use, expiring; only the SHA-256 digest of its token is stored."""

    __tablename__ = "password_reset"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginFailure(Base):
    """A failed login, by the address typed (known or not): the throttle counts these."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_email_at", "email", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class SchoolSettingChange(Base):
    """Who changed which school setting when, from what to what."""

    __tablename__ = "school_setting_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    key: Mapped[str] = mapped_column(String(60))
    old_value: Mapped[object | None] = mapped_column(JSON)
    new_value: Mapped[object | None] = mapped_column(JSON)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(Base):
    """A file of an exam: an attachment to its assignment (R18, kind ``bijlage``) or a piece of evidence
    (R20, kind ``bewijs``); stored once under its SHA-256 (design 12), never in task data; the original
    name and type are kept for the people who open it. Never deleted (R27): withdrawing one before the
    lock only marks it."""

    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    uploaded_role: Mapped[str] = mapped_column(String(40))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(20), default="bijlage", server_default="bijlage")
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class Upload(Base):
    """A file being received in chunks: the bytes so far are in the storage folder's ``.partial/<id>``
    (its size is the offset to resume from); on the last chunk it becomes an Attachment."""

    __tablename__ = "upload"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(String(20))
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachment.id"))


class ExamRequest(Base):
    """A student's request about one of his own exams (R34): inspection (inzage) or an objection (bezwaar)
    against a result. Each runs as its own process (``bpmn/inzage_bezwaar.bpmn``, ``instance_id``) that
    reaches the examencommissie of the exam's school; ``exam_instance_id`` is the exam it is about (a PvB
    or a registration's ``aanmelden`` process), whose audit trail records it too."""

    __tablename__ = "exam_request"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), unique=True)
    exam_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    # inzage | bezwaar
    kind: Mapped[str] = mapped_column(String(20))
    # For an objection: which result, as the student saw it ("pvb" or "resultaat-<exam_result id>").
    result_key: Mapped[str | None] = mapped_column(String(40))
    result_label: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    # ingediend → besloten (the committee decided) → gelezen (the student confirmed he read it)
    status: Mapped[str] = mapped_column(String(20), default="ingediend")
    # afspraak (inspection arranged) | gegrond | ongegrond
    decision: Mapped[str | None] = mapped_column(String(20))
    decision_text: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
