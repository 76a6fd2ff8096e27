"""Driving an exam through the first PvB diagram with the use cases, and snapshots of its rows."""

from __future__ import annotations

from sqlalchemy import select

from processes import runner
from processes.models import AuditEvent, HumanTask, Participant, ProcessInstance, Timer

# Who holds each user task of the full PvB diagram (world keys).
HOLDERS = {
    "opdracht_aanmaken": "begeleider_a",
    "opdracht_verwerven": "student_a",
    "deelnemers_vastleggen": "begeleider_a",
    "goedkeuren_student": "student_a",
    "goedkeuren_roc_begeleider": "begeleider_a",
    "goedkeuren_praktijkbegeleider": "praktijkbegeleider",
    "opdracht_vaststellen": "commissie_a",
    "opdracht_herzien": "begeleider_a",
    "afspraken_plannen": "student_a",
    "bewijsstukken_uploaden": "student_a",
    "bewijsstukken_aanvullen": "student_a",
    "bewijsstukken_controleren": "rocbeoordelaar_a",
    "uitvoering_afronden": "student_a",
    "beoordelen_roc": "rocbeoordelaar_a",
    "beoordelen_praktijk": "beoordelaar_a",
    "beoordelen_alleen": "rocbeoordelaar_a",
    "consensus_vastleggen": "rocbeoordelaar_a",
    "consensus_bevestigen": "beoordelaar_a",
    "eindbeoordeling_vaststellen": "commissie_a",
    "escalatie_beoordeling": "bureau_a",
    "escalatie_uitwisseling": "bureau_a",
    "afsluiten": "begeleider_a",
    "vervolg_bepalen": "begeleider_a",
}


def judgements(model: dict, fail: set[str] = frozenset()) -> dict:
    """Every criterion voldaan, except those in ``fail`` (onvoldoende, with a justification)."""
    out = {}
    for wp in model["werkprocessen"]:
        for c in wp["criteria"]:
            if c["id"] in fail:
                out[c["id"]] = {"oordeel": "onvoldoende", "toelichting": "Niet laten zien tijdens de uitvoering."}
            else:
                out[c["id"]] = {"oordeel": "voldaan"}
    return out


def full_data(world, element_id: str, model: dict | None = None, fail: set[str] = frozenset()) -> dict:
    """Valid form data for every user task of the full PvB."""
    confirm = {"bevestiging": True}
    simple = {
        "goedkeuren_student": {"informatie_gelezen": True, "goedkeuring": True},
        "goedkeuren_roc_begeleider": {"goedkeuring": True},
        "goedkeuren_praktijkbegeleider": {"goedkeuring": True},
        "opdracht_vaststellen": {"opdracht_besluit": "vastgesteld", **confirm},
        "opdracht_herzien": {"titel": "Zorgen voor een cliënt (herzien)", "herziening_toelichting": "Aangepast."},
        "bewijsstukken_uploaden": {"bewijs_beschrijving": "Verslag en foto's", "uitvoering_afgerond": True},
        "bewijsstukken_aanvullen": {"bewijs_beschrijving": "Verslag, foto's en video", "uitvoering_afgerond": True},
        "bewijsstukken_controleren": {"bewijs_besluit": "compleet", **confirm},
        "uitvoering_afronden": {"uitvoering_afgerond": True},
        "consensus_bevestigen": {"consensus_akkoord": "akkoord", **confirm},
        "eindbeoordeling_vaststellen": {"eind_besluit": "vastgesteld", **confirm},
        "escalatie_beoordeling": {"escalatie_actie": "Beoordelaars gebeld; beoordeling volgt morgen.", **confirm},
        "escalatie_uitwisseling": {"escalatie_actie": "Studentenadministratie gebeld.", **confirm},
        "afsluiten": confirm,
        "vervolg_bepalen": {"vervolg_toelichting": "Opnieuw werkproces B1-K1-W2 uitvoeren.", **confirm},
    }
    if element_id in simple:
        return dict(simple[element_id])
    if element_id in ("beoordelen_roc", "beoordelen_praktijk", "beoordelen_alleen", "consensus_vastleggen"):
        from processes.assessment import EXAMPLE_MODEL

        return {"beoordeling": judgements(model or EXAMPLE_MODEL, fail), **confirm}
    return step_data(world, element_id)


def step_data(world, step: str) -> dict:
    u = world.users
    return {
        "opdracht_aanmaken": {"titel": "Zorgen voor een cliënt", "opdrachttekst": "Voer de zorg uit.",
                              "gewenste_einddatum": "2027-03-01"},
        "opdracht_verwerven": {"examenlocatie": "Zorggroep De Linde", "context": "Thuiszorg"},
        "deelnemers_vastleggen": {"praktijkbegeleider": u["praktijkbegeleider"],
                                  "praktijkbeoordelaar": u["beoordelaar_a"],
                                  "roc_beoordelaar": u["rocbeoordelaar_a"], "vaststeller": u["commissie_a"]},
        "goedkeuren_praktijkbegeleider": {"goedkeuring": True},
        "opdracht_vaststellen": {"opdracht_besluit": "vastgesteld", "bevestiging": True},
        "afspraken_plannen": {"uitvoeringsdatum": "2027-02-01", "beoordelingsdatum": "2027-02-10"},
    }[step]


def open_task(uow_factory, instance_id: int) -> HumanTask:
    with uow_factory() as uow:
        task = uow.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                          HumanTask.status == "open"))
        uow.session.expunge(task)
        return task


def open_tasks(uow_factory, instance_id: int) -> list[HumanTask]:
    with uow_factory() as uow:
        tasks = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                            HumanTask.status == "open")
                                    .order_by(HumanTask.id)).all()
        for t in tasks:
            uow.session.expunge(t)
        return list(tasks)


def holder_of(element_id: str, student: str = "student_a") -> str:
    holder = HOLDERS[element_id]
    return student if holder == "student_a" else holder


def complete(world, uow_factory, task: HumanTask, student: str = "student_a", fail=frozenset(), data=None):
    """Completes a task as its holder with valid data (or ``data``)."""
    model = None
    if task.form_key in ("beoordelen", "consensus"):
        from processes.models import ExamAssignment

        with uow_factory() as uow:
            model = uow.session.get(ExamAssignment, task.instance_id).assessment_model
    payload = data if data is not None else full_data(world, task.element_id, model, fail)
    return runner.complete_task(task.id, world.users[holder_of(task.element_id, student)], payload,
                                uow_factory())


def deliver_results(uow_factory, instance_id: int) -> bool:
    """What the outbox worker does when the student information system accepted the result: mark the
    message delivered and let the exam know (ends the 2-day window). False if nothing was pending."""
    from processes.models import OutboxMessage
    from processes.runner import record_delivery

    with uow_factory() as uow:
        s = uow.session
        pending = s.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == instance_id,
                                                        OutboxMessage.status == "pending")).all()
        for message in pending:
            message.status = "delivered"
            record_delivery(s, message)
        uow.commit()
    return bool(pending)


def walk_to(world, uow_factory, instance_id: int, element_id: str | None, student: str = "student_a",
            fail=frozenset(), deliver: bool = True) -> int | None:
    """Completes open tasks in order until ``element_id`` is open (returns its task id) or the end;
    a result waiting for delivery is delivered on the way."""
    for _ in range(80):
        tasks = open_tasks(uow_factory, instance_id)
        if not tasks and deliver and deliver_results(uow_factory, instance_id):
            continue
        if not tasks:
            return None
        for t in tasks:
            if t.element_id == element_id:
                return t.id
        complete(world, uow_factory, tasks[0], student, fail)
    raise AssertionError(f"{element_id} never opened")


def start_and_walk_to(world, uow_factory, element_id: str | None, student: str = "student_a",
                      fail=frozenset(), assignment_id: int | None = None,
                      deliver: bool = True) -> tuple[int, int | None]:
    """Starts a PvB at school A and completes steps until ``element_id`` is open; returns (instance, task)."""
    result = runner.start_pvb(world.schools["a"], world.students[student], world.users["begeleider_a"],
                              uow_factory(), assignment_id=assignment_id)
    return result.instance_id, walk_to(world, uow_factory, result.instance_id, element_id, student, fail,
                                       deliver)


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
