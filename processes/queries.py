"""Read-side use cases: the inbox, one task with its form, an instance with its history.

They read the index tables only; none of them loads engine state (decision 4).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, reduce

from sqlalchemy import Integer, and_, bindparam, func, literal_column, select, union_all
from sqlalchemy.orm import Session, aliased

import forms as formlib
from processes import policy
from processes.db import UnitOfWork
from processes.enrolment import cancelled_moment_of
from processes.errors import Forbidden, NotFound
from processes.exam import criteria_model_for, initial_values
from processes.exam_requests import RequestView, request_for_instance
from processes.models import (
    ROLES,
    Assessment,
    AuditEvent,
    ExamAssignment,
    ExamRegistration,
    ExamWarning,
    HumanTask,
    Participant,
    ProcessInstance,
    ProcessVersion,
    School,
    Student,
    User,
)
from processes.runner import person_choices
from processes.student_overview import assessments_visible
from processes.versions import loaded_version


@dataclass(frozen=True)
class InboxRow:
    task_id: int
    instance_id: int
    step: str
    role: str
    exam: str
    student_name: str | None
    student_number: str | None
    school: str
    since: datetime
    due_at: datetime | None


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _visible_open_tasks(session: Session, user_id: int) -> tuple[int, dict]:
    """The condition of design decision 5 as disjoint branches: the user's own open tasks, and per
    school-wide role he holds the school's unassigned open tasks in that lane. Returns the number of
    school-wide branches and the values for the statements of ``_inbox_statements``."""
    params: dict = {"user_id": user_id}
    memberships = policy.school_wide_memberships(session, user_id)
    for i, (school_id, role) in enumerate(memberships):
        params[f"school_{i}"], params[f"role_{i}"] = school_id, role
    return len(memberships), params


@lru_cache(maxsize=32)
def _inbox_statements(school_wide: int):
    """The count and the page of "Mijn taken" for the own branch plus ``school_wide`` school-wide
    ones, built once per shape (bound: user_id, school_<i>, role_<i>, offset, limit, first).

    Each branch is served by its own partial index in the inbox's order (D6): the total is a sum of
    index-only counts (the branches are disjoint: own tasks have an assignee, the others none, one
    branch per school and role); for the page each branch takes its own first ``offset + limit``
    ids, the merged lot is cut to the page, and only the page's rows are joined to the display
    tables. 'open' is a literal, not a parameter, so that the planner can prove the indexes'
    predicate (PostgreSQL's generic plans, SQLite)."""
    is_open = HumanTask.status == literal_column("'open'")
    conds = [and_(is_open, HumanTask.assignee_id == bindparam("user_id"))]
    for i in range(school_wide):
        conds.append(and_(is_open, HumanTask.assignee_id.is_(None), HumanTask.school_id == bindparam(f"school_{i}"),
                          HumanTask.lane_role == bindparam(f"role_{i}")))
    count = select(reduce(operator.add, [
        select(func.count()).select_from(HumanTask).where(cond).scalar_subquery() for cond in conds
    ]))

    def ordered(cond):
        return select(HumanTask.id, HumanTask.created_at).where(cond).order_by(HumanTask.created_at, HumanTask.id)

    offset, limit = bindparam("offset", type_=Integer), bindparam("limit", type_=Integer)
    if school_wide == 0:
        ids = ordered(conds[0]).limit(limit).offset(offset).subquery("page")
    else:
        firsts = []
        for cond in conds:
            first = ordered(cond).limit(bindparam("first", type_=Integer)).subquery()
            firsts.append(select(first.c.id, first.c.created_at))  # wrapped: SQLite's UNION takes no LIMIT
        merged = union_all(*firsts).subquery("visible")
        ids = (select(merged.c.id, merged.c.created_at).order_by(merged.c.created_at, merged.c.id)
               .limit(limit).offset(offset).subquery("page"))
    student_user = aliased(User)
    page = (
        select(
            HumanTask.id, HumanTask.instance_id, HumanTask.name, HumanTask.lane_role,
            HumanTask.created_at, HumanTask.due_at, ProcessInstance.title,
            student_user.name.label("student_name"), Student.student_number,
            School.name.label("school_name"),
        )
        .select_from(ids)
        .join(HumanTask, HumanTask.id == ids.c.id)
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .join(School, School.id == HumanTask.school_id)
        .outerjoin(Student, Student.id == HumanTask.student_id)
        .outerjoin(student_user, student_user.id == Student.user_id)
        .order_by(ids.c.created_at, ids.c.id)
    )
    return count, page


def list_my_tasks(user_id: int, uow: UnitOfWork, page: int = 1, per_page: int = 25) -> Page:
    """"Mijn taken": open tasks this user may act on, oldest first."""
    page = max(1, page)
    per_page = min(max(1, per_page), 100)
    offset = (page - 1) * per_page
    with uow:
        s = uow.session
        school_wide, params = _visible_open_tasks(s, user_id)
        count_stmt, page_stmt = _inbox_statements(school_wide)
        total = s.scalar(count_stmt, params) or 0
        rows = []
        if total > offset:
            rows = s.execute(page_stmt, {**params, "offset": offset, "limit": per_page,
                                         "first": offset + per_page}).all()
    items = [
        InboxRow(
            task_id=r.id, instance_id=r.instance_id, step=r.name, role=r.lane_role, exam=r.title,
            student_name=r.student_name, student_number=r.student_number, school=r.school_name,
            since=r.created_at, due_at=r.due_at,
        )
        for r in rows
    ]
    return Page(items=items, total=total, page=page, per_page=per_page)


@dataclass(frozen=True)
class TaskView:
    task_id: int
    instance_id: int
    revision: int
    element_id: str
    step: str
    role: str
    role_label: str
    status: str
    exam: str
    student_name: str | None
    school: str
    since: datetime
    due_at: datetime | None
    form: formlib.FormDef
    choices: dict = field(default_factory=dict)
    criteria_model: dict | None = None
    values: dict = field(default_factory=dict)
    completed_by: str | None = None
    completed_at: datetime | None = None
    # A task of an inspection/objection request shows the request and its decision (R34, D21).
    request: RequestView | None = None
    # A task to choose a moment again after the last one was cancelled: that moment, when and why.
    cancelled_moment: str | None = None


def get_task(task_id: int, user_id: int, uow: UnitOfWork) -> TaskView:
    with uow:
        s = uow.session
        task, user = policy.task_and_user(s, task_id, user_id)
        if not policy.may_act_on(s, user, task) and task.completed_by_id != user.id:
            raise Forbidden("Deze taak is niet voor u.")
        inst = s.get(ProcessInstance, task.instance_id)
        version = loaded_version(s, inst.version_id)
        form = version.forms[task.form_key]
        school = s.get(School, inst.school_id)
        student_name = None
        if inst.student_id is not None:
            student_name = s.get(Student, inst.student_id).user.name
        return TaskView(
            task_id=task.id, instance_id=inst.id, revision=inst.revision,
            element_id=task.element_id, step=task.name, role=task.lane_role,
            role_label=ROLES.get(task.lane_role, task.lane_role), status=task.status,
            exam=inst.title, student_name=student_name, school=school.name,
            since=task.created_at, due_at=task.due_at, form=form,
            choices=person_choices(s, form, inst.school_id, inst.id, task.lane_role),
            criteria_model=criteria_model_for(s, form, inst.id),
            values=initial_values(s, form, inst.id),
            completed_by=task.completed_by.name if task.completed_by else None,
            completed_at=task.completed_at,
            request=request_for_instance(s, inst.id),
            cancelled_moment=_cancelled_moment(s, form, inst.id) if task.status == "open" else None,
        )


def _cancelled_moment(s: Session, form: formlib.FormDef, instance_id: int) -> str | None:
    if not any(f.type == "moment" for f in form.fields):
        return None
    registration_id = s.scalar(select(ExamRegistration.id).where(ExamRegistration.instance_id == instance_id))
    return cancelled_moment_of(s, registration_id) if registration_id is not None else None


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str
    role: str
    action: str
    summary: str
    element_id: str | None


@dataclass(frozen=True)
class Document:
    """A form as filled in and signed (R13): who, in which role, when."""

    step: str
    element_id: str | None
    actor: str
    role: str
    at: datetime
    fields: list[tuple[str, str]]


@dataclass(frozen=True)
class InstanceView:
    id: int
    title: str
    status: str
    revision: int
    process_id: str
    version: int
    school: str
    student_name: str | None
    started_at: datetime
    open_tasks: list[dict]
    participants: dict[str, str]
    history: list[HistoryEntry]
    participant_ids: dict[str, int] = field(default_factory=dict)
    assignment: dict | None = None
    warnings: list[str] = field(default_factory=list)
    assessments: list[dict] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    done_elements: list[str] = field(default_factory=list)
    follow_ups: list[int] = field(default_factory=list)


def may_view_instance(s: Session, user: User, inst: ProcessInstance) -> bool:
    if s.scalar(select(Participant.id).where(Participant.instance_id == inst.id,
                                             Participant.user_id == user.id)) is not None:
        return True
    return any(
        policy.holds_role(s, user.id, inst.school_id, role)
        for role in ("beheerder", "examencommissie", "examenbureau")
    )


def viewable_instance(s: Session, instance_id: int, user_id: int) -> ProcessInstance:
    inst = s.get(ProcessInstance, instance_id)
    if inst is None:
        raise NotFound("Onbekend examen.")
    user = s.get(User, user_id)
    if user is None or not may_view_instance(s, user, inst):
        raise Forbidden("U bent niet betrokken bij dit examen.")
    return inst


def get_instance(instance_id: int, user_id: int, uow: UnitOfWork) -> InstanceView:
    with uow:
        s = uow.session
        inst = viewable_instance(s, instance_id, user_id)
        pv = s.get(ProcessVersion, inst.version_id)
        open_rows = s.execute(
            select(HumanTask.id, HumanTask.name, HumanTask.lane_role, HumanTask.created_at,
                   HumanTask.due_at, HumanTask.element_id, User.name.label("assignee"))
            .outerjoin(User, User.id == HumanTask.assignee_id)
            .where(HumanTask.instance_id == inst.id, HumanTask.status == "open")
            .order_by(HumanTask.created_at)
        ).all()
        parts = s.execute(
            select(Participant.role, Participant.user_id, User.name).join(User, User.id == Participant.user_id)
            .where(Participant.instance_id == inst.id)
        ).all()
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == inst.id).order_by(AuditEvent.seq)
        ).all()
        student_name = s.get(Student, inst.student_id).user.name if inst.student_id else None
        return InstanceView(
            id=inst.id, title=inst.title, status=inst.status, revision=inst.revision,
            process_id=pv.process_id, version=pv.version, school=s.get(School, inst.school_id).name,
            student_name=student_name, started_at=inst.started_at,
            open_tasks=[
                {"task_id": r.id, "step": r.name, "role": r.lane_role, "since": r.created_at,
                 "due_at": r.due_at, "assignee": r.assignee, "element_id": r.element_id}
                for r in open_rows
            ],
            participants={r.role: r.name for r in parts},
            participant_ids={r.role: r.user_id for r in parts},
            history=[
                HistoryEntry(at=e.created_at, actor=e.actor_name, role=e.role, action=e.action,
                             summary=e.summary, element_id=e.element_id)
                for e in events
            ],
            **_exam_details(s, inst, events, assessments_visible(s, inst, user_id)),
        )


def _exam_details(s: Session, inst: ProcessInstance, events, show_assessments: bool = True) -> dict:
    ea = s.get(ExamAssignment, inst.id)
    version = loaded_version(s, inst.version_id)
    assessments = []
    rows = (s.scalars(select(Assessment).where(Assessment.instance_id == inst.id).order_by(Assessment.id))
            if show_assessments else [])
    for a in rows:
        assessor = s.get(User, a.assessor_id).name
        assessments.append({
            "kind": a.kind, "role": a.role, "assessor": assessor, "recorded_at": a.recorded_at,
            "complete": a.complete, "result": a.result, "judgements": a.judgements,
        })
    documents = []
    done = []
    for e in events:
        if e.action != "task_completed":
            continue
        done.append(e.element_id)
        form = version.forms.get((e.details or {}).get("form", ""))
        data = (e.details or {}).get("data", {})
        if not show_assessments and form is not None and any(f.type == "criteria" for f in form.fields):
            data = {}  # who signed stays visible; the judgements come with the result (R49)
        documents.append(Document(step=e.summary.removesuffix(" afgerond en ondertekend"),
                                  element_id=e.element_id, actor=e.actor_name, role=e.role, at=e.created_at,
                                  fields=_labelled(form, data, lambda uid: _user_name(s, uid))))
    follow_ups = s.scalars(select(ExamAssignment.instance_id)
                           .where(ExamAssignment.follow_up_of_id == inst.id)).all()
    return {
        "assignment": None if ea is None else {
            "title": ea.title, "text": ea.text, "examenlocatie": ea.examenlocatie, "context": ea.context,
            "desired_end_date": ea.desired_end_date, "content_version": ea.content_version,
            "locked": ea.locked_at is not None, "established": ea.established_at is not None,
            "result": ea.result, "result_details": ea.result_details,
            "follow_up_of": ea.follow_up_of_id, "archived": ea.archived_at is not None,
            "model": ea.assessment_model, "from_bank": ea.assignment_id is not None,
        },
        "warnings": [w.message for w in s.scalars(select(ExamWarning).where(ExamWarning.instance_id == inst.id)
                                                 .order_by(ExamWarning.id))],
        "assessments": assessments,
        "documents": documents,
        "done_elements": done,
        "follow_ups": list(follow_ups),
    }


def _user_name(s: Session, user_id) -> str:
    try:
        user = s.get(User, int(user_id))
    except (TypeError, ValueError):
        user = None
    return user.name if user else str(user_id)


def _labelled(form: formlib.FormDef | None, data: dict, name_of) -> list[tuple[str, str]]:
    """Form data as (label, shown value) pairs, in the form's order; criteria are shown separately."""
    if form is None:
        return [(k, str(v)) for k, v in data.items()]
    out = []
    for f in form.fields:
        if f.name not in data or f.type == "criteria":
            continue
        value = data[f.name]
        if f.type in ("boolean", "confirm"):
            shown = "ja" if value else "nee"
        elif f.type == "choice":
            shown = next((o["label"] for o in f.options if o["value"] == value), str(value))
        elif f.type == "person":
            shown = name_of(value)
        else:
            shown = str(value)
        out.append((f.label, shown))
    return out


def get_instance_diagram(instance_id: int, user_id: int, uow: UnitOfWork) -> str:
    """The BPMN XML of the version an exam runs on, for the dossier's viewer."""
    with uow:
        s = uow.session
        inst = viewable_instance(s, instance_id, user_id)
        return s.scalar(select(ProcessVersion.bpmn_xml).where(ProcessVersion.id == inst.version_id))


def people_for_roles(instance_id: int, user_id: int, uow: UnitOfWork) -> dict[str, list[dict]]:
    """Who may be chosen per role at the exam's school (for changing participants, R7)."""
    from processes.models import RoleMembership

    with uow:
        s = uow.session
        inst = s.get(ProcessInstance, instance_id)
        if inst is None:
            raise NotFound("Onbekend examen.")
        rows = s.execute(
            select(RoleMembership.role, User.id, User.name).join(User, User.id == RoleMembership.user_id)
            .where(RoleMembership.school_id == inst.school_id, User.active.is_(True))
            .order_by(User.name)
        ).all()
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r.role, []).append({"value": r.id, "label": r.name})
    return out
