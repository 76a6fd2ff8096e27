"""The engine runner: start an instance, complete a task — each one transaction (decisions 1–4).

check the policy → validate the form → load the instance → run the engine until it waits →
save the state under an optimistic lock → sync the index tables → append the audit events.
Any error rolls everything back; an in-memory workflow is never reused after a failed step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, undefer
from sqlalchemy.orm.attributes import set_committed_value

import forms as formlib
from handlers.registry import HandlerContext
from processes import assessment, audit, policy
from processes.db import UnitOfWork
from processes.engine import TaskNotReady, default_engine
from processes.errors import BadRequest, Conflict, NotFound, StepFailed, ValidationFailed
from processes.models import (
    SCHOOL_WIDE_ROLES,
    HumanTask,
    Participant,
    ProcessInstance,
    RoleMembership,
    School,
    Student,
    Timer,
    User,
    utcnow,
)
from processes.versions import LoadedVersion, latest_version_id, loaded_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    instance_id: int
    revision: int
    status: str
    open_task_ids: list[int]


# ----------------------------------------------------------------------------- helpers


def _ctx_factory(inst: ProcessInstance, school: School):
    def make(element_id: str) -> HandlerContext:
        return HandlerContext(
            instance_id=inst.id, school_id=inst.school_id, element_id=element_id,
            settings=dict(school.settings or {}),
        )

    return make


def person_choices(session: Session, form: formlib.FormDef, school_id: int) -> dict[str, list[dict]]:
    """For every person field: the users holding its role at the exam's school."""
    choices: dict[str, list[dict]] = {}
    for field in form.fields:
        if field.type != "person":
            continue
        rows = session.execute(
            select(User.id, User.name)
            .join(RoleMembership, RoleMembership.user_id == User.id)
            .where(
                RoleMembership.school_id == school_id,
                RoleMembership.role == field.role,
                User.active.is_(True),
            )
            .order_by(User.name)
        ).all()
        choices[field.name] = [{"value": r.id, "label": r.name} for r in rows]
    return choices


def criteria_model_for(form: formlib.FormDef, school: School) -> dict | None:
    if not any(f.type == "criteria" for f in form.fields):
        return None
    return assessment.model_for(school.settings)


def _participants(session: Session, instance_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Participant.role, Participant.user_id).where(Participant.instance_id == instance_id)
    ).all()
    return {r.role: r.user_id for r in rows}


def set_participant(session: Session, instance_id: int, role: str, user_id: int) -> None:
    """Records who holds ``role`` in an exam; open tasks of that lane follow him (R7)."""
    row = session.scalar(
        select(Participant).where(Participant.instance_id == instance_id, Participant.role == role)
    )
    if row is None:
        session.add(Participant(instance_id=instance_id, role=role, user_id=user_id))
    else:
        row.user_id = user_id
    session.execute(
        update(HumanTask)
        .where(HumanTask.instance_id == instance_id, HumanTask.lane_role == role,
               HumanTask.status == "open")
        .values(assignee_id=user_id)
        .execution_options(synchronize_session=False)
    )


def sync_index(session: Session, inst: ProcessInstance, wf, now: datetime) -> list[HumanTask]:
    """Brings ``human_task`` and ``timer`` in line with the workflow; returns new open tasks."""
    engine = default_engine()
    ready = {t.guid: t for t in engine.ready_user_tasks(wf)}
    open_rows = session.scalars(
        select(HumanTask).where(HumanTask.instance_id == inst.id, HumanTask.status == "open")
    ).all()
    for row in open_rows:
        if row.task_guid not in ready:
            row.status = "cancelled"
            row.completed_at = now
    known = {row.task_guid for row in open_rows}
    participants = _participants(session, inst.id)
    new_rows = []
    for guid, t in ready.items():
        if guid in known:
            continue
        assignee = participants.get(t.lane)
        row = HumanTask(
            instance_id=inst.id, task_guid=guid, element_id=t.element_id, name=t.name,
            lane_role=t.lane, form_key=t.form_key, status="open", assignee_id=assignee,
            school_id=inst.school_id, student_id=inst.student_id, created_at=now,
        )
        if assignee is None and t.lane not in SCHOOL_WIDE_ROLES:
            log.warning("task %s of instance %s has nobody in lane %s", t.element_id, inst.id, t.lane)
        session.add(row)
        new_rows.append(row)

    waiting = {t.guid: t for t in engine.waiting_timers(wf)}
    timer_rows = session.scalars(
        select(Timer).where(Timer.instance_id == inst.id, Timer.status == "waiting")
    ).all()
    for row in timer_rows:
        if row.task_guid not in waiting:
            row.status = "done"
    known_timers = {row.task_guid for row in timer_rows}
    for guid, t in waiting.items():
        if guid not in known_timers:
            session.add(Timer(instance_id=inst.id, task_guid=guid, element_id=t.element_id,
                              due_at=t.due_at, status="waiting"))
    session.flush()
    return new_rows


def _save_state(session: Session, inst: ProcessInstance, state: str, status: str, seen: int,
                now: datetime) -> None:
    """The optimistic lock of decision 2: zero rows means someone else saved first."""
    result = session.execute(
        update(ProcessInstance)
        .where(ProcessInstance.id == inst.id, ProcessInstance.revision == seen)
        .values(revision=seen + 1, state=state, status=status, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise _LostRace()
    for attr, value in (("revision", seen + 1), ("state", state), ("status", status), ("updated_at", now)):
        set_committed_value(inst, attr, value)


class _LostRace(Exception):
    pass


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "could not serialize" in text or "deadlock" in text


def _run_step(step, what: str) -> None:
    try:
        step()
    except Exception as exc:
        log.exception("engine step %r failed", what)
        raise StepFailed(
            f"De stap '{what}' kon niet worden uitgevoerd ({type(exc).__name__}). "
            "Er is niets gewijzigd; probeer het later opnieuw."
        ) from exc


# ----------------------------------------------------------------------------- use cases


def start_pvb(school_id: int, student_id: int, actor_id: int, uow: UnitOfWork,
              title: str = "", process_id: str = "pvb") -> StepResult:
    """Starts a PvB for a student (step 1, aanmaken). The actor becomes its roc_begeleider."""
    with uow:
        s = uow.session
        actor = s.get(User, actor_id)
        if actor is None:
            raise NotFound("Onbekende gebruiker.")
        student = s.get(Student, student_id)
        if student is None or student.school_id != school_id:
            raise NotFound("Onbekende student op deze school.")
        school = s.get(School, school_id)
        role = policy.require_role(s, actor, school_id, ("roc_begeleider", "beheerder"),
                                   "een PvB starten")
        version = loaded_version(s, latest_version_id(s, process_id))
        now = utcnow()
        inst = ProcessInstance(
            version_id=version.id, school_id=school_id, student_id=student.id,
            title=title or f"PvB {student.user.name}", status="running", revision=1,
            started_by_id=actor.id, started_at=now, updated_at=now,
        )
        s.add(inst)
        s.flush()
        s.add(Participant(instance_id=inst.id, role="student", user_id=student.user_id))
        if role == "roc_begeleider":
            s.add(Participant(instance_id=inst.id, role="roc_begeleider", user_id=actor.id))
        s.flush()
        engine = default_engine()
        wf = engine.new_workflow(version.key, version.spec_json)
        _run_step(lambda: engine.run(wf, _ctx_factory(inst, school)), "Start")
        inst.state = engine.dump(wf)
        inst.status = "completed" if engine.is_completed(wf) else "running"
        new = sync_index(s, inst, wf, now)
        audit.append_event(
            s, inst, actor_id=actor.id, actor_name=actor.name, role=role,
            action="instance_started", summary=f"{inst.title} gestart (versie {version.version})",
            data={"process_id": process_id, "version": version.version, "student_id": student.id},
            now=now,
        )
        uow.commit()
        return StepResult(inst.id, inst.revision, inst.status, [t.id for t in new])


def complete_task(task_id: int, actor_id: int, data: dict, uow: UnitOfWork,
                  *, from_html: bool = False) -> StepResult:
    """Completes an open user task with validated form data (one transaction)."""
    if not isinstance(data, dict):
        raise BadRequest("De gegevens moeten een object met velden zijn.")
    for attempt in range(3):
        try:
            return _complete_task_once(task_id, actor_id, data, uow, from_html)
        except _LostRace:
            raise _conflict_for(task_id, uow) from None
        except OperationalError as exc:
            # SQLite cannot upgrade a stale snapshot to a writer; re-run the step on fresh data.
            if not _is_lock_error(exc) or attempt == 2:
                raise
            log.info("retrying completion of task %s after a lock error", task_id)
    raise AssertionError("unreachable")


def _conflict_for(task_id: int, uow: UnitOfWork) -> Conflict:
    with uow:
        row = uow.session.execute(
            select(HumanTask.status, HumanTask.completed_at, User.name)
            .outerjoin(User, User.id == HumanTask.completed_by_id)
            .where(HumanTask.id == task_id)
        ).one_or_none()
    if row is not None and row.status == "completed" and row.name:
        return _done_conflict(row.name, row.completed_at)
    return Conflict("Het examen is intussen door iemand anders gewijzigd. Laad de taak opnieuw.")


def _done_conflict(name: str, at: datetime | None) -> Conflict:
    when = at.strftime("%d-%m-%Y %H:%M:%S UTC") if at else "onbekend"
    return Conflict(f"Deze taak is al afgerond door {name} op {when}.", by=name, at=at)


def _complete_task_once(task_id: int, actor_id: int, data: dict, uow: UnitOfWork,
                        from_html: bool) -> StepResult:
    with uow:
        s = uow.session
        task = s.get(HumanTask, task_id)
        if task is None:
            raise NotFound("Onbekende taak.")
        actor = s.get(User, actor_id)
        if actor is None:
            raise NotFound("Onbekende gebruiker.")
        if task.status == "completed":
            raise _done_conflict(task.completed_by.name if task.completed_by else "onbekend",
                                 task.completed_at)
        if task.status != "open":
            raise Conflict("Deze taak is niet meer open: het examen is verder gegaan.")
        policy.require_can_act(s, actor, task)

        inst = s.get(ProcessInstance, task.instance_id, options=[undefer(ProcessInstance.state)])
        seen = inst.revision
        version: LoadedVersion = loaded_version(s, inst.version_id)
        form = version.forms.get(task.form_key)
        if form is None:
            raise NotFound(f"Formulier '{task.form_key}' hoort niet bij deze procesversie.")
        choices = person_choices(s, form, inst.school_id)
        school = s.get(School, inst.school_id)
        if from_html:
            data = formlib.unflatten_form(form, data)
        try:
            clean = formlib.validate(form, data, choices=choices,
                                     criteria_model=criteria_model_for(form, school))
        except formlib.FormInvalid as exc:
            raise ValidationFailed(exc.errors) from exc

        engine = default_engine()
        wf = engine.load(version.key, version.spec_json, inst.state)
        try:
            engine.complete_user_task(wf, task.task_guid, clean)
        except TaskNotReady:
            # Read the index row before another step committed, the state after: we lost the race.
            raise _LostRace() from None
        _run_step(lambda: engine.run(wf, _ctx_factory(inst, school)), task.name)
        now = utcnow()
        status = "completed" if engine.is_completed(wf) else "running"
        _save_state(s, inst, engine.dump(wf), status, seen, now)

        task.status = "completed"
        task.completed_by_id = actor.id
        task.completed_role = task.lane_role
        task.completed_at = now
        for field in form.fields:
            if field.type == "person" and clean.get(field.name) is not None:
                set_participant(s, inst.id, field.role, int(clean[field.name]))
        s.flush()
        new = sync_index(s, inst, wf, now)
        audit.append_event(
            s, inst, actor_id=actor.id, actor_name=actor.name, role=task.lane_role,
            action="task_completed", summary=f"{task.name} afgerond", data=clean,
            details={"form": task.form_key, "data": clean},
            task_guid=task.task_guid, element_id=task.element_id, now=now,
        )
        if status == "completed":
            audit.append_event(s, inst, actor_id=None, actor_name="Examenflow", role="systeem",
                               action="instance_completed", summary="Examenproces afgerond", now=now)
        uow.commit()
        return StepResult(inst.id, inst.revision, status, [t.id for t in new])
