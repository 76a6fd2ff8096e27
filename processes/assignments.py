"""Use cases on assignments: the school's bank, an exam's own copy, and its participants."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

import forms as formlib
from processes import policy
from processes.db import UnitOfWork
from processes.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from processes.exam import ASSESSOR_ROLES, ExamContext, participants, set_participant, update_assignment
from processes.models import ROLES, Assignment, ExamAssignment, ProcessInstance, User, utcnow

KINDS = {"opdracht": "Opdracht", "aanvulopdracht": "Aanvulopdracht"}


def create_assignment(school_id: int, code: str, title: str, text: str, assessment_model: dict,
                      uow: UnitOfWork, established: bool = False, kind: str = "opdracht") -> int:
    """Adds an assignment with its assessment model to the school's bank (R16, R40). A supplementary
    assignment (aanvulopdracht) always needs establishing per student, so it is never established here (R17)."""
    if kind not in KINDS:
        raise BadRequest(f"Onbekende soort opdracht '{kind}'.")
    if established and kind == "aanvulopdracht":
        raise BadRequest("Een aanvulopdracht wordt altijd per student vastgesteld (R17).")
    try:
        formlib.check_criteria_model(assessment_model)
    except formlib.CriteriaModelError as exc:
        raise BadRequest(f"Beoordelingsmodel ongeldig: {exc}") from exc
    with uow:
        s = uow.session
        last = s.scalar(select(Assignment.version).where(Assignment.school_id == school_id,
                                                         Assignment.code == code)
                        .order_by(Assignment.version.desc()).limit(1))
        a = Assignment(school_id=school_id, code=code, title=title, text=text,
                       version=(last or 0) + 1, assessment_model=assessment_model, established=established,
                       kind=kind)
        s.add(a)
        uow.commit()
        return a.id


def list_assignments(school_id: int, uow: UnitOfWork) -> list[dict]:
    with uow:
        rows = uow.session.scalars(select(Assignment).where(Assignment.school_id == school_id)
                                   .order_by(Assignment.code, Assignment.version)).all()
        return [{"id": a.id, "code": a.code, "title": a.title, "version": a.version,
                 "established": a.established, "kind": a.kind} for a in rows]


def establish_bank_assignment(school_id: int, assignment_id: int, actor_id: int, uow: UnitOfWork) -> None:
    """R16: the beheerder marks a bank assignment established; PvBs set out from it skip step 3.
    Not for a supplementary assignment (R17)."""
    with uow:
        s = uow.session
        actor = s.get(User, actor_id)
        if actor is None:
            raise NotFound("Onbekende gebruiker.")
        policy.require_role(s, actor, school_id, ("beheerder",), "opdrachten in de bank vaststellen")
        a = s.get(Assignment, assignment_id)
        if a is None or a.school_id != school_id:
            raise NotFound("Onbekende opdracht in de opdrachtenbank van deze school.")
        if a.kind == "aanvulopdracht":
            raise BadRequest("Een aanvulopdracht wordt altijd per student vastgesteld (R17).")
        a.established = True
        uow.commit()


def assignment_preview(school_id: int, assignment_id: int, uow: UnitOfWork) -> dict:
    """R11: the content of a bank assignment as it will be set out: text, version, whether it is
    established (R16) and its assessment model."""
    with uow:
        a = uow.session.get(Assignment, assignment_id)
        if a is None or a.school_id != school_id:
            raise NotFound("Onbekende opdracht in de opdrachtenbank van deze school.")
        return {"id": a.id, "code": a.code, "title": a.title, "text": a.text, "version": a.version,
                "established": a.established, "kind": a.kind, "assessment_model": a.assessment_model}


def is_school_admin_of(instance_id: int, user_id: int, uow: UnitOfWork) -> bool:
    """Whether the user is the beheerder of the exam's school (who may change its participants, R7, R22)."""
    with uow:
        inst = uow.session.get(ProcessInstance, instance_id)
        return inst is not None and policy.holds_role(uow.session, user_id, inst.school_id, "beheerder")


def _exam_for_editing(s, instance_id: int, actor_id: int) -> tuple[ProcessInstance, User, str]:
    inst = s.get(ProcessInstance, instance_id)
    if inst is None:
        raise NotFound("Onbekend examen.")
    actor = s.get(User, actor_id)
    if actor is None or not actor.active:
        raise Forbidden("Dit account is niet actief.")
    people = participants(s, inst.id)
    if people.get("roc_begeleider") == actor.id:
        return inst, actor, "roc_begeleider"
    if policy.holds_role(s, actor.id, inst.school_id, "beheerder"):
        return inst, actor, "beheerder"
    raise Forbidden("Alleen de ROC-begeleider van dit examen kan de opdracht en de deelnemers wijzigen.")


def edit_exam_assignment(instance_id: int, actor_id: int, changes: dict, uow: UnitOfWork) -> int:
    """Changes the title, text, examenlocatie, context or desired end date of an exam's assignment.

    Refused once the three approvals have locked the content (R14); the history stays in the audit
    trail (R19). Returns the new content version.
    """
    allowed = {"title", "text", "examenlocatie", "context", "desired_end_date"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed({k: ["Onbekend veld."] for k in sorted(unknown)})
    if "desired_end_date" in changes and isinstance(changes["desired_end_date"], str):
        try:
            changes["desired_end_date"] = date.fromisoformat(changes["desired_end_date"])
        except ValueError:
            raise ValidationFailed({"desired_end_date": ["Vul een geldige datum in (jjjj-mm-dd)."]}) from None
    with uow:
        s = uow.session
        inst, actor, role = _exam_for_editing(s, instance_id, actor_id)
        ctx = ExamContext(s, inst, actor, role, utcnow())
        update_assignment(ctx, changes)
        uow.commit()
        return s.get(ExamAssignment, instance_id).content_version


def change_participant(instance_id: int, role: str, user_id: int, actor_id: int, uow: UnitOfWork) -> None:
    """R7: until the assignment is established the ROC-begeleider may change who holds a role;
    open tasks of that role move to the new person. After that only the school admin may (a later issue)."""
    if role not in ROLES or role == "student":
        raise ValidationFailed({"role": ["Deze rol kan hier niet worden gewijzigd."]})
    with uow:
        s = uow.session
        inst, actor, acting_role = _exam_for_editing(s, instance_id, actor_id)
        ea = s.get(ExamAssignment, inst.id)
        if ea is not None and ea.established_at is not None and acting_role != "beheerder":
            raise Forbidden("De opdracht is vastgesteld: alleen de beheerder kan deelnemers nog wijzigen (R7).")
        if not policy.holds_role(s, user_id, inst.school_id, role):
            raise ValidationFailed({"user_id": [f"Deze persoon heeft geen rol {ROLES[role]} op deze school."]})
        people = participants(s, inst.id)
        if role == "examencommissie" and user_id in {people.get(r) for r in ASSESSOR_ROLES}:
            raise ValidationFailed({"user_id": ["De vaststeller mag niet ook beoordelaar zijn (R31)."]})
        if role in ASSESSOR_ROLES and user_id == people.get("examencommissie"):
            raise ValidationFailed({"user_id": ["De vaststeller mag niet ook beoordelaar zijn (R31)."]})
        ctx = ExamContext(s, inst, actor, acting_role, utcnow())
        previous = people.get(role)
        set_participant(s, inst.id, role, user_id)
        ctx.audit("participant_changed", f"{ROLES[role]} gewijzigd",
                   details={"role": role, "from": previous, "to": user_id})
        uow.commit()


def replace_exam_assignment(instance_id: int, assignment_id: int, actor_id: int, uow: UnitOfWork) -> None:
    """R19: a wrongly chosen assignment is replaced by another from the bank, until it is established
    (and before the three approvals lock its content, R14). The old one stays in the audit trail."""
    with uow:
        s = uow.session
        inst, actor, role = _exam_for_editing(s, instance_id, actor_id)
        ea = s.get(ExamAssignment, inst.id)
        if ea is None:
            raise NotFound("Dit examen heeft geen opdracht.")
        if ea.established_at is not None:
            raise Conflict("De opdracht is al vastgesteld en kan niet meer worden vervangen (R19).")
        if ea.locked_at is not None:
            raise Conflict("De inhoud van de opdracht ligt vast na de drie goedkeuringen en kan niet meer "
                           "worden vervangen (R14).")
        source = s.get(Assignment, assignment_id)
        if source is None or source.school_id != inst.school_id:
            raise NotFound("Onbekende opdracht in de opdrachtenbank van deze school.")
        previous = {"assignment_id": ea.assignment_id, "title": ea.title, "content_version": ea.content_version}
        ea.assignment_id, ea.title, ea.text = source.id, source.title, source.text
        ea.assessment_model = source.assessment_model
        ea.content_version += 1
        ctx = ExamContext(s, inst, actor, role, utcnow())
        ctx.audit("assignment_replaced", f"Opdracht vervangen door {source.code} versie {source.version} (R19)",
                  details={"from": previous, "to": {"assignment_id": source.id, "title": source.title}})
        uow.commit()
