"""Moving running exams to a newer version of their process (issue 6, decision D16).

A dry run says per running instance whether it can move, why not, and what moving does to it: it
performs the real move inside a transaction that is rolled back, so what it reports is what applying
would do. Applying is one transaction and one audit event (``instance_migrated``) per instance; an
instance that cannot move stays untouched. Both are logged in ``process_change``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from handlers.calendar import to_amsterdam, use_school_calendar
from handlers.clock import use_clock
from processes import audit
from processes.db import UnitOfWork
from processes.engine import IncompatibleState, default_engine
from processes.errors import BadRequest, ExamflowError, NotFound
from processes.models import Deadline, ProcessChange, ProcessInstance, ProcessVersion, School, Timer, User, utcnow
from processes.process_editor import require_process_owner
from processes.versions import LoadedVersion, loaded_version

log = logging.getLogger(__name__)

MAX_INSTANCES_PER_RUN = 500


@dataclass
class InstancePlan:
    instance_id: int
    title: str
    from_version: int
    can_move: bool
    reasons: list[str] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)


@dataclass
class MigrationOutcome:
    moved: list[int] = field(default_factory=list)
    refused: dict[int, list[str]] = field(default_factory=dict)


def _target(s: Session, school_id: int, process_id: str, version_id: int) -> ProcessVersion:
    pv = s.get(ProcessVersion, version_id)
    if pv is None or pv.process_id != process_id or pv.school_id not in (None, school_id):
        raise NotFound("Onbekende doelversie van dit proces.")
    return pv


def _candidates(s: Session, school_id: int, process_id: str, target: ProcessVersion) -> list[int]:
    return list(s.scalars(
        select(ProcessInstance.id).join(ProcessVersion, ProcessVersion.id == ProcessInstance.version_id)
        .where(ProcessInstance.school_id == school_id, ProcessInstance.status == "running",
               ProcessVersion.process_id == process_id, ProcessVersion.version < target.version)
        .order_by(ProcessInstance.id).limit(MAX_INSTANCES_PER_RUN)
    ))


def _day(value: datetime | None) -> str:
    return to_amsterdam(value).strftime("%d-%m-%Y %H:%M") if value else "onbekend"


def _move(s: Session, inst: ProcessInstance, target: LoadedVersion, actor: User, role: str,
          now: datetime) -> InstancePlan:
    """Moves one instance in the caller's transaction; the plan row says what it did (or why not)."""
    from processes.runner import _claim, _ctx_factory, _run_step, _store_state, exam_context, sync_index

    old = loaded_version(s, inst.version_id)
    plan = InstancePlan(inst.id, inst.title, old.version, can_move=False)
    engine = default_engine()
    try:
        wf = engine.load(old.key, old.spec_json, inst.state)
    except IncompatibleState as exc:
        plan.reasons.append(str(exc))
        return plan
    timers_before = {t.guid: t for t in engine.waiting_timers(wf)}
    tasks_before = {t.guid: t for t in engine.ready_user_tasks(wf)}
    school = s.get(School, inst.school_id)
    with use_clock(now), use_school_calendar(school.settings or {}):
        # Resetting a waiting timer evaluates its expression anew: with the school's calendar.
        try:
            check = engine.migrate(wf, target.key, target.spec_json)
        except Exception as exc:  # noqa: BLE001 - whatever the engine cannot do, the exam stays as it was
            log.exception("migrating instance %s to version %s failed", inst.id, target.id)
            plan.reasons.append(f"De procesmotor kan dit examen niet verplaatsen ({type(exc).__name__}).")
            return plan
        if check.blocking:
            plan.reasons += check.blocking
            return plan
        _claim(s, inst, inst.revision)
        inst.version_id = target.id
        exam = exam_context(s, inst, target, actor, role, now)
        try:
            _run_step(lambda: engine.run(wf, _ctx_factory(inst, school, exam)), "Migratie")
        except ExamflowError as exc:
            plan.reasons.append(f"Na het verplaatsen loopt het proces vast: {exc.message}")
            return plan
    status = "completed" if engine.is_completed(wf) else "running"
    _store_state(s, inst, engine.dump(wf), status, now)
    s.flush()
    sync_index(s, inst, wf, now)
    timers_after = {t.guid: t for t in engine.waiting_timers(wf)}
    # A timer evaluated anew keeps its task: bring the index rows' due times along.
    for row in s.scalars(select(Timer).where(Timer.instance_id == inst.id, Timer.status == "waiting")):
        if row.task_guid in timers_after:
            row.due_at = timers_after[row.task_guid].due_at
    for row in s.scalars(select(Deadline).where(Deadline.instance_id == inst.id, Deadline.closed_at.is_(None))):
        if row.timer_guid in timers_after:
            row.due_at = timers_after[row.timer_guid].due_at
    for guid, before in timers_before.items():
        after = timers_after.get(guid)
        if after is None:
            plan.effects.append(f"Termijn {before.element_id} (nu {_day(before.due_at)}) vervalt.")
        elif after.due_at != before.due_at:
            plan.effects.append(f"Termijn {before.element_id} wordt opnieuw berekend: nu {_day(before.due_at)}, "
                                f"na verplaatsen {_day(after.due_at)}.")
        else:
            plan.effects.append(f"Termijn {before.element_id} wordt opnieuw berekend en blijft {_day(after.due_at)}.")
    for guid, t in timers_after.items():
        if guid not in timers_before:
            plan.effects.append(f"Nieuwe termijn {t.element_id}: {_day(t.due_at)}.")
    tasks_after = {t.guid: t for t in engine.ready_user_tasks(wf)}
    for guid, t in tasks_before.items():
        if guid in tasks_after:
            plan.effects.append(f"Open taak '{t.name}' wordt opnieuw klaargezet met de gegevens van de vorige "
                                "stap (een formulier wordt pas bij afronden opgeslagen: er gaat niets verloren).")
        else:
            plan.effects.append(f"Open taak '{t.name}' vervalt.")
    for guid, t in tasks_after.items():
        if guid not in tasks_before:
            plan.effects.append(f"Nieuwe open taak '{t.name}' ({t.lane}).")
    if not plan.effects:
        plan.effects.append("Geen lopende stap verandert; latere stappen volgen de nieuwe versie.")
    plan.can_move = True
    audit.append_event(s, inst, actor_id=actor.id, actor_name=actor.name, role=role, action="instance_migrated",
                       summary=f"Verplaatst van versie {old.version} naar versie {target.version}",
                       data={"from": old.id, "to": target.id},
                       details={"from_version": old.version, "to_version": target.version,
                                "effects": plan.effects}, now=now)
    s.flush()
    return plan


def _load_instance(s: Session, instance_id: int) -> ProcessInstance | None:
    return s.get(ProcessInstance, instance_id, options=[undefer(ProcessInstance.state)])


def plan_migration(school_id: int, process_id: str, target_version_id: int, user_id: int,
                   uow: UnitOfWork) -> list[InstancePlan]:
    """The dry run: every running instance of an older version at the school, each moved in a
    transaction of its own that is rolled back."""
    with uow:
        s = uow.session
        require_process_owner(s, user_id, school_id)
        target = _target(s, school_id, process_id, target_version_id)
        ids = _candidates(s, school_id, process_id, target)
    plans = []
    for instance_id in ids:
        with uow:
            s = uow.session
            actor, role = require_process_owner(s, user_id, school_id)
            inst = _load_instance(s, instance_id)
            plans.append(_move(s, inst, loaded_version(s, target_version_id), actor, role, utcnow()))
            uow.rollback()
    return plans


def apply_migration(school_id: int, process_id: str, target_version_id: int, instance_ids: list[int] | None,
                    user_id: int, uow: UnitOfWork) -> MigrationOutcome:
    """Moves the chosen running instances (None: all that can move), each in its own transaction
    with its own audit event; one that cannot move is left exactly as it was."""
    with uow:
        s = uow.session
        actor, role = require_process_owner(s, user_id, school_id)
        target = _target(s, school_id, process_id, target_version_id)
        candidates = _candidates(s, school_id, process_id, target)
        target_version = target.version
    chosen = candidates if instance_ids is None else [i for i in instance_ids if i in set(candidates)]
    if instance_ids is not None and len(chosen) != len(set(instance_ids)):
        raise BadRequest("Een van de gekozen examens loopt niet (meer) op een oudere versie van dit proces.")
    outcome = MigrationOutcome()
    for instance_id in chosen:
        with uow:
            s = uow.session
            actor, role = require_process_owner(s, user_id, school_id)
            plan = _move(s, _load_instance(s, instance_id), loaded_version(s, target_version_id), actor, role,
                         utcnow())
            if plan.can_move:
                uow.commit()
                outcome.moved.append(instance_id)
            else:
                uow.rollback()
                outcome.refused[instance_id] = plan.reasons
    with uow:
        s = uow.session
        actor, role = require_process_owner(s, user_id, school_id)
        s.add(ProcessChange(
            school_id=school_id, process_id=process_id, action="instances_migrated", version_id=target_version_id,
            actor_id=actor.id, actor_name=actor.name, role=role,
            summary=f"{len(outcome.moved)} examen(s) verplaatst naar versie {target_version}"
                    + (f", {len(outcome.refused)} niet" if outcome.refused else ""),
            details={"moved": outcome.moved, "refused": {str(k): v for k, v in outcome.refused.items()}},
        ))
        uow.commit()
    return outcome
