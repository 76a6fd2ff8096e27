"""Helpers for the tests of exams at exam moments: an exam in the bank, a moment, and walking a
registration's process (``bpmn/aanmelden.bpmn``) with valid data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from handlers.clock import use_clock
from processes import enrolment as enr
from processes import moments, registrations, runner
from processes.models import Enrolment, ExamRegistration, ExamResult, HumanTask, OutboxMessage

OPENS = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
CLOSES = datetime(2027, 1, 15, 17, 0, tzinfo=UTC)
STARTS = datetime(2027, 1, 25, 9, 0, tzinfo=UTC)
NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
AFTER = datetime(2027, 1, 25, 12, 0, tzinfo=UTC)

# Who completes which task of the exam-moment diagrams (world keys).
HOLDERS = {
    "go_geven": "begeleider_a",
    "examenmoment_kiezen": "student_a",
    "inschrijven_bureau": "bureau_a",
    "v1_resultaat_invoeren": "rocbeoordelaar_a",
    "v2_resultaat_invoeren": "rocbeoordelaar_a",
    "v1_uitwisseling_controleren": "bureau_a",
    "v1_vaststellen_commissie": "commissie_a",
    "v2_vaststellen_commissie": "commissie_a",
    "v1_vaststellen_bureau": "bureau_a",
    "v2_vaststellen_bureau": "bureau_a",
    "afwezigheid_beoordelen": "commissie_a",
    "extra_poging_aanvragen": "student_a",
    "extra_poging_beoordelen": "commissie_a",
}
CONFIRM = {"bevestiging": True}
# Forms without a signature box.
NO_CONFIRM = {"extra_poging_aanvragen"}


@dataclass
class ExamSetup:
    exam_id: int
    version_id: int
    moment_id: int


def make_exam(world, uow_factory, *, enrolment_variant="handmatig", assessment_variant="1", cesuur: int | None = 55,
              capacity: int = 20, max_attempts: int = 2, code: str = "NED-2F") -> ExamSetup:
    exam_id = enr.create_exam(world.schools["a"], code, "Nederlands 2F lezen", "25655", world.users["bureau_a"],
                              uow_factory(), max_attempts=max_attempts, teacher_id=world.users["begeleider_a"],
                              assessor_id=world.users["rocbeoordelaar_a"], enrolment_variant=enrolment_variant,
                              assessment_variant=assessment_variant)
    version_id = enr.add_version(exam_id, world.users["bureau_a"], uow_factory(), cesuur=cesuur)
    enr.establish_version(version_id, world.users["commissie_a"], uow_factory())
    moment_id = plan(world, uow_factory, version_id, capacity=capacity)
    return ExamSetup(exam_id, version_id, moment_id)


def plan(world, uow_factory, version_id: int, capacity: int = 20, starts_at=STARTS, enrol_from=OPENS,
         enrol_until=CLOSES) -> int:
    return enr.plan_moment(version_id, starts_at, "Lokaal 1.01", capacity, enrol_from, world.users["bureau_a"],
                           uow_factory(), enrol_until=enrol_until)


def register(world, uow_factory, setup: ExamSetup, student: str = "student_a", at=NOW) -> tuple[int, int]:
    """Registers the student; returns (registration id, instance id)."""
    with use_clock(at):
        reg_id = registrations.register_student(setup.exam_id, world.students[student], world.users["bureau_a"],
                                                uow_factory())
    with uow_factory() as uow:
        return reg_id, uow.session.get(ExamRegistration, reg_id).instance_id


def open_tasks(uow_factory, instance_id: int) -> list[HumanTask]:
    with uow_factory() as uow:
        tasks = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                            HumanTask.status == "open").order_by(HumanTask.id)).all()
        for t in tasks:
            uow.session.expunge(t)
        return list(tasks)


def the_task(uow_factory, instance_id: int, element_id: str) -> HumanTask:
    tasks = open_tasks(uow_factory, instance_id)
    assert [t.element_id for t in tasks] == [element_id], [t.element_id for t in tasks]
    return tasks[0]


def do(world, uow_factory, instance_id: int, element_id: str, data: dict | None = None, at=NOW, who: str | None = None,
       student: str = "student_a"):
    task = the_task(uow_factory, instance_id, element_id)
    holder = who or HOLDERS[element_id]
    if holder == "student_a":
        holder = student
    with use_clock(at):
        confirm = {} if element_id in NO_CONFIRM else CONFIRM
        return runner.complete_task(task.id, world.users[holder], {**confirm, **(data or {})}, uow_factory())


def enrolments_of(uow_factory, reg_id: int) -> list[Enrolment]:
    with uow_factory() as uow:
        rows = uow.session.scalars(select(Enrolment).where(Enrolment.registration_id == reg_id)
                                   .order_by(Enrolment.id)).all()
        for r in rows:
            uow.session.expunge(r)
        return list(rows)


def result_of(uow_factory, enrolment_id: int) -> ExamResult | None:
    with uow_factory() as uow:
        r = uow.session.scalar(select(ExamResult).where(ExamResult.enrolment_id == enrolment_id))
        if r is not None:
            uow.session.expunge(r)
        return r


def registration(uow_factory, reg_id: int) -> ExamRegistration:
    with uow_factory() as uow:
        r = uow.session.get(ExamRegistration, reg_id)
        uow.session.expunge(r)
        return r


def record_attendance(world, uow_factory, moment_id: int, present: dict[int, bool], at=AFTER,
                      incidents: str = "Geen bijzonderheden.") -> int:
    return moments.record_proces_verbaal(moment_id, world.users["surveillant_a"],
                                               {str(k): v for k, v in present.items()}, incidents, uow_factory(),
                                               now=at)


def deliver_pending(uow_factory, instance_id: int, at=AFTER) -> int:
    """What the outbox worker does when the SIS accepted: mark delivered and tell the process."""
    with use_clock(at), uow_factory() as uow:
        s = uow.session
        pending = s.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == instance_id,
                                                        OutboxMessage.status == "pending")
                            .order_by(OutboxMessage.id)).all()
        for message in pending:
            message.status = "delivered"
            runner.record_delivery(s, message, at)
        uow.commit()
        return len(pending)


def messages_of(uow_factory, instance_id: int) -> list[OutboxMessage]:
    with uow_factory() as uow:
        rows = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == instance_id)
                                   .order_by(OutboxMessage.id)).all()
        for r in rows:
            uow.session.expunge(r)
        return list(rows)
