"""A failed step leaves the instance exactly as it was (design decision 1), and a retry succeeds."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

import handlers.registry as registry
from processes import audit, runner
from processes.errors import StepFailed
from tests.support.walk import full_data, open_task, snapshot, start_and_walk_to


def test_handler_failure_after_the_engine_ran_changes_nothing(world, uow_factory, monkeypatch):
    # Completing the planning runs the service task `afspraken_controleren` after the user task.
    instance_id, task_id = start_and_walk_to(world, uow_factory, "afspraken_plannen")
    before = snapshot(uow_factory, instance_id)

    def broken(data, ctx):
        raise ConnectionError("receiver down")

    monkeypatch.setitem(registry._SERVICE_HANDLERS, "check_appointments", broken)
    with pytest.raises(StepFailed) as exc:
        runner.complete_task(task_id, world.users["student_a"], full_data(world, "afspraken_plannen"),
                             uow_factory())
    assert "niets gewijzigd" in exc.value.message
    assert snapshot(uow_factory, instance_id) == before

    monkeypatch.undo()
    result = runner.complete_task(task_id, world.users["student_a"], full_data(world, "afspraken_plannen"),
                                  uow_factory())
    assert result.revision == before["instance"][0] + 1
    assert open_task(uow_factory, instance_id).element_id == "bewijsstukken_uploaden"


def test_failing_audit_insert_changes_nothing(world, uow_factory, monkeypatch):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "opdracht_verwerven")
    before = snapshot(uow_factory, instance_id)
    original = audit.append_event

    def append_then_break(*args, **kwargs):
        ev = original(*args, **kwargs)
        ev.action = None  # NOT NULL: the insert fails at commit, after state and index were written
        return ev

    monkeypatch.setattr(runner.audit, "append_event", append_then_break)
    with pytest.raises(IntegrityError):
        runner.complete_task(task_id, world.users["student_a"], full_data(world, "opdracht_verwerven"),
                             uow_factory())
    assert snapshot(uow_factory, instance_id) == before

    monkeypatch.undo()
    runner.complete_task(task_id, world.users["student_a"], full_data(world, "opdracht_verwerven"),
                         uow_factory())
    after = snapshot(uow_factory, instance_id)
    assert after["instance"][0] == before["instance"][0] + 1
    # The step's own events (the completion and the assignment change it wrote), nothing else.
    assert len(after["audit"]) == len(before["audit"]) + 2
