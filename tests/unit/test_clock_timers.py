"""The one clock (design decision 6) and the engine's timers, which follow it."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from SpiffWorkflow.util.task import TaskState

from handlers import clock
from handlers.calendar import use_school_calendar
from handlers.clock import now, parse_instant, set_process_clock, use_clock
from handlers.registry import HandlerContext
from processes.engine import (
    ClockDurationTimerEventDefinition,
    ClockTimeDateEventDefinition,
    Engine,
)
from processes.models import ROLES

# ----------------------------------------------------------------------------- the clock


@pytest.fixture(autouse=True)
def no_process_clock():
    yield
    set_process_clock(None)


def test_now_is_aware_utc_and_real_by_default():
    before = datetime.now(UTC)
    moment = now()
    assert moment.tzinfo is UTC
    assert before <= moment <= datetime.now(UTC)


def test_use_clock_sets_a_fixed_instant_and_nests():
    t0 = datetime(2026, 5, 1, 9, tzinfo=timezone(timedelta(hours=2)))
    with use_clock(t0) as instant:
        assert instant == t0 and instant.tzinfo is UTC
        assert now() == datetime(2026, 5, 1, 7, tzinfo=UTC)
        with use_clock(t0 + timedelta(days=1)):
            assert now() == datetime(2026, 5, 2, 7, tzinfo=UTC)
        assert now() == datetime(2026, 5, 1, 7, tzinfo=UTC)
    assert now() > datetime(2026, 1, 1, tzinfo=UTC) and now() != t0


def test_each_thread_has_its_own_clock():
    barrier = threading.Barrier(3)
    seen: dict[int, datetime] = {}

    def worker(i: int) -> None:
        with use_clock(datetime(2026, 5, i, tzinfo=UTC)):
            barrier.wait()  # all three clocks are set at once
            seen[i] = now()

    threads = [threading.Thread(target=worker, args=(i,)) for i in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {i: datetime(2026, 5, i, tzinfo=UTC) for i in (1, 2, 3)}


def test_the_context_clock_wins_over_the_process_clock():
    set_process_clock(lambda: datetime(2030, 1, 1, 12, tzinfo=timezone(timedelta(hours=1))))
    assert now() == datetime(2030, 1, 1, 11, tzinfo=UTC)
    with use_clock(datetime(2026, 5, 1, tzinfo=UTC)):
        assert now() == datetime(2026, 5, 1, tzinfo=UTC)
    set_process_clock(None)
    assert now().year < 2030


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="zonder tijdzone"):
        with use_clock(datetime(2026, 5, 1, 9)):
            pass  # pragma: no cover
    set_process_clock(lambda: datetime(2026, 5, 1, 9))
    with pytest.raises(ValueError, match="zonder tijdzone"):
        now()
    with pytest.raises(ValueError, match="zonder tijdzone"):
        parse_instant("2026-05-01T09:00:00")
    assert parse_instant("2026-05-01T09:00:00+02:00") == datetime(2026, 5, 1, 7, tzinfo=UTC)
    assert clock.aware(datetime(2026, 5, 1, 9, tzinfo=UTC)) == datetime(2026, 5, 1, 9, tzinfo=UTC)


# ----------------------------------------------------------------------------- engine timers

LANE = "praktijkbeoordelaar"
assert LANE in ROLES

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="termijn_definities" '
    'targetNamespace="https://examenflow.nl/test">\n'
)


def _boundary_timer(element_id: str, kind: str, expression: str) -> str:
    return (
        f'<bpmn:boundaryEvent id="{element_id}" attachedToRef="beoordelen" cancelActivity="false">'
        f"<bpmn:timerEventDefinition><bpmn:{kind}>{expression}</bpmn:{kind}></bpmn:timerEventDefinition>"
        f'</bpmn:boundaryEvent><bpmn:endEvent id="{element_id}_einde" />'
        f'<bpmn:sequenceFlow id="{element_id}_stroom" sourceRef="{element_id}" targetRef="{element_id}_einde" />'
    )


def _diagram(deadline: str = "add_working_days(start, 5)") -> bytes:
    return (
        _HEAD + '<bpmn:process id="termijnen" isExecutable="true">'
        f'<bpmn:laneSet id="banen"><bpmn:lane id="baan" name="{LANE}">'
        "<bpmn:flowNodeRef>beoordelen</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>"
        '<bpmn:startEvent id="begin" />'
        '<bpmn:userTask id="beoordelen" name="Beoordelen" camunda:formKey="beoordelen" />'
        + _boundary_timer("vijf_werkdagen", "timeDate", deadline)
        + _boundary_timer("herinnering", "timeDuration", "PT10S")
        + '<bpmn:endEvent id="klaar" />'
        '<bpmn:sequenceFlow id="s1" sourceRef="begin" targetRef="beoordelen" />'
        '<bpmn:sequenceFlow id="s2" sourceRef="beoordelen" targetRef="klaar" />'
        "</bpmn:process></bpmn:definitions>"
    ).encode()


# Thursday 30 April 2026, 09:00 in Amsterdam; five working days on is Thursday 7 May, 09:00.
T0 = datetime(2026, 4, 30, 7, 0, tzinfo=UTC)
DUE = datetime(2026, 5, 7, 7, 0, tzinfo=UTC)


def _ctx(element_id: str) -> HandlerContext:
    return HandlerContext(instance_id=None, school_id=None, element_id=element_id)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture(scope="module")
def compiled(engine: Engine):
    return engine.compile({"termijnen.bpmn": _diagram()}, "termijnen", known_roles=set(ROLES))


def _start(engine: Engine, compiled, at: datetime, key: str = "termijnen:1") -> str:
    with use_clock(at):
        wf = engine.new_workflow(key, compiled.spec_json)
        engine.set_start_data(wf, {"start": "2026-04-30T09:00:00+02:00"})
        engine.run(wf, _ctx)
        return engine.dump(wf)


def _step(engine: Engine, compiled, state: str, at: datetime, key: str = "termijnen:1"):
    """One scheduler sweep at ``at``: load, refresh the timers, run, save."""
    with use_clock(at):
        wf = engine.load(key, compiled.spec_json, state)
        engine.refresh_timers(wf)
        engine.run(wf, _ctx)
        return wf, engine.dump(wf)


def _due(engine: Engine, wf) -> dict[str, datetime]:
    return {t.element_id: t.due_at for t in engine.waiting_timers(wf)}


def _fired(wf) -> set[str]:
    return {t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.COMPLETED)} & {
        "vijf_werkdagen_einde",
        "herinnering_einde",
    }


def test_timers_wait_for_our_clock_and_fire_at_their_due_time(engine, compiled):
    assert [(t.element_id, t.lane) for t in compiled.user_tasks] == [("beoordelen", LANE)]
    state = _start(engine, compiled, T0)
    wf = engine.load("termijnen:1", compiled.spec_json, state)
    assert _due(engine, wf) == {"vijf_werkdagen": DUE, "herinnering": T0 + timedelta(seconds=10)}
    assert all(due.tzinfo is not None and due.utcoffset() == timedelta(0) for due in _due(engine, wf).values())

    wf, state = _step(engine, compiled, state, T0 + timedelta(seconds=9))
    assert set(_due(engine, wf)) == {"vijf_werkdagen", "herinnering"}
    assert _fired(wf) == set()

    wf, state = _step(engine, compiled, state, T0 + timedelta(seconds=10))
    assert _due(engine, wf) == {"vijf_werkdagen": DUE}
    assert _fired(wf) == {"herinnering_einde"}

    wf, state = _step(engine, compiled, state, DUE - timedelta(seconds=1))
    assert _due(engine, wf) == {"vijf_werkdagen": DUE}
    assert _fired(wf) == {"herinnering_einde"}

    wf, state = _step(engine, compiled, state, DUE)
    assert _due(engine, wf) == {}
    assert _fired(wf) == {"herinnering_einde", "vijf_werkdagen_einde"}
    # Non-interrupting: the assessment is still open, and ends the process.
    (task,) = engine.ready_user_tasks(wf)
    assert task.element_id == "beoordelen" and task.lane == LANE
    engine.complete_user_task(wf, task.guid, {"oordeel": "voldaan"})
    engine.run(wf, _ctx)
    assert engine.is_completed(wf)


def test_only_our_clock_counts_not_the_real_time(engine, compiled):
    state = _start(engine, compiled, T0)
    # Whatever the real date is, at T0 + 5 s by our clock nothing is due; in 2099 everything is.
    wf, _ = _step(engine, compiled, state, T0 + timedelta(seconds=5))
    assert set(_due(engine, wf)) == {"vijf_werkdagen", "herinnering"}
    wf, _ = _step(engine, compiled, state, datetime(2099, 1, 1, tzinfo=UTC))
    assert _due(engine, wf) == {}
    assert _fired(wf) == {"herinnering_einde", "vijf_werkdagen_einde"}


def test_closing_days_move_the_due_date(engine, compiled):
    # 1 May, then the school is closed 4-8 May; 11, 12, 13, Hemelvaart on 14, and 15 May.
    with use_school_calendar({"sluitingsdagen": ["2026-05-04/2026-05-08"]}):
        state = _start(engine, compiled, T0, key="termijnen:2")
    moved = datetime(2026, 5, 15, 7, 0, tzinfo=UTC)
    wf, state = _step(engine, compiled, state, DUE, key="termijnen:2")
    assert _due(engine, wf) == {"vijf_werkdagen": moved}  # evaluated once, when the timer started waiting
    wf, _ = _step(engine, compiled, state, moved, key="termijnen:2")
    assert "vijf_werkdagen_einde" in _fired(wf)


def test_timers_save_and_load_as_clock_timers(engine, compiled):
    spec = json.loads(compiled.spec_json)["spec"]["task_specs"]
    # SpiffWorkflow's own typenames, so a plain SpiffWorkflow reads the JSON and older states load.
    assert spec["vijf_werkdagen"]["event_definition"]["typename"] == "TimeDateEventDefinition"
    assert spec["herinnering"]["event_definition"]["typename"] == "DurationTimerEventDefinition"
    wf = engine.load("termijnen:1", compiled.spec_json, _start(engine, compiled, T0))
    kinds = {t.task_spec.bpmn_id: type(t.task_spec.event_definition) for t in wf.event_manager.tasks.values()}
    assert kinds == {
        "vijf_werkdagen": ClockTimeDateEventDefinition,
        "herinnering": ClockDurationTimerEventDefinition,
    }


def test_a_due_time_without_offset_is_refused_when_the_timer_starts(engine):
    compiled = engine.compile({"termijnen.bpmn": _diagram("naief")}, "termijnen", known_roles=set(ROLES))
    with use_clock(T0):
        wf = engine.new_workflow("termijnen:naief", compiled.spec_json)
        engine.set_start_data(wf, {"naief": "2026-05-07T09:00:00"})
        with pytest.raises(ValueError, match="zonder tijdzone"):
            engine.run(wf, _ctx)
