"""The engine runner: start an instance, complete a task — each one transaction (decisions 1–4).

check the policy → validate the form → load the instance → run the engine until it waits →
save the state under an optimistic lock → sync the index tables → append the audit events.
Any error rolls everything back; an in-memory workflow is never reused after a failed step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Integer, bindparam, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, undefer
from sqlalchemy.orm.attributes import set_committed_value

import forms as formlib
from handlers.calendar import to_amsterdam, use_school_calendar
from handlers.clock import use_clock
from handlers.registry import HandlerContext, StepRefused
from processes import assessment, audit, enrolment, policy
from processes.db import UnitOfWork
from processes.engine import TaskNotReady, default_engine
from processes.errors import (
    BadRequest,
    Conflict,
    ExamflowError,
    NotFound,
    StepFailed,
    ValidationFailed,
)
from processes.exam import ExamContext, criteria_model_for, participants
from processes.models import (
    SCHOOL_WIDE_ROLES,
    Assignment,
    Deadline,
    ExamAssignment,
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
from processes.registration_context import (
    REGISTRATION_PROCESS,
    VERSION_APPROVAL_PROCESS,
    RegistrationContext,
    VersionApprovalContext,
)
from processes.request_context import REQUEST_PROCESS, RequestContext
from processes.versions import LoadedVersion, latest_version_id, loaded_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    instance_id: int
    revision: int
    status: str
    open_task_ids: list[int]
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- helpers


def _ctx_factory(inst: ProcessInstance, school: School, exam: ExamContext):
    def make(element_id: str) -> HandlerContext:
        return HandlerContext(
            instance_id=inst.id, school_id=inst.school_id, element_id=element_id,
            settings=dict(school.settings or {}), exam=exam,
        )

    return make


def person_choices(session: Session, form: formlib.FormDef, school_id: int, instance_id: int | None = None,
                   lane: str | None = None) -> dict[str, list[dict]]:
    """For every person field: the users holding its role at the exam's school; for every moment
    field: the exam's planned moments (for the student only those whose enrolment period is open)."""
    choices: dict[str, list[dict]] = {}
    for fdef in form.fields:
        if fdef.type == "moment":
            choices[fdef.name] = (enrolment.moment_choices(session, instance_id, lane == "student", utcnow())
                                  if instance_id is not None else [])
            continue
        if fdef.type != "person":
            continue
        rows = session.execute(
            select(User.id, User.name)
            .join(RoleMembership, RoleMembership.user_id == User.id)
            .where(
                RoleMembership.school_id == school_id,
                RoleMembership.role == fdef.role,
                User.active.is_(True),
            )
            .order_by(User.name)
        ).all()
        choices[fdef.name] = [{"value": r.id, "label": r.name} for r in rows]
    return choices


def sync_index(session: Session, inst: ProcessInstance, wf, now: datetime,
               people: dict[str, int] | None = None, had_timers: bool = True) -> list[int]:
    """Brings ``human_task`` and ``timer`` in line with the workflow; returns the new open tasks' ids.

    The ``human_task`` rows are read and written with Core statements (no ORM objects): this runs on
    every step, and the index rows are never used as objects afterwards."""
    engine = default_engine()
    ready = {t.guid: t for t in engine.ready_user_tasks(wf)}
    session.flush()  # the Core statements below bypass autoflush
    conn = session.connection()
    open_rows = conn.execute(_OPEN_TASKS, {"instance_id": inst.id}).all()
    due_dates = engine.task_due_dates(wf)
    gone = [row.id for row in open_rows if row.task_guid not in ready]
    if gone:
        conn.execute(_CANCEL_TASKS, {"row_ids": gone, "now": now})
    moved = [{"row_id": row.id, "due": due_dates.get(row.task_guid)} for row in open_rows
             if row.task_guid in ready and row.due_at != due_dates.get(row.task_guid)]
    if moved:
        conn.execute(_SET_DUE, moved)
    known = {row.task_guid for row in open_rows}
    if people is None:
        people = participants(session, inst.id)
    new_rows = []
    for guid, t in ready.items():
        if guid in known:
            continue
        assignee = people.get(t.lane)
        if assignee is None and t.lane not in SCHOOL_WIDE_ROLES:
            log.warning("task %s of instance %s has nobody in lane %s", t.element_id, inst.id, t.lane)
        new_rows.append({
            "instance_id": inst.id, "task_guid": guid, "element_id": t.element_id, "name": t.name,
            "lane_role": t.lane, "form_key": t.form_key, "status": "open", "assignee_id": assignee,
            "school_id": inst.school_id, "student_id": inst.student_id, "created_at": now,
            "due_at": due_dates.get(guid),
        })
    new_ids = [conn.execute(_INSERT_TASK, row).scalar_one() for row in new_rows]

    waiting = {t.guid: t for t in engine.waiting_timers(wf)}
    # Waiting timer rows exist only where the state had waiting timers at the last sync.
    timer_rows = session.scalars(
        select(Timer).where(Timer.instance_id == inst.id, Timer.status == "waiting")
    ).all() if (waiting or had_timers) else []
    for row in timer_rows:
        if row.task_guid not in waiting:
            # Gone from the engine's waiting timers: fired if it was due, else its activity ended first.
            if row.due_at <= now:
                row.status, row.fired_at = "fired", now
                audit.append_event(session, inst, actor_id=None, actor_name="Examenflow", role="systeem",
                                   action="timer_fired", summary=f"Termijn verstreken ({row.element_id})",
                                   data={"timer": row.task_guid}, element_id=row.element_id, now=now)
            else:
                row.status = "cancelled"
    known_timers = {row.task_guid for row in timer_rows}
    for guid, t in waiting.items():
        if guid not in known_timers:
            session.add(Timer(instance_id=inst.id, task_guid=guid, element_id=t.element_id,
                              due_at=t.due_at, status="waiting"))
    _sync_deadlines(session, inst, engine, wf, now)
    session.flush()
    return new_ids


# The hot path's statements, built once and run on the session's connection (Core, no ORM
# compile step): constructing, cache-keying and ORM-executing a statement cost more CPU here than
# PostgreSQL spends running it.
_TASKS = HumanTask.__table__
_INSTANCES = ProcessInstance.__table__
_OPEN_TASKS = (
    select(_TASKS.c.id, _TASKS.c.task_guid, _TASKS.c.due_at)
    .where(_TASKS.c.instance_id == bindparam("instance_id"), _TASKS.c.status == "open")
)
_CANCEL_TASKS = (
    update(_TASKS).where(_TASKS.c.id.in_(bindparam("row_ids", expanding=True)))
    .values(status="cancelled", completed_at=bindparam("now"))
)
_SET_DUE = update(_TASKS).where(_TASKS.c.id == bindparam("row_id")).values(due_at=bindparam("due"))
_INSERT_TASK = insert(_TASKS).returning(_TASKS.c.id)
_COMPLETE_TASK = (
    update(_TASKS).where(_TASKS.c.id == bindparam("row_id"))
    .values(status="completed", completed_by_id=bindparam("by"), completed_role=bindparam("role"),
            completed_at=bindparam("now"))
)
_CLAIM = (
    update(_INSTANCES)
    .where(_INSTANCES.c.id == bindparam("instance_id"), _INSTANCES.c.revision == bindparam("seen", type_=Integer))
    .values(revision=bindparam("seen", type_=Integer) + 1)
)
_STORE_STATE = (
    update(_INSTANCES).where(_INSTANCES.c.id == bindparam("instance_id"))
    .values(state=bindparam("state"), status=bindparam("status"), updated_at=bindparam("now"),
            audit_head=bindparam("audit_head"), audit_count=bindparam("audit_count"))
)


def _sync_deadlines(session: Session, inst: ProcessInstance, engine, wf, now: datetime) -> None:
    """Deadline windows (R48) from the boundary timers that carry a ``deadline`` property."""
    windows = engine.deadline_windows(wf)
    if not windows:
        return
    rows = {d.timer_guid: d for d in session.scalars(select(Deadline).where(Deadline.instance_id == inst.id))}
    for w in windows:
        row = rows.get(w.timer_guid)
        if row is None:
            if w.due_at is None:
                continue
            row = Deadline(instance_id=inst.id, school_id=inst.school_id, kind=w.kind, timer_guid=w.timer_guid,
                           opened_at=now, due_at=w.due_at)
            session.add(row)
        if w.state == "fired" and row.overdue_at is None:
            row.overdue_at = now
        if (w.closed or w.state == "cancelled") and row.closed_at is None:
            row.closed_at = now


def _claim(session: Session, inst: ProcessInstance, seen: int) -> None:
    """The optimistic lock of decision 2, taken before the step writes anything else: zero rows means
    someone else saved first. On PostgreSQL the row stays locked until commit, so a concurrent step
    waits here and then finds the revision moved; no other write of ours can collide first."""
    result = session.connection().execute(_CLAIM, {"instance_id": inst.id, "seen": seen})
    if result.rowcount != 1:
        raise _LostRace()
    set_committed_value(inst, "revision", seen + 1)


def _store_state(session: Session, inst: ProcessInstance, state: str, status: str, now: datetime) -> None:
    # The audit chain's head goes with the state (one UPDATE); events appended later write it again.
    session.connection().execute(_STORE_STATE, {
        "instance_id": inst.id, "state": state, "status": status, "now": now,
        "audit_head": inst.audit_head, "audit_count": inst.audit_count,
    })
    for attr, value in (("state", state), ("status", status), ("updated_at", now),
                        ("audit_head", inst.audit_head), ("audit_count", inst.audit_count)):
        set_committed_value(inst, attr, value)


def _mark_completed(session: Session, task: HumanTask, actor_id: int, now: datetime) -> None:
    session.connection().execute(
        _COMPLETE_TASK, {"row_id": task.id, "by": actor_id, "role": task.lane_role, "now": now}
    )
    for attr, value in (("status", "completed"), ("completed_by_id", actor_id),
                        ("completed_role", task.lane_role), ("completed_at", now)):
        set_committed_value(task, attr, value)


class _LostRace(Exception):
    pass


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "could not serialize" in text or "deadlock" in text


def fire_instance_timers(s: Session, instance_id: int, now: datetime) -> int:
    """Fires the due timers of one instance at ``now`` in the caller's transaction; returns how many."""
    inst = s.get(ProcessInstance, instance_id, options=[undefer(ProcessInstance.state)])
    if inst is None or inst.status != "running":
        raise NotFound(f"Examen {instance_id} loopt niet meer.")
    seen = inst.revision
    version = loaded_version(s, inst.version_id)
    school = s.get(School, inst.school_id)
    engine = default_engine()
    wf = engine.load(version.key, version.spec_json, inst.state)
    before = {t.guid for t in engine.waiting_timers(wf)}
    _claim(s, inst, seen)
    exam = exam_context(s, inst, version, None, "systeem", now)
    with use_clock(now), use_school_calendar(school.settings or {}):
        engine.refresh_timers(wf)
        _run_step(lambda: engine.run(wf, _ctx_factory(inst, school, exam)), "Termijn")
    fired = before - {t.guid for t in engine.waiting_timers(wf)}
    status = "completed" if engine.is_completed(wf) else "running"
    _store_state(s, inst, engine.dump(wf), status, now)
    sync_index(s, inst, wf, now)
    return len(fired)


def record_delivery(s: Session, message, now: datetime | None = None) -> bool:
    """The outbox delivered a result: the exam's wait for delivery ends (design 13), in the same
    transaction that marks the message delivered. Returns whether the process was waiting for it."""
    if message.instance_id is None or message.kind != "result":
        return False
    at = now or utcnow()
    inst = s.get(ProcessInstance, message.instance_id, options=[undefer(ProcessInstance.state)])
    if inst is None or inst.status != "running":
        return False
    seen = inst.revision
    version = loaded_version(s, inst.version_id)
    school = s.get(School, inst.school_id)
    engine = default_engine()
    wf = engine.load(version.key, version.spec_json, inst.state)
    if not engine.deliver_message(wf, "resultaat_afgeleverd", {"bericht": message.id}):
        return False
    _claim(s, inst, seen)
    exam = exam_context(s, inst, version, None, "systeem", at)
    exam.audit("result_delivered", "Uitslag afgeleverd bij de studentenadministratie",
                details={"message": message.id, "key": message.idempotency_key})
    with use_clock(at), use_school_calendar(school.settings or {}):
        _run_step(lambda: engine.run(wf, _ctx_factory(inst, school, exam)), "Uitslag afgeleverd")
    status = "completed" if engine.is_completed(wf) else "running"
    _store_state(s, inst, engine.dump(wf), status, at)
    sync_index(s, inst, wf, at)
    return True


def exam_context(s: Session, inst: ProcessInstance, version: LoadedVersion, actor: User | None, role: str,
                 now: datetime) -> ExamContext:
    """The services the instance's handlers get: a PvB's, a registration's (exams at moments), a version
    approval's or an inspection/objection request's."""
    if version.process_id == REGISTRATION_PROCESS:
        return RegistrationContext(s, inst, actor, role, now)
    if version.process_id == VERSION_APPROVAL_PROCESS:
        return VersionApprovalContext(s, inst, actor, role, now)
    if version.process_id == REQUEST_PROCESS:
        return RequestContext(s, inst, actor, role, now)
    return ExamContext(s, inst, actor, role, now, start_follow_up_fn=_start_follow_up)


def _run_step(step, what: str) -> None:
    try:
        step()
    except StepRefused as exc:
        if exc.field:
            raise ValidationFailed({exc.field: [exc.message]}, exc.message) from exc
        raise Conflict(exc.message) from exc
    except ExamflowError:
        raise
    except Exception as exc:
        log.exception("engine step %r failed", what)
        raise StepFailed(
            f"De stap '{what}' kon nu niet worden uitgevoerd. "
            "Er is niets gewijzigd; probeer het later opnieuw."
        ) from exc


# ----------------------------------------------------------------------------- use cases


# School settings the diagram reads (design: data now, a page with the administration issue).
SETTING_DEFAULTS = {"bewijsstukken_gebruiken": True, "een_beoordelaar_toegestaan": False}


def start_pvb(school_id: int, student_id: int, actor_id: int, uow: UnitOfWork, title: str = "",
              assignment_id: int | None = None, desired_end_date: date | None = None,
              process_id: str = "pvb") -> StepResult:
    """Step 1, aanmaken: starts a PvB for a student with an assignment from the school's bank (or an
    own one). The actor becomes its roc_begeleider."""
    with uow:
        s = uow.session
        actor = s.get(User, actor_id)
        if actor is None:
            raise NotFound("Onbekende gebruiker.")
        student = s.get(Student, student_id)
        if student is None or student.school_id != school_id:
            raise NotFound("Onbekende student op deze school.")
        role = policy.require_role(s, actor, school_id, ("roc_begeleider", "beheerder"), "een PvB starten")
        source = None
        if assignment_id is not None:
            source = s.get(Assignment, assignment_id)
            if source is None or source.school_id != school_id:
                raise NotFound("Onbekende opdracht in de opdrachtenbank van deze school.")
        now = utcnow()
        inst, new, exam = _create_pvb(s, school_id, student, actor, role, title, source, desired_end_date,
                                      None, process_id, now)
        uow.commit()
        return StepResult(inst.id, inst.revision, inst.status, new, exam.warnings)


def _create_pvb(s: Session, school_id: int, student: Student, actor: User, role: str, title: str,
                source: Assignment | None, desired_end_date: date | None, follow_up_of: ProcessInstance | None,
                process_id: str, now: datetime) -> tuple[ProcessInstance, list[int], ExamContext]:
    school = s.get(School, school_id)
    version = loaded_version(s, latest_version_id(s, process_id, school_id))
    inst = ProcessInstance(
        version_id=version.id, school_id=school_id, student_id=student.id,
        title=title or (source.title if source else f"PvB {student.user.name}"), status="running",
        revision=1, started_by_id=actor.id, started_at=now, updated_at=now,
    )
    s.add(inst)
    s.flush()
    s.add(Participant(instance_id=inst.id, role="student", user_id=student.user_id))
    if role == "roc_begeleider":
        s.add(Participant(instance_id=inst.id, role="roc_begeleider", user_id=actor.id))
    s.add(ExamAssignment(
        instance_id=inst.id, assignment_id=source.id if source else None,
        title=source.title if source else "", text=source.text if source else "",
        desired_end_date=desired_end_date,
        assessment_model=(source.assessment_model if source
                          else assessment.model_for(school.settings)),
        follow_up_of_id=follow_up_of.id if follow_up_of else None,
    ))
    s.flush()
    exam = ExamContext(s, inst, actor, role, now, start_follow_up_fn=_start_follow_up)
    engine = default_engine()
    wf = engine.new_workflow(version.key, version.spec_json)
    settings = {**SETTING_DEFAULTS, **{k: v for k, v in (school.settings or {}).items() if k in SETTING_DEFAULTS}}
    engine.set_start_data(wf, settings)
    with use_school_calendar(school.settings or {}):
        _run_step(lambda: engine.run(wf, _ctx_factory(inst, school, exam)), "Start")
    inst.state = engine.dump(wf)
    inst.status = "completed" if engine.is_completed(wf) else "running"
    new = sync_index(s, inst, wf, now)
    summary = f"{inst.title} gestart (versie {version.version})"
    if follow_up_of is not None:
        summary += f", vervolg op examen {follow_up_of.id}"
    audit.append_event(
        s, inst, actor_id=actor.id, actor_name=actor.name, role=role, action="instance_started",
        summary=summary,
        data={"process_id": process_id, "version": version.version, "student_id": student.id,
              "assignment_id": source.id if source else None},
        now=now,
    )
    return inst, new, exam


def _start_follow_up(s: Session, inst: ProcessInstance, actor: User, note: str, now: datetime) -> int:
    """R30: a new PvB for the same student with the same assignment, linked to the one not passed."""
    student = s.get(Student, inst.student_id)
    ea = s.get(ExamAssignment, inst.id)
    source = s.get(Assignment, ea.assignment_id) if ea.assignment_id else None
    new, _tasks, _exam = _create_pvb(s, inst.school_id, student, actor, "roc_begeleider",
                                     f"{inst.title} (vervolg)", source, None, inst, "pvb", now)
    if source is None:
        new_ea = s.get(ExamAssignment, new.id)
        new_ea.title, new_ea.text, new_ea.assessment_model = ea.title, ea.text, ea.assessment_model
    return new.id


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
    when = to_amsterdam(at).strftime("%d-%m-%Y om %H:%M:%S") if at else "een onbekend moment"
    return Conflict(f"Deze taak is al afgerond door {name} op {when}.", by=name, at=at)


# The task, the actor, the instance with its state and the school in one round trip. Read in one
# snapshot, the task row and the state agree; a step committed since is caught by ``_claim``. The
# exam's assignment comes along into the session's identity map, where the form rules' and handlers'
# ``session.get(ExamAssignment, …)`` find it without another round trip.
_STEP_ROWS = (
    select(HumanTask, User, ProcessInstance, School, ExamAssignment)
    .select_from(HumanTask)
    .join(User, User.id == bindparam("user_id"))
    .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
    .join(School, School.id == ProcessInstance.school_id)
    .outerjoin(ExamAssignment, ExamAssignment.instance_id == ProcessInstance.id)
    .where(HumanTask.id == bindparam("task_id"))
    .options(undefer(ProcessInstance.state))
)


def _step_rows(s: Session, task_id: int, actor_id: int
               ) -> tuple[HumanTask, User, ProcessInstance, School, ExamAssignment | None]:
    row = s.execute(_STEP_ROWS, {"task_id": task_id, "user_id": actor_id}).first()
    if row is None:
        policy.task_and_user(s, task_id, actor_id)  # says which one is unknown
        raise NotFound("Onbekende taak.")
    return row[0], row[1], row[2], row[3], row[4]


def _complete_task_once(task_id: int, actor_id: int, data: dict, uow: UnitOfWork,
                        from_html: bool) -> StepResult:
    with uow:
        s = uow.session
        # ``assignment`` stays referenced for the step: the identity map holds unchanged objects weakly.
        task, actor, inst, school, assignment = _step_rows(s, task_id, actor_id)
        if task.status == "completed":
            raise _done_conflict(task.completed_by.name if task.completed_by else "onbekend",
                                 task.completed_at)
        if task.status != "open":
            raise Conflict("Deze taak is niet meer open: het examen is verder gegaan.")
        policy.require_can_act(s, actor, task)

        seen = inst.revision
        version: LoadedVersion = loaded_version(s, inst.version_id)
        form = version.forms.get(task.form_key)
        if form is None:
            raise NotFound(f"Formulier '{task.form_key}' hoort niet bij deze procesversie.")
        choices = person_choices(s, form, inst.school_id, inst.id, task.lane_role)
        model = criteria_model_for(s, form, inst.id)
        if from_html:
            data = formlib.unflatten_form(form, data)
        try:
            clean = formlib.validate(form, data, choices=choices, criteria_model=model)
        except formlib.FormInvalid as exc:
            raise ValidationFailed(exc.errors) from exc

        engine = default_engine()
        wf = engine.load(version.key, version.spec_json, inst.state)
        ready = {t.guid: t for t in engine.ready_user_tasks(wf)}
        if task.task_guid not in ready:
            # Read the index row before another step committed, the state after: we lost the race.
            raise _LostRace()
        had_timers = bool(engine.waiting_timers(wf))
        now = utcnow()
        exam = exam_context(s, inst, version, actor, task.lane_role, now)
        exam.check_task_rules(task, ready[task.task_guid].properties)
        _claim(s, inst, seen)
        # The step's row changes are written together at the flush below, not statement by statement.
        with s.no_autoflush:
            audit.append_event(
                s, inst, actor_id=actor.id, actor_name=actor.name, role=task.lane_role,
                action="task_completed", summary=f"{task.name} afgerond en ondertekend", data=clean,
                details={"form": task.form_key, "data": clean},
                task_guid=task.task_guid, element_id=task.element_id, now=now,
            )
            extra = exam.apply_form(task, form, clean, model)
            try:
                engine.complete_user_task(wf, task.task_guid, {**clean, **extra})
            except TaskNotReady:
                raise _LostRace() from None
            with use_school_calendar(school.settings or {}):
                _run_step(lambda: engine.run(wf, _ctx_factory(inst, school, exam)), task.name)
            status = "completed" if engine.is_completed(wf) else "running"
            _store_state(s, inst, engine.dump(wf), status, now)
            _mark_completed(s, task, actor.id, now)
        s.flush()
        new = sync_index(s, inst, wf, now, people=exam.participants(), had_timers=had_timers)
        if status == "completed":
            audit.append_event(s, inst, actor_id=None, actor_name="Examenflow", role="systeem",
                               action="instance_completed", summary="Examenproces afgerond", now=now)
        uow.commit()
        return StepResult(inst.id, inst.revision, status, new, exam.warnings)


# ----------------------------------------------------------------------------- setting out for a group (R9)


def set_out_pvbs(school_id: int, student_ids: list[int], actor_id: int, uow: UnitOfWork, *,
                 assignment_id: int | None = None, begeleider_id: int | None = None, title: str = "",
                 desired_end_date: date | None = None, progress=None) -> list[int]:
    """R9: starts a PvB for each of ``student_ids`` with one assignment, in ONE transaction: all or
    nothing. A ROC-begeleider becomes the begeleider of each; the admin names one (``begeleider_id``).
    ``progress(done, total)`` is called after each PvB. Returns the new instance ids."""
    from processes.exam import set_participant

    ids = list(dict.fromkeys(student_ids))
    if not ids:
        raise ValidationFailed({"studenten": ["Kies minstens één student."]})
    with uow:
        s = uow.session
        actor = s.get(User, actor_id)
        if actor is None:
            raise NotFound("Onbekende gebruiker.")
        role = policy.require_role(s, actor, school_id, ("roc_begeleider", "beheerder"), "PvB's uitzetten")
        if role == "beheerder" or begeleider_id not in (None, actor_id):
            if begeleider_id is None or not policy.holds_role(s, begeleider_id, school_id, "roc_begeleider"):
                raise ValidationFailed({"begeleider": ["Kies een ROC-begeleider van deze school."]})
        source = None
        if assignment_id is not None:
            source = s.get(Assignment, assignment_id)
            if source is None or source.school_id != school_id:
                raise NotFound("Onbekende opdracht in de opdrachtenbank van deze school.")
        students = {st.id: st for st in s.scalars(select(Student).where(Student.id.in_(ids)))}
        unknown = [i for i in ids if i not in students or students[i].school_id != school_id
                   or students[i].archived_at is not None]
        if unknown:
            raise ValidationFailed({"studenten": [f"{len(unknown)} gekozen student(en) zijn onbekend of "
                                                  "gearchiveerd op deze school; er is niets uitgezet."]})
        now = utcnow()
        created = []
        for done, sid in enumerate(ids, start=1):
            inst, _new, _exam = _create_pvb(s, school_id, students[sid], actor, role, title, source,
                                            desired_end_date, None, process_id="pvb", now=now)
            if begeleider_id is not None and (role == "beheerder" or begeleider_id != actor_id):
                set_participant(s, inst.id, "roc_begeleider", begeleider_id)
            created.append(inst.id)
            if progress is not None:
                progress(done, len(ids))
        uow.commit()
        return created
