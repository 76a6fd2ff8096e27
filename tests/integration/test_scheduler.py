"""The scheduler fires due timers exactly once: two schedulers at once, and one killed mid-sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import forms as formlib
from processes import runner
from processes.models import AuditEvent, HumanTask, Timer
from processes.timers import fire_due_timers
from processes.versions import deploy_process
from tests.conftest import is_postgres

DUE = datetime.fromisoformat("2031-05-01T10:00:00+02:00")  # well in the future: it waits
TIMER_PROCESS = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="proef_definities" targetNamespace="https://examenflow.nl/t">
  <bpmn:process id="proef_termijn" isExecutable="true">
    <bpmn:laneSet id="proef_banen">
      <bpmn:lane id="proef_baan" name="roc_begeleider">
        <bpmn:flowNodeRef>proef_start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>wachten</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>na_het_wachten</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>proef_einde</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="proef_start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wachten" name="Wachten tot de termijn">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="wachten_timer">
        <bpmn:timeDate>{DUE.isoformat()}</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="na_het_wachten" name="Na het wachten" camunda:formKey="uitvoering_afronden">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="proef_einde"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="proef_start" targetRef="wachten" />
    <bpmn:sequenceFlow id="f2" sourceRef="wachten" targetRef="na_het_wachten" />
    <bpmn:sequenceFlow id="f3" sourceRef="na_het_wachten" targetRef="proef_einde" />
  </bpmn:process>
</bpmn:definitions>
"""


def start_waiting(world, uow_factory, n: int) -> list[int]:
    deploy_process(TIMER_PROCESS.encode(), "proef_termijn", formlib.load_form_dir(formlib.shipped_forms_dir()),
                   None, uow_factory())
    return [runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"],
                             uow_factory(), process_id="proef_termijn").instance_id for _ in range(n)]


def fired_per_instance(uow_factory) -> dict[int, int]:
    with uow_factory() as uow:
        rows = uow.session.execute(
            select(AuditEvent.instance_id, func.count()).where(AuditEvent.action == "timer_fired")
            .group_by(AuditEvent.instance_id)
        ).all()
    return dict(rows)


def scheduler_cmd(db_url: str, tmp_path: Path, now: datetime, extra_env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db_url, "EXAMENFLOW_SECRET_KEY": "test",
           "EXAMENFLOW_INSTANCE_DIR": str(tmp_path / "instance"), **(extra_env or {})}
    exe = Path(sys.executable).parent / "examenflow"
    return subprocess.Popen([str(exe), "scheduler", "--once", "--now", now.isoformat()], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_timer_waits_until_due_and_fires_once(world, uow_factory):
    (instance_id,) = start_waiting(world, uow_factory, 1)
    with uow_factory() as uow:
        (timer,) = uow.session.scalars(select(Timer).where(Timer.instance_id == instance_id)).all()
        assert (timer.status, timer.due_at) == ("waiting", DUE)
    assert fire_due_timers(uow_factory, DUE - timedelta(seconds=1)).fired == 0
    assert fire_due_timers(uow_factory, DUE).fired == 1
    assert fire_due_timers(uow_factory, DUE + timedelta(hours=1)).fired == 0
    assert fired_per_instance(uow_factory) == {instance_id: 1}
    with uow_factory() as uow:
        task = uow.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                          HumanTask.status == "open"))
        assert task.element_id == "na_het_wachten"


def test_a_failing_timer_is_retried_then_becomes_an_incident_and_can_be_retried(world, uow_factory):
    from processes.timers import MAX_ATTEMPTS, retry_incident

    (instance_id,) = start_waiting(world, uow_factory, 1)

    def broken(session, instance_id, now):
        raise RuntimeError("kapot")

    now = DUE
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result = fire_due_timers(uow_factory, now, fire_fn=broken)
        assert result.failed == 1
        with uow_factory() as uow:
            timer = uow.session.scalar(select(Timer).where(Timer.instance_id == instance_id))
            assert timer.attempts == attempt
            status, last_error, timer_id = timer.status, timer.last_error, timer.id
        # Not retried before its back-off has passed.
        assert fire_due_timers(uow_factory, now, fire_fn=broken).failed == 0
        now = now + timedelta(hours=1)
    assert status == "incident" and "kapot" in last_error
    assert fire_due_timers(uow_factory, now + timedelta(days=1)).fired == 0  # an incident waits for a person
    retry_incident(timer_id, uow_factory())
    assert fire_due_timers(uow_factory, now + timedelta(days=1)).fired == 1
    assert fired_per_instance(uow_factory) == {instance_id: 1}


@pytest.mark.skipif(not is_postgres(), reason="two schedulers need PostgreSQL's SKIP LOCKED")
def test_two_schedulers_fire_a_thousand_timers_each_exactly_once(world, uow_factory, db_url, tmp_path):
    ids = start_waiting(world, uow_factory, 1000)
    procs = [scheduler_cmd(db_url, tmp_path, DUE + timedelta(seconds=1)) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    counts = [int(out.split()[0]) for out, _err in outputs]
    assert sum(counts) == 1000 and all(c > 0 for c in counts), counts  # both did work, together all of it
    assert fired_per_instance(uow_factory) == dict.fromkeys(ids, 1)


def test_a_scheduler_killed_mid_sweep_loses_nothing_and_doubles_nothing(world, uow_factory, db_url, tmp_path):
    ids = start_waiting(world, uow_factory, 5)
    marker = tmp_path / "paused"
    proc = scheduler_cmd(db_url, tmp_path, DUE, {"EXAMENFLOW_TEST_PAUSE_AFTER_FIRE": str(marker),
                                                 "EXAMENFLOW_TEST_PAUSE_AFTER_FIRE_SECONDS": "60"})
    deadline = time.monotonic() + 60
    while not (marker.exists() and marker.read_text().strip()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the scheduler never fired a timer"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert sum(fired_per_instance(uow_factory).values()) == 1  # one fired and committed before the kill

    assert fire_due_timers(uow_factory, DUE).fired == 4
    assert fired_per_instance(uow_factory) == dict.fromkeys(ids, 1)
    with uow_factory() as uow:
        statuses = uow.session.scalars(select(Timer.status).where(Timer.instance_id.in_(ids))).all()
    assert statuses == ["fired"] * 5
