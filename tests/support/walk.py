"""Driving an exam through the first PvB diagram with the use cases, and snapshots of its rows."""

from __future__ import annotations

from sqlalchemy import select

from processes import runner
from processes.models import AuditEvent, HumanTask, Participant, ProcessInstance, Timer

# (element id, world key of the person who holds the step)
STEPS = [
    ("opdracht_aanmaken", "begeleider_a"),
    ("opdracht_verwerven", "student_a"),
    ("deelnemers_vastleggen", "begeleider_a"),
    ("goedkeuren_praktijkbegeleider", "praktijkbegeleider"),
    ("opdracht_vaststellen", "commissie_a"),
    ("afspraken_plannen", "student_a"),
]


def step_data(world, step: str) -> dict:
    u = world.users
    return {
        "opdracht_aanmaken": {"titel": "Zorgen voor een cliënt", "opdrachttekst": "Voer de zorg uit.",
                              "gewenste_einddatum": "2027-03-01"},
        "opdracht_verwerven": {"examenlocatie": "Zorggroep De Linde", "context": "Thuiszorg"},
        "deelnemers_vastleggen": {"praktijkbegeleider": u["praktijkbegeleider"],
                                  "praktijkbeoordelaar": u["beoordelaar_a"],
                                  "roc_beoordelaar": u["rocbeoordelaar_a"], "vaststeller": u["commissie_a"]},
        "goedkeuren_praktijkbegeleider": {"besluit": "akkoord", "bevestiging": True},
        "opdracht_vaststellen": {"besluit": "vastgesteld", "bevestiging": True},
        "afspraken_plannen": {"uitvoeringsdatum": "2027-02-01", "beoordelingsdatum": "2027-02-10"},
    }[step]


def open_task(uow_factory, instance_id: int) -> HumanTask:
    with uow_factory() as uow:
        task = uow.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                          HumanTask.status == "open"))
        uow.session.expunge(task)
        return task


def start_and_walk_to(world, uow_factory, element_id: str, student: str = "student_a") -> tuple[int, int]:
    """Starts a PvB at school A and completes steps until ``element_id`` is open; returns (instance, task)."""
    result = runner.start_pvb(world.schools["a"], world.students[student], world.users["begeleider_a"],
                              uow_factory())
    for step, holder in STEPS:
        task = open_task(uow_factory, result.instance_id)
        assert task.element_id == step
        if step == element_id:
            return result.instance_id, task.id
        actor = student if holder == "student_a" else holder
        runner.complete_task(task.id, world.users[actor], step_data(world, step), uow_factory())
    return result.instance_id, open_task(uow_factory, result.instance_id).id


def snapshot(uow_factory, instance_id: int) -> dict:
    """Everything a step may change, to prove a failed step changed nothing."""
    with uow_factory() as uow:
        s = uow.session
        inst = s.execute(
            select(ProcessInstance.revision, ProcessInstance.state, ProcessInstance.status,
                   ProcessInstance.audit_head, ProcessInstance.audit_count)
            .where(ProcessInstance.id == instance_id)
        ).one()
        tasks = s.execute(
            select(HumanTask.id, HumanTask.task_guid, HumanTask.status, HumanTask.assignee_id,
                   HumanTask.completed_by_id, HumanTask.completed_at)
            .where(HumanTask.instance_id == instance_id).order_by(HumanTask.id)
        ).all()
        audit = s.execute(select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.instance_id == instance_id)
                          .order_by(AuditEvent.seq)).all()
        parts = s.execute(select(Participant.role, Participant.user_id)
                          .where(Participant.instance_id == instance_id).order_by(Participant.role)).all()
        timers = s.execute(select(Timer.task_guid, Timer.status).where(Timer.instance_id == instance_id)
                           .order_by(Timer.id)).all()
    return {"instance": tuple(inst), "tasks": [tuple(t) for t in tasks], "audit": [tuple(a) for a in audit],
            "participants": [tuple(p) for p in parts], "timers": [tuple(t) for t in timers]}


def revision(uow_factory, instance_id: int) -> int:
    return snapshot(uow_factory, instance_id)["instance"][0]
