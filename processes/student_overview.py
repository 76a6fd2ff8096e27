"""The student's own PvBs on "Mijn examens" (R49, R38): where each stands and the result he may see.

A PvB's result is provisional (concept) once the assessors' consensus has been reached — recorded by the
ROC-beoordelaar, confirmed by the praktijkbeoordelaar where there is one, and so handed to the exam's
vaststeller (step 10 opens) — and definitive once the vaststeller has established it (step 10,
``ExamAssignment.result_established_at``). A consensus that the praktijkbeoordelaar has not confirmed
(yet), or one recorded anew after the vaststeller sent it back, is not shown: it is not the assessors'
agreed judgement. The student is not notified of either (R49); the page shows them when he looks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.db import UnitOfWork
from processes.models import (
    Assessment,
    ExamAssignment,
    HumanTask,
    ProcessInstance,
    ProcessVersion,
    School,
    Student,
)

PVB_PROCESS = "pvb"
# The form of step 10: a consensus handed to the vaststeller is the assessors' agreed judgement.
ESTABLISH_FORM = "eindbeoordeling_vaststellen"
OUTCOME_LABELS = {"voldaan": "Voldaan", "onvoldoende": "Niet voldaan"}


@dataclass(frozen=True)
class PvbResult:
    outcome: str  # voldaan | onvoldoende
    definitive: bool
    at: datetime  # when the consensus was recorded, or when the result was established
    werkprocessen: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        kind = "definitief" if self.definitive else "voorlopig"
        return f"Eindbeoordeling PvB: {OUTCOME_LABELS.get(self.outcome, self.outcome).lower()} ({kind})"


@dataclass
class MyPvb:
    instance_id: int
    title: str
    school: str
    status: str
    current_steps: list[str]
    result: PvbResult | None
    open_task_id: int | None = None
    open_task: str | None = None
    follow_up_of: int | None = None


def pvb_result(s: Session, instance_id: int) -> PvbResult | None:
    """The result of one PvB as its student may see it (R49, R38), or None."""
    ea = s.get(ExamAssignment, instance_id)
    if ea is not None and ea.result is not None and ea.result_established_at is not None:
        return PvbResult(ea.result, True, ea.result_established_at, dict((ea.result_details or {})
                                                                          .get("werkprocessen", {})))
    consensus = s.scalars(select(Assessment).where(Assessment.instance_id == instance_id,
                                                   Assessment.kind == "consensus")
                          .order_by(Assessment.id.desc()).limit(1)).first()
    if consensus is None:
        # One assessor (R8): his assessment goes to the vaststeller as it is.
        consensus = s.scalars(select(Assessment).where(Assessment.instance_id == instance_id)
                              .order_by(Assessment.id.desc()).limit(1)).first()
    if consensus is None:
        return None
    handed_on = s.scalar(select(HumanTask.id).where(
        HumanTask.instance_id == instance_id, HumanTask.form_key == ESTABLISH_FORM,
        HumanTask.created_at >= consensus.recorded_at).limit(1))
    if handed_on is None:
        return None
    return PvbResult(consensus.result["uitslag"], False, consensus.recorded_at,
                     dict(consensus.result.get("werkprocessen", {})))


def assessments_visible(s: Session, inst: ProcessInstance, user_id: int) -> bool:
    """Whether ``user_id`` may see this exam's recorded assessments: everybody who may see the exam,
    except its student before his result is visible (R49) — an assessor's form before the assessors
    agree is not a result yet."""
    if inst.student_id is None or s.get(Student, inst.student_id).user_id != user_id:
        return True
    return pvb_result(s, inst.id) is not None


def pvb_instances(s: Session, user_id: int) -> list[tuple[ProcessInstance, str]]:
    """The student's PvBs (a school's own variant of ``pvb`` keeps the process id, D15), newest first."""
    return list(s.execute(
        select(ProcessInstance, School.name)
        .join(Student, Student.id == ProcessInstance.student_id)
        .join(ProcessVersion, ProcessVersion.id == ProcessInstance.version_id)
        .join(School, School.id == ProcessInstance.school_id)
        .where(Student.user_id == user_id, ProcessVersion.process_id == PVB_PROCESS)
        .order_by(ProcessInstance.id.desc())
    ).tuples())


def my_pvbs(user_id: int, uow: UnitOfWork) -> list[MyPvb]:
    """The student's PvBs: a link to each dossier, the current step, his open task there and his result,
    provisional or definitive (R49)."""
    with uow:
        s = uow.session
        out = []
        for inst, school in pvb_instances(s, user_id):
            open_rows = s.execute(
                select(HumanTask.id, HumanTask.name, HumanTask.assignee_id)
                .where(HumanTask.instance_id == inst.id, HumanTask.status == "open")
                .order_by(HumanTask.created_at, HumanTask.id)).all()
            mine = next((r for r in open_rows if r.assignee_id == user_id), None)
            ea = s.get(ExamAssignment, inst.id)
            out.append(MyPvb(
                instance_id=inst.id, title=inst.title, school=school, status=inst.status,
                current_steps=list(dict.fromkeys(r.name for r in open_rows)), result=pvb_result(s, inst.id),
                open_task_id=mine.id if mine else None, open_task=mine.name if mine else None,
                follow_up_of=ea.follow_up_of_id if ea else None,
            ))
        return out
