"""Firing due timers: one instance per transaction, the timer row locked for the whole of it (design 14).

A sweep reads only `timer` rows that are due (an index on status and due time), so its cost does not
grow with timers that are not yet due. A firing that fails is rolled back to a savepoint, the attempt
recorded with back-off; after the last attempt the timer becomes an incident that the admin sees and
can retry — never a silent loss.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, undefer

from handlers.calendar import use_school_calendar
from handlers.clock import use_clock
from processes import audit
from processes.db import UnitOfWork
from processes.engine import default_engine
from processes.errors import NotFound
from processes.models import ProcessInstance, School, Timer
from processes.versions import loaded_version

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF = [timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30)]
# Test hook: after each fired timer's commit, touch this file and wait (a kill test pauses a sweep here).
PAUSE_ENV = "EXAMENFLOW_TEST_PAUSE_AFTER_FIRE"


@dataclass
class SweepResult:
    fired: int = 0
    failed: int = 0
    incidents: int = 0
    instances: list[int] = field(default_factory=list)


def _due(s: Session, now: datetime):
    q = (
        select(Timer)
        .where(Timer.status == "waiting", Timer.due_at <= now,
               or_(Timer.next_attempt_at.is_(None), Timer.next_attempt_at <= now))
        .order_by(Timer.due_at, Timer.id)
        .limit(1)
    )
    if s.bind.dialect.name == "postgresql":
        # The lock is held by the transaction that fires it: a crash releases it, nothing stays claimed.
        q = q.with_for_update(skip_locked=True, of=Timer)
    return s.scalar(q)


def fire_due_timers(uow_factory: Callable[[], UnitOfWork], now: datetime, limit: int = 1000,
                    fire_fn: Callable | None = None) -> SweepResult:
    """One sweep: fires every timer due at ``now`` (at most ``limit``), one instance per transaction."""
    from processes.runner import fire_instance_timers

    fire = fire_fn or fire_instance_timers
    result = SweepResult()
    tried: set[int] = set()
    while result.fired + result.failed < limit:
        with uow_factory() as uow:
            s = uow.session
            timer = _due(s, now)
            if timer is None or timer.id in tried:
                break
            tried.add(timer.id)
            savepoint = s.begin_nested()
            try:
                fired = fire(s, timer.instance_id, now)
                savepoint.commit()
            except Exception as exc:  # noqa: BLE001 — any failure is recorded, never lost
                savepoint.rollback()
                _record_failure(s, timer, now, exc)
                result.failed += 1
                if timer.status == "incident":
                    result.incidents += 1
                uow.commit()
                continue
            uow.commit()
            result.fired += fired
            result.instances.append(timer.instance_id)
        _pause_for_tests()
    return result


def _record_failure(s: Session, timer: Timer, now: datetime, exc: Exception) -> None:
    timer.attempts += 1
    timer.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    if timer.attempts >= MAX_ATTEMPTS:
        timer.status = "incident"
        log.error("timer %s of instance %s became an incident: %s", timer.id, timer.instance_id, exc)
    else:
        timer.next_attempt_at = now + BACKOFF[min(timer.attempts - 1, len(BACKOFF) - 1)]
        log.warning("timer %s of instance %s failed (attempt %s): %s", timer.id, timer.instance_id,
                    timer.attempts, exc)


def _pause_for_tests() -> None:
    path = os.environ.get(PAUSE_ENV)
    if path:
        with open(path, "a") as f:
            f.write("fired\n")
        time.sleep(float(os.environ.get(PAUSE_ENV + "_SECONDS", "30")))


def reset_incident(timer: Timer) -> None:
    """Back to the scheduler: waiting, with a fresh count of attempts."""
    timer.status = "waiting"
    timer.attempts = 0
    timer.next_attempt_at = None
    timer.last_error = None


def retry_incident(timer_id: int, uow: UnitOfWork) -> None:
    """The operator's retry of a timer that became an incident (the web page's, with its audit event,
    is `processes.oversight.retry_timer_incident`)."""
    with uow:
        timer = uow.session.get(Timer, timer_id)
        if timer is None or timer.status != "incident":
            raise NotFound("Geen incident met dit nummer.")
        reset_incident(timer)
        uow.commit()


def next_due_at(uow: UnitOfWork) -> datetime | None:
    with uow:
        return uow.session.scalar(
            select(Timer.due_at).where(Timer.status == "waiting").order_by(Timer.due_at).limit(1)
        )


def load_for_timers(s: Session, instance_id: int, now: datetime):
    """The instance, its version and workflow, with the timers refreshed at ``now``."""
    inst = s.get(ProcessInstance, instance_id, options=[undefer(ProcessInstance.state)])
    version = loaded_version(s, inst.version_id)
    school = s.get(School, inst.school_id)
    engine = default_engine()
    wf = engine.load(version.key, version.spec_json, inst.state)
    with use_clock(now), use_school_calendar(school.settings or {}):
        engine.refresh_timers(wf)
    return inst, school, wf


__all__ = ["SweepResult", "fire_due_timers", "retry_incident", "next_due_at", "load_for_timers", "audit"]
