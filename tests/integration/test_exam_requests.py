"""The student's PvBs on "Mijn examens" with provisional then definitive results (R49, R38), and his
requests for inspection and his objections reaching the examencommissie as a process of their own (R34)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from processes import exam_requests, queries, runner, student_overview
from processes.errors import Conflict, Forbidden, NotFound, ValidationFailed
from processes.models import AuditEvent, ExamRequest, HumanTask, ProcessInstance
from tests.support.walk import complete, open_tasks, start_and_walk_to, walk_to


def _task(uow_factory, instance_id: int, element_id: str):
    (task,) = [t for t in open_tasks(uow_factory, instance_id) if t.element_id == element_id]
    return task


def _result(world, uow_factory, instance_id: int, student: str = "student_a"):
    (pvb,) = [p for p in student_overview.my_pvbs(world.users[student], uow_factory()) if p.instance_id == instance_id]
    return pvb


def _actions(uow_factory, instance_id: int) -> list[str]:
    with uow_factory() as uow:
        return uow.session.scalars(select(AuditEvent.action).where(AuditEvent.instance_id == instance_id)
                                   .order_by(AuditEvent.seq)).all()


def _count(uow_factory, model) -> int:
    with uow_factory() as uow:
        return uow.session.scalar(select(func.count(model.id)))


# --- R49, R38: provisional once the assessors agree, definitive once established --------------------


def test_r49_pvb_result_is_provisional_after_the_agreed_consensus_and_definitive_after_step_10(world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "consensus_vastleggen")
    pvb = _result(world, uow_factory, instance_id)
    assert pvb.result is None and pvb.current_steps == ["Consensus vastleggen"]
    complete(world, uow_factory, _task(uow_factory, instance_id, "consensus_vastleggen"))
    # Recorded, not yet confirmed by the praktijkbeoordelaar: not the assessors' agreed judgement.
    assert _result(world, uow_factory, instance_id).result is None
    complete(world, uow_factory, _task(uow_factory, instance_id, "consensus_bevestigen"))
    pvb = _result(world, uow_factory, instance_id)
    assert pvb.result is not None and not pvb.result.definitive and pvb.result.outcome == "voldaan"
    assert pvb.current_steps == ["Eindbeoordeling vaststellen"]
    complete(world, uow_factory, _task(uow_factory, instance_id, "eindbeoordeling_vaststellen"))
    pvb = _result(world, uow_factory, instance_id)
    assert pvb.result.definitive and pvb.result.outcome == "voldaan"


def test_r49_a_consensus_sent_back_by_the_vaststeller_is_no_longer_shown_until_agreed_again(world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "eindbeoordeling_vaststellen")
    assert _result(world, uow_factory, instance_id).result is not None
    complete(world, uow_factory, _task(uow_factory, instance_id, "eindbeoordeling_vaststellen"),
             data={"eind_besluit": "terug_naar_consensus", "eind_reden": "Onderbouw c2.", "bevestiging": True})
    complete(world, uow_factory, _task(uow_factory, instance_id, "consensus_vastleggen"), fail={"c2"})
    assert _result(world, uow_factory, instance_id).result is None
    complete(world, uow_factory, _task(uow_factory, instance_id, "consensus_bevestigen"))
    result = _result(world, uow_factory, instance_id).result
    assert result is not None and not result.definitive


def test_only_the_students_own_pvbs_are_listed(world, uow_factory):
    mine, _ = start_and_walk_to(world, uow_factory, "opdracht_verwerven")
    other, _ = start_and_walk_to(world, uow_factory, "opdracht_verwerven", student="student_a2")
    assert [p.instance_id for p in student_overview.my_pvbs(world.users["student_a"], uow_factory())] == [mine]
    pvb = _result(world, uow_factory, mine)
    assert pvb.open_task == "Opdracht verwerven" and pvb.open_task_id is not None
    assert other not in [p.instance_id for p in student_overview.my_pvbs(world.users["student_a"], uow_factory())]


# --- R34: an objection is a task for the examencommissie, the decision reaches the student ------------


@pytest.fixture
def established_pvb(world, uow_factory) -> int:
    instance_id, _ = start_and_walk_to(world, uow_factory, "afsluiten")
    return instance_id


def test_r34_objection_reaches_the_committee_of_the_school_and_the_student_sees_the_decision(
        world, uow_factory, established_pvb):
    lodged = exam_requests.lodge_request(established_pvb, world.users["student_a"], "bezwaar",
                                         "  c2 is wel laten zien tijdens de uitvoering.  ", "pvb", True, uow_factory())
    # Every member of school A's committee sees it (no member recorded for the request), school B's not.
    (task_id,) = lodged.open_task_ids
    for who in ("commissie_a", "commissie_a2"):
        assert task_id in {r.task_id for r in queries.list_my_tasks(world.users[who], uow_factory()).items}
    for who in ("commissie_b", "student_a", "begeleider_a"):
        assert task_id not in {r.task_id for r in queries.list_my_tasks(world.users[who], uow_factory()).items}
    view = queries.get_task(task_id, world.users["commissie_a"], uow_factory())
    assert view.step == "Verzoek behandelen" and view.request.reason == "c2 is wel laten zien tijdens de uitvoering."
    assert view.request.kind == "bezwaar" and "definitief" in view.request.result_label
    assert view.request.exam_instance_id == established_pvb
    # Traceable in both trails: the exam's and the request's own.
    assert _actions(uow_factory, established_pvb)[-1] == "objection_lodged"
    assert _actions(uow_factory, lodged.instance_id) == ["instance_started"]

    # Bezwaar is decided gegrond/ongegrond, never with an inspection arrangement; refused, nothing changes.
    with pytest.raises(ValidationFailed) as exc:
        runner.complete_task(task_id, world.users["commissie_a"],
                             {"besluit": "afspraak", "afspraak": "Dinsdag 10:00", "bevestiging": True}, uow_factory())
    assert "besluit" in exc.value.errors
    with pytest.raises(ValidationFailed) as exc:
        runner.complete_task(task_id, world.users["commissie_a"], {"besluit": "ongegrond", "bevestiging": True},
                             uow_factory())
    assert "motivering" in exc.value.errors
    assert _actions(uow_factory, lodged.instance_id) == ["instance_started"]

    runner.complete_task(task_id, world.users["commissie_a"],
                         {"besluit": "ongegrond", "motivering": "Het bewijs laat c2 niet zien.", "bevestiging": True},
                         uow_factory())
    decided = exam_requests.my_requests(world.users["student_a"], uow_factory())[established_pvb]
    assert [(r.status, r.decision, r.decision_label, r.decision_text) for r in decided] == [
        ("besloten", "ongegrond", "Bezwaar ongegrond", "Het bewijs laat c2 niet zien.")]
    assert _actions(uow_factory, established_pvb)[-1] == "request_decided"
    (read,) = open_tasks(uow_factory, lodged.instance_id)
    assert read.element_id == "besluit_inzien" and read.assignee_id == world.users["student_a"]
    view = queries.get_task(read.id, world.users["student_a"], uow_factory())
    assert view.request.decision_text == "Het bewijs laat c2 niet zien."
    result = runner.complete_task(read.id, world.users["student_a"], {"bevestiging": True}, uow_factory())
    assert result.status == "completed"
    assert exam_requests.my_requests(world.users["student_a"], uow_factory())[established_pvb][0].status == "gelezen"
    assert _actions(uow_factory, lodged.instance_id) == [
        "instance_started", "task_completed", "request_decided", "task_completed", "request_decision_read",
        "instance_completed"]


def test_r34_inspection_is_arranged_by_the_committee(world, uow_factory, established_pvb):
    lodged = exam_requests.lodge_request(established_pvb, world.users["student_a"], "inzage",
                                         "Ik wil zien hoe c2 is beoordeeld.", None, True, uow_factory())
    (task_id,) = lodged.open_task_ids
    with pytest.raises(ValidationFailed):
        runner.complete_task(task_id, world.users["commissie_a2"],
                             {"besluit": "gegrond", "motivering": "x", "bevestiging": True}, uow_factory())
    runner.complete_task(task_id, world.users["commissie_a2"],
                         {"besluit": "afspraak", "afspraak": "Dinsdag 10:00, lokaal 2.14, bij C. Commissie.",
                          "bevestiging": True}, uow_factory())
    (req,) = exam_requests.my_requests(world.users["student_a"], uow_factory())[established_pvb]
    assert req.decision_label == "Inzage geregeld" and "lokaal 2.14" in req.decision_text
    assert _actions(uow_factory, established_pvb)[-2:] == ["inspection_requested", "request_decided"]


# --- who may, and bad input: refused, nothing created ---------------------------------------------------


def _nothing_created(uow_factory, before: tuple[int, int, int]) -> bool:
    return (_count(uow_factory, ExamRequest), _count(uow_factory, ProcessInstance),
            _count(uow_factory, HumanTask)) == before


def test_r34_only_the_student_of_the_exam_may_ask_and_bad_input_creates_nothing(world, uow_factory,
                                                                                established_pvb):
    before = (_count(uow_factory, ExamRequest), _count(uow_factory, ProcessInstance), _count(uow_factory, HumanTask))
    audit_before = _actions(uow_factory, established_pvb)
    for who in ("student_a2", "begeleider_a", "commissie_a", "student_b"):
        with pytest.raises(Forbidden):
            exam_requests.lodge_request(established_pvb, world.users[who], "bezwaar", "Oneens.", "pvb", True,
                                        uow_factory())
    with pytest.raises(NotFound):
        exam_requests.lodge_request(999_999, world.users["student_a"], "bezwaar", "Oneens.", "pvb", True, uow_factory())
    bad = [
        (dict(kind="klacht"), "soort"),
        (dict(reason="   "), "reden"),
        (dict(reason="x" * 5001), "reden"),
        (dict(result_key=None), "resultaat"),
        (dict(result_key="resultaat-1"), "resultaat"),
        (dict(confirmed=False), "bevestiging"),
    ]
    for change, field in bad:
        args = {"kind": "bezwaar", "reason": "Oneens.", "result_key": "pvb", "confirmed": True, **change}
        with pytest.raises(ValidationFailed) as exc:
            exam_requests.lodge_request(established_pvb, world.users["student_a"], args["kind"], args["reason"],
                                        args["result_key"], args["confirmed"], uow_factory())
        assert field in exc.value.errors, (change, exc.value.errors)
    assert _nothing_created(uow_factory, before)
    assert _actions(uow_factory, established_pvb) == audit_before


def test_r34_no_request_before_there_is_a_result_and_no_second_one_while_the_first_is_open(world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "consensus_vastleggen")
    with pytest.raises(Conflict, match="nog geen resultaat"):
        exam_requests.lodge_request(instance_id, world.users["student_a"], "inzage", "Graag.", None, True,
                                    uow_factory())
    walk_to(world, uow_factory, instance_id, "eindbeoordeling_vaststellen")
    exam_requests.lodge_request(instance_id, world.users["student_a"], "bezwaar", "Oneens met c2.", "pvb", True,
                                uow_factory())
    with pytest.raises(Conflict, match="al een verzoek"):
        exam_requests.lodge_request(instance_id, world.users["student_a"], "bezwaar", "Nog eens.", "pvb", True,
                                    uow_factory())
