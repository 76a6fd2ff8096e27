"""A student asks for inspection (inzage) of one of his exams or objects (bezwaar) to a result (R34).

``lodge_request`` starts a process of its own (``bpmn/inzage_bezwaar.bpmn``, decision D21) whose first
task, "Verzoek behandelen", is in the inbox of the examencommissie of the exam's school; the student then
gets "Besluit inzien". The request is one ``exam_request`` row beside that process, and it is recorded in
both audit trails: the request's own and the exam's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.calendar import to_amsterdam, use_school_calendar
from processes import audit, policy
from processes.db import UnitOfWork
from processes.engine import default_engine
from processes.errors import Conflict, Forbidden, NotFound, ValidationFailed
from processes.models import (
    Enrolment,
    ExamRegistration,
    ExamRequest,
    ExamResult,
    Participant,
    ProcessInstance,
    ProcessVersion,
    School,
    Student,
    User,
    utcnow,
)
from processes.registration_context import REGISTRATION_PROCESS
from processes.registrations import audit_outside_step
from processes.request_context import DECISIONS, KINDS, REQUEST_PROCESS
from processes.runner import _ctx_factory, _run_step, exam_context, sync_index
from processes.student_overview import PVB_PROCESS, pvb_result
from processes.versions import latest_version_id, loaded_version

log = logging.getLogger(__name__)

# The exams a student may ask about: his PvBs and his exams at exam moments.
EXAM_PROCESSES = (PVB_PROCESS, REGISTRATION_PROCESS)
REASON_MAX = 5000
STATUS_LABELS = {"ingediend": "Ingediend: de examencommissie behandelt je verzoek",
                 "besloten": "Besloten", "gelezen": "Besloten (gelezen)"}


@dataclass(frozen=True)
class ResultChoice:
    key: str
    label: str


@dataclass(frozen=True)
class RequestView:
    id: int
    instance_id: int
    exam_instance_id: int
    kind: str
    kind_label: str
    result_label: str | None
    reason: str
    status: str
    status_label: str
    created_at: datetime
    decision: str | None
    decision_label: str | None
    decision_text: str | None
    decided_at: datetime | None


@dataclass(frozen=True)
class RequestForm:
    """What the form "Inzage vragen / Bezwaar maken" offers for one exam."""

    exam_instance_id: int
    exam_title: str
    results: list[ResultChoice]
    requests: list[RequestView]


@dataclass(frozen=True)
class LodgedRequest:
    request_id: int
    instance_id: int
    open_task_ids: list[int]


def _view(req: ExamRequest) -> RequestView:
    return RequestView(
        id=req.id, instance_id=req.instance_id, exam_instance_id=req.exam_instance_id, kind=req.kind,
        kind_label=KINDS.get(req.kind, req.kind), result_label=req.result_label, reason=req.reason,
        status=req.status, status_label=STATUS_LABELS.get(req.status, req.status), created_at=req.created_at,
        decision=req.decision,
        decision_label=DECISIONS.get(req.kind, {}).get(req.decision) if req.decision else None,
        decision_text=req.decision_text, decided_at=req.decided_at)


def visible_results(s: Session, exam: ProcessInstance, process_id: str) -> list[ResultChoice]:
    """The results of an exam its student sees (R49): what an objection may be against."""
    if process_id == PVB_PROCESS:
        result = pvb_result(s, exam.id)
        return [ResultChoice("pvb", result.label)] if result else []
    rows = s.execute(
        select(ExamResult, Enrolment.attempt).join(Enrolment, Enrolment.id == ExamResult.enrolment_id)
        .join(ExamRegistration, ExamRegistration.id == Enrolment.registration_id)
        .where(ExamRegistration.instance_id == exam.id, ExamResult.visible.is_(True))
        .order_by(Enrolment.attempt)).all()
    out = []
    for r, attempt in rows:
        outcome = {None: "uitslag volgt", True: "behaald", False: "niet behaald"}[r.passed]
        kind = "definitief" if r.status == "definitief" else "voorlopig"
        out.append(ResultChoice(f"resultaat-{r.id}", f"Poging {attempt}: score {r.score}, {outcome} ({kind})"))
    return out


def _exam_of_student(s: Session, exam_instance_id: int, user: User) -> tuple[ProcessInstance, str]:
    """The exam and its process id; 404 when there is no such exam, 403 when it is not his."""
    row = s.execute(select(ProcessInstance, ProcessVersion.process_id)
                    .join(ProcessVersion, ProcessVersion.id == ProcessInstance.version_id)
                    .where(ProcessInstance.id == exam_instance_id)).first()
    if row is None or row[1] not in EXAM_PROCESSES or row[0].student_id is None:
        raise NotFound("Onbekend examen.")
    exam, process_id = row
    if s.get(Student, exam.student_id).user_id != user.id:
        raise Forbidden("Alleen de student van dit examen kan inzage vragen of bezwaar maken.")
    return exam, process_id


def requests_for_exams(s: Session, exam_instance_ids: list[int]) -> dict[int, list[RequestView]]:
    if not exam_instance_ids:
        return {}
    out: dict[int, list[RequestView]] = {}
    for req in s.scalars(select(ExamRequest).where(ExamRequest.exam_instance_id.in_(exam_instance_ids))
                         .order_by(ExamRequest.id)):
        out.setdefault(req.exam_instance_id, []).append(_view(req))
    return out


def request_form(exam_instance_id: int, user_id: int, uow: UnitOfWork) -> RequestForm:
    """The student's own exam with the results he may object to and his earlier requests about it."""
    with uow:
        s = uow.session
        exam, process_id = _exam_of_student(s, exam_instance_id, policy.active_user(s, user_id))
        return RequestForm(exam.id, exam.title, visible_results(s, exam, process_id),
                           requests_for_exams(s, [exam.id]).get(exam.id, []))


def my_requests(user_id: int, uow: UnitOfWork) -> dict[int, list[RequestView]]:
    """Every request of the student, by the exam it is about."""
    with uow:
        s = uow.session
        ids = s.scalars(select(ExamRequest.exam_instance_id).join(Student, Student.id == ExamRequest.student_id)
                        .where(Student.user_id == user_id)).all()
        return requests_for_exams(s, sorted(set(ids)))


def request_for_instance(s: Session, instance_id: int) -> RequestView | None:
    """The request a process instance handles (its task pages show it), or None."""
    req = s.scalar(select(ExamRequest).where(ExamRequest.instance_id == instance_id))
    return _view(req) if req is not None else None


def lodge_request(exam_instance_id: int, actor_id: int, kind: str, reason: str, result_key: str | None,
                  confirmed: bool, uow: UnitOfWork) -> LodgedRequest:
    """The student asks for inspection of his exam or objects to one of its results (R34). Only the
    exam's own student; the reason is required, and for an objection the result; the server refuses
    without the explicit confirmation (R13). Starts the request's process: a task for the
    examencommissie of the exam's school. Recorded in the request's and in the exam's audit trail."""
    with uow:
        s = uow.session
        actor = policy.active_user(s, actor_id)
        exam, process_id = _exam_of_student(s, exam_instance_id, actor)
        errors: dict[str, list[str]] = {}
        if kind not in KINDS:
            errors["soort"] = ["Kies 'Inzage vragen' of 'Bezwaar maken'."]
        reason = reason.strip() if isinstance(reason, str) else ""
        if not reason:
            errors["reden"] = ["Schrijf waarom je dit vraagt: dit veld is verplicht."]
        elif len(reason) > REASON_MAX:
            errors["reden"] = [f"Maximaal {REASON_MAX} tekens."]
        results = {r.key: r for r in visible_results(s, exam, process_id)}
        chosen = results.get(result_key) if result_key else None
        if not results:
            raise Conflict("Er is nog geen resultaat van dit examen: inzage vragen of bezwaar maken kan zodra je "
                           "een (voorlopig) resultaat ziet.")
        if result_key and chosen is None:
            errors["resultaat"] = ["Kies een resultaat van dit examen dat je ziet."]
        elif kind == "bezwaar" and chosen is None:
            errors["resultaat"] = ["Kies het resultaat waartegen je bezwaar maakt."]
        if not confirmed:
            errors["bevestiging"] = ["Vink aan dat je het verzoek naar de examencommissie wilt sturen."]
        if errors:
            raise ValidationFailed(errors, "Het verzoek is niet verstuurd; verbeter de gemarkeerde velden.")
        if s.scalar(select(ExamRequest.id).where(ExamRequest.exam_instance_id == exam.id, ExamRequest.kind == kind,
                                                 ExamRequest.status == "ingediend")) is not None:
            raise Conflict(f"Je hebt al een verzoek om {KINDS[kind].lower()} voor dit examen lopen; de "
                           "examencommissie behandelt het.")
        now = utcnow()
        req = _start(s, exam, actor, kind, reason, chosen, now)
        new_tasks = req.pop("tasks")
        uow.commit()
        log.info("request %s (%s) on exam %s lodged by user %s", req["id"], kind, exam.id, actor.id)
        return LodgedRequest(req["id"], req["instance_id"], new_tasks)


def _start(s: Session, exam: ProcessInstance, actor: User, kind: str, reason: str, chosen: ResultChoice | None,
           now: datetime) -> dict:
    what = "Inzage gevraagd" if kind == "inzage" else f"Bezwaar gemaakt tegen {chosen.label}"
    details = {"kind": kind, "reden": reason, "result": chosen.key if chosen else None,
               "result_label": chosen.label if chosen else None}
    # The exam's trail first: its revision is claimed, so a concurrent step there is a clean 409.
    audit_outside_step(s, exam, actor, "student", "inspection_requested" if kind == "inzage" else "objection_lodged",
                       f"{what} bij de examencommissie (R34)", details, now)
    school = s.get(School, exam.school_id)
    version = loaded_version(s, latest_version_id(s, REQUEST_PROCESS, exam.school_id))
    inst = ProcessInstance(version_id=version.id, school_id=exam.school_id, student_id=exam.student_id,
                           title=f"{KINDS[kind]}: {exam.title}"[:200], status="running", revision=1,
                           started_by_id=actor.id, started_at=now, updated_at=now)
    s.add(inst)
    s.flush()
    req = ExamRequest(instance_id=inst.id, exam_instance_id=exam.id, school_id=exam.school_id,
                      student_id=exam.student_id, kind=kind, result_key=chosen.key if chosen else None,
                      result_label=chosen.label if chosen else None, reason=reason, status="ingediend",
                      created_by_id=actor.id, created_at=now)
    people = {"student": actor.id}
    s.add_all([req, *(Participant(instance_id=inst.id, role=r, user_id=u) for r, u in people.items())])
    s.flush()
    ctx = exam_context(s, inst, version, actor, "student", now)
    engine = default_engine()
    wf = engine.new_workflow(version.key, version.spec_json)
    engine.set_start_data(wf, {"verzoek": req.id, "soort": kind, "examen": exam.id})
    with use_school_calendar(school.settings or {}):
        _run_step(lambda: engine.run(wf, _ctx_factory(inst, school, ctx)), "Verzoek indienen")
    inst.state = engine.dump(wf)
    new = sync_index(s, inst, wf, now, people=people, had_timers=False)
    audit.append_event(s, inst, actor_id=actor.id, actor_name=actor.name, role="student", action="instance_started",
                       summary=f"{what} voor {exam.title} op {to_amsterdam(now):%d-%m-%Y} (R34)",
                       data={"process_id": REQUEST_PROCESS, "version": version.version, "exam": exam.id,
                             **details}, now=now)
    return {"id": req.id, "instance_id": inst.id, "tasks": new}
