"""The exam's printable documents for the archive (issue 8): the established assignment, each
assessment form and the establishment of the result (step 10).

These use cases gather what a document shows into dataclasses; ``processes.pdf`` renders them.
Every signature comes from the audit trail (R13: who, in which role, when, and what he confirmed),
never from the form data a user posted. Whoever may see the exam may read its documents; a
document that does not exist yet is a NotFound with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes import assessment as assessment_models
from processes.db import UnitOfWork
from processes.errors import NotFound
from processes.models import (
    ROLES,
    Assessment,
    AuditEvent,
    ExamAssignment,
    ProcessInstance,
    School,
    Student,
    User,
)
from processes.queries import viewable_instance
from processes.student_overview import assessments_visible
from processes.versions import loaded_version

# The forms of the three approvals of the assignment (R14).
APPROVAL_FORMS = ("opdracht_goedkeuren_student", "opdracht_goedkeuren")
JUDGEMENTS = {"voldaan": "voldaan", "onvoldoende": "onvoldoende"}
NOT_JUDGED = "niet beoordeeld"


@dataclass(frozen=True)
class Signature:
    """Who signed, in which role, when, and the statements he confirmed (R13)."""

    name: str
    role: str
    at: datetime
    statements: tuple[str, ...] = ()

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)


@dataclass(frozen=True)
class ExamHeader:
    instance_id: int
    exam_title: str
    student_name: str
    student_number: str
    school: str
    crebo: str
    cohort: str


@dataclass(frozen=True)
class CriterionLine:
    text: str
    crucial: bool
    judgement: str = NOT_JUDGED
    justification: str = ""


@dataclass(frozen=True)
class WerkprocesBlock:
    code: str
    title: str
    criteria: tuple[CriterionLine, ...]
    outcome: str | None = None


@dataclass(frozen=True)
class AssignmentDocument:
    """The established assignment (opdracht) with its assessment model, approvals and establishment."""

    header: ExamHeader
    title: str
    examenlocatie: str
    context: str
    text: str
    desired_end_date: date | None
    content_version: int
    werkprocessen: tuple[WerkprocesBlock, ...]
    approvals: tuple[Signature, ...]
    established: Signature


@dataclass(frozen=True)
class AssessmentDocument:
    """One assessment form or the consensus, as recorded and signed."""

    header: ExamHeader
    assessment_id: int
    kind: str
    werkprocessen: tuple[WerkprocesBlock, ...]
    outcome: str
    complete: bool
    remark: str
    signature: Signature
    agreed_by: tuple[Signature, ...] = ()

    @property
    def kind_label(self) -> str:
        return "Consensus" if self.kind == "consensus" else "Beoordelingsformulier"


@dataclass(frozen=True)
class AssessmentRef:
    assessment_id: int
    kind: str
    assessor: str
    role: str
    at: datetime
    outcome: str
    basis: bool


@dataclass(frozen=True)
class EstablishmentDocument:
    """The establishment (vaststelling) of the result, step 10 (R38)."""

    header: ExamHeader
    outcome: str
    werkprocessen: tuple[tuple[str, str, str], ...]
    signature: Signature
    assessments: tuple[AssessmentRef, ...]


@dataclass(frozen=True)
class DocumentLink:
    kind: str
    label: str
    assessment_id: int | None = None


@dataclass
class _Trail:
    """The exam's audit events, read once."""

    events: list[AuditEvent] = field(default_factory=list)

    def last(self, action: str) -> AuditEvent | None:
        return next((e for e in reversed(self.events) if e.action == action), None)

    def completed_before(self, event: AuditEvent) -> AuditEvent | None:
        """The form whose completion caused ``event`` (the same step, just before it)."""
        return next((e for e in reversed(self.events)
                     if e.seq < event.seq and e.action == "task_completed"), None)


def _trail(s: Session, instance_id: int) -> _Trail:
    return _Trail(list(s.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                                 .order_by(AuditEvent.seq))))


def _header(s: Session, inst: ProcessInstance) -> ExamHeader:
    student = s.get(Student, inst.student_id) if inst.student_id else None
    return ExamHeader(
        instance_id=inst.id, exam_title=inst.title, school=s.get(School, inst.school_id).name,
        student_name=student.user.name if student else "—", student_number=student.student_number if student else "—",
        crebo=student.crebo if student else "—", cohort=student.cohort if student else "—",
    )


def _statements(s: Session, inst: ProcessInstance, event: AuditEvent | None) -> tuple[str, ...]:
    """The labels of what the signer ticked (confirmations, approvals) and the choices he made."""
    if event is None:
        return ()
    details = event.details or {}
    form = loaded_version(s, inst.version_id).forms.get(details.get("form", ""))
    data = details.get("data") or {}
    if form is None:
        return ()
    out = []
    for f in form.fields:
        value = data.get(f.name)
        if f.type in ("boolean", "confirm") and value is True:
            out.append(f.label)
        elif f.type == "choice" and value:
            shown = next((o["label"] for o in f.options if o["value"] == value), str(value))
            out.append(f"{f.label}: {shown}")
    return tuple(out)


def _signature(s: Session, inst: ProcessInstance, event: AuditEvent, form_event: AuditEvent | None = None,
               lead: str | None = None) -> Signature:
    statements = _statements(s, inst, form_event if form_event is not None else event)
    return Signature(name=event.actor_name, role=event.role, at=event.created_at,
                     statements=((lead,) if lead else ()) + statements)


def _model(s: Session, inst: ProcessInstance, ea: ExamAssignment | None) -> dict:
    if ea is not None and ea.assessment_model:
        return ea.assessment_model
    return assessment_models.model_for(s.get(School, inst.school_id).settings)


def _blocks(model: dict, judgements: dict | None = None, outcomes: dict | None = None) -> tuple[WerkprocesBlock, ...]:
    blocks = []
    for wp in model.get("werkprocessen") or []:
        lines = []
        for c in wp.get("criteria") or []:
            j = (judgements or {}).get(c.get("id")) or {}
            lines.append(CriterionLine(text=c.get("text", ""), crucial=bool(c.get("crucial")),
                                       judgement=JUDGEMENTS.get(j.get("oordeel"), NOT_JUDGED),
                                       justification=(j.get("toelichting") or "").strip()))
        blocks.append(WerkprocesBlock(code=wp.get("code", ""), title=wp.get("title", ""), criteria=tuple(lines),
                                      outcome=(outcomes or {}).get(wp.get("code"))))
    return tuple(blocks)


def get_assignment_document(instance_id: int, user_id: int, uow: UnitOfWork) -> AssignmentDocument:
    """The established assignment, for whoever may see the exam; NotFound until it is established."""
    with uow:
        s = uow.session
        inst = viewable_instance(s, instance_id, user_id)
        ea = s.get(ExamAssignment, inst.id)
        if ea is None:
            raise NotFound("Dit examen heeft geen opdracht.")
        trail = _trail(s, inst.id)
        established = trail.last("assignment_established")
        if ea.established_at is None or established is None:
            raise NotFound("De opdracht is nog niet vastgesteld; het document bestaat nog niet.")
        # After a rejection (step 3) all three approvals are given anew: only the last round counts.
        unlocked = trail.last("assignment_unlocked")
        approvals = [
            _signature(s, inst, e) for e in trail.events
            if e.action == "task_completed" and (e.details or {}).get("form") in APPROVAL_FORMS
            and (unlocked is None or e.seq > unlocked.seq) and e.seq < established.seq
        ]
        decision = trail.completed_before(established)
        by_committee = decision is not None and (decision.details or {}).get("form") == "opdracht_vaststellen"
        return AssignmentDocument(
            header=_header(s, inst), title=ea.title, examenlocatie=ea.examenlocatie, context=ea.context,
            text=ea.text, desired_end_date=ea.desired_end_date, content_version=ea.content_version,
            werkprocessen=_blocks(_model(s, inst, ea)), approvals=tuple(approvals),
            established=_signature(s, inst, established, decision if by_committee else None,
                                   lead=established.summary),
        )


def get_assessment_document(instance_id: int, assessment_id: int, user_id: int,
                            uow: UnitOfWork) -> AssessmentDocument:
    """One recorded assessment form or consensus (R25, R26, R29) with its signature (R13)."""
    with uow:
        s = uow.session
        inst = viewable_instance(s, instance_id, user_id)
        row = s.get(Assessment, assessment_id)
        if row is None or row.instance_id != inst.id:
            raise NotFound("Deze beoordeling bestaat niet bij dit examen.")
        if not assessments_visible(s, inst, user_id):
            raise NotFound("Je beoordeling zie je zodra de beoordelaars het eens zijn en je voorlopige resultaat "
                           "er is (R49).")
        trail = _trail(s, inst.id)
        signed = next((e for e in trail.events if e.action == "task_completed" and e.task_guid == row.task_guid),
                      None)
        if signed is not None:
            signature = _signature(s, inst, signed)
            remark = str(((signed.details or {}).get("data") or {}).get("toelichting") or "").strip()
        else:  # written outside a form; the row itself still says who, in which role, when
            signature = Signature(s.get(User, row.assessor_id).name, row.role, row.recorded_at)
            remark = ""
        agreed: tuple[Signature, ...] = ()
        if row.kind == "consensus" and signed is not None:
            # The praktijkbeoordelaar's confirmation of this consensus: the next one, before any newer consensus.
            for e in trail.events:
                if e.seq <= signed.seq or e.action != "task_completed":
                    continue
                form = (e.details or {}).get("form")
                if form == "consensus":
                    break
                if form == "consensus_bevestigen":
                    agreed = (_signature(s, inst, e),)
                    break
        result = row.result or {}
        return AssessmentDocument(
            header=_header(s, inst), assessment_id=row.id, kind=row.kind,
            werkprocessen=_blocks(_model(s, inst, s.get(ExamAssignment, inst.id)), row.judgements,
                                  result.get("werkprocessen")),
            outcome=result.get("uitslag", "—"), complete=row.complete, remark=remark, signature=signature,
            agreed_by=agreed,
        )


def get_establishment_document(instance_id: int, user_id: int, uow: UnitOfWork) -> EstablishmentDocument:
    """The establishment of the result (step 10, R38) and the assessments it rests on."""
    with uow:
        s = uow.session
        inst = viewable_instance(s, instance_id, user_id)
        ea = s.get(ExamAssignment, inst.id)
        trail = _trail(s, inst.id)
        event = trail.last("result_established")
        if ea is None or ea.result is None or event is None:
            raise NotFound("De eindbeoordeling is nog niet vastgesteld; het document bestaat nog niet.")
        rows = [a for a in s.scalars(select(Assessment).where(Assessment.instance_id == inst.id)
                                     .order_by(Assessment.id)) if a.recorded_at <= event.created_at]
        consensus = [a for a in rows if a.kind == "consensus"]
        basis = consensus[-1] if consensus else (rows[-1] if rows else None)
        names = {uid: name for uid, name in s.execute(
            select(User.id, User.name).where(User.id.in_({a.assessor_id for a in rows})))}
        model = _model(s, inst, ea)
        titles = {wp["code"]: wp.get("title", "") for wp in model.get("werkprocessen", [])}
        outcomes = (ea.result_details or {}).get("werkprocessen", {})
        return EstablishmentDocument(
            header=_header(s, inst), outcome=ea.result,
            werkprocessen=tuple((code, titles.get(code, ""), value) for code, value in outcomes.items()),
            signature=_signature(s, inst, event, trail.completed_before(event), lead=event.summary),
            assessments=tuple(
                AssessmentRef(assessment_id=a.id, kind=a.kind, assessor=names.get(a.assessor_id, "?"), role=a.role,
                              at=a.recorded_at, outcome=(a.result or {}).get("uitslag", "—"), basis=a is basis)
                for a in rows
            ),
        )


def list_documents(instance_id: int, user_id: int, uow: UnitOfWork) -> list[DocumentLink]:
    """The documents that exist for this exam now, for the dossier's list."""
    with uow:
        s = uow.session
        inst = viewable_instance(s, instance_id, user_id)
        ea = s.get(ExamAssignment, inst.id)
        links = []
        if ea is not None and ea.established_at is not None:
            links.append(DocumentLink("opdracht", "Vastgestelde opdracht"))
        rows = s.execute(select(Assessment.id, Assessment.kind, Assessment.role, User.name)
                         .join(User, User.id == Assessment.assessor_id)
                         .where(Assessment.instance_id == inst.id).order_by(Assessment.id)).all()
        if not assessments_visible(s, inst, user_id):
            rows = []
        for r in rows:
            what = "Consensus" if r.kind == "consensus" else "Beoordelingsformulier"
            links.append(DocumentLink("beoordeling", f"{what} — {r.name} ({ROLES.get(r.role, r.role)})", r.id))
        if ea is not None and ea.result is not None:
            links.append(DocumentLink("vaststelling", "Vaststelling van de eindbeoordeling"))
        return links
