"""The PvB's own data beside the engine: the exam's assignment, assessments, warnings, result.

`ExamContext` implements `handlers.registry.ExamServices` for one exam inside one step's
transaction; the runner hands it to service handlers and uses it for the form-driven rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

import forms as formlib
from processes import assessment as assessment_models
from processes import audit
from processes.errors import Conflict, Forbidden, ValidationFailed
from processes.models import (
    ROLES,
    Assessment,
    Assignment,
    ExamAssignment,
    ExamWarning,
    HumanTask,
    Participant,
    ProcessInstance,
    School,
    User,
)

log = logging.getLogger(__name__)

# Form fields that are the assignment's content: completing a form that has them writes them to the
# exam's assignment, which is refused once the three approvals have locked it (R14).
ASSIGNMENT_FIELDS = {
    "titel": "title",
    "opdrachttekst": "text",
    "examenlocatie": "examenlocatie",
    "context": "context",
    "gewenste_einddatum": "desired_end_date",
}
# Roles whose holders assessed an exam and so may not establish it (R31).
ASSESSOR_ROLES = ("praktijkbeoordelaar", "roc_beoordelaar")


_PARTICIPANTS = select(Participant.role, Participant.user_id).where(Participant.instance_id == bindparam("instance_id"))


def participants(session: Session, instance_id: int) -> dict[str, int]:
    rows = session.execute(_PARTICIPANTS, {"instance_id": instance_id}).all()
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
        .where(HumanTask.instance_id == instance_id, HumanTask.lane_role == role, HumanTask.status == "open")
        .values(assignee_id=user_id)
        .execution_options(synchronize_session=False)
    )


def criteria_model_for(session: Session, form: formlib.FormDef, instance_id: int) -> dict | None:
    """The exam's own assessment model (R40) for a form with a criteria section."""
    if not any(f.type == "criteria" for f in form.fields):
        return None
    ea = session.get(ExamAssignment, instance_id)
    if ea is not None and ea.assessment_model:
        return ea.assessment_model
    inst = session.get(ProcessInstance, instance_id)
    return assessment_models.model_for(session.get(School, inst.school_id).settings)


def initial_values(session: Session, form: formlib.FormDef, instance_id: int) -> dict:
    """Pre-fills a form with the exam's assignment content it edits."""
    ea = session.get(ExamAssignment, instance_id)
    if ea is None:
        return {}
    values = {}
    for field_name, attr in ASSIGNMENT_FIELDS.items():
        if field_name in form.field_names:
            value = getattr(ea, attr)
            if value not in (None, ""):
                values[field_name] = value.isoformat() if isinstance(value, date) else value
    return values


@dataclass
class ExamContext:
    """One exam within one step: what handlers and the runner may do to it (ExamServices)."""

    session: Session
    instance: ProcessInstance
    actor: User | None
    role: str
    now: datetime
    start_follow_up_fn: Callable[[Session, ProcessInstance, User, str, datetime], int] | None = None
    warnings: list[str] = field(default_factory=list)
    _people: dict[str, int] | None = None

    # --- ExamServices ---------------------------------------------------------------------------

    def participants(self) -> dict[str, int]:
        """Who holds which role in this exam; read once per step unless the step changes it."""
        if self._people is None:
            self.session.flush()  # participants this step recorded must count
            self._people = participants(self.session, self.instance.id)
        return dict(self._people)

    def _assignment(self) -> ExamAssignment:
        ea = self.session.get(ExamAssignment, self.instance.id)
        if ea is None:
            raise RuntimeError(f"exam {self.instance.id} has no assignment")
        return ea

    def lock_assignment(self) -> bool:
        ea = self._assignment()
        ea.locked_at = self.now
        self.audit("assignment_locked", "Inhoud van de opdracht vastgelegd na drie goedkeuringen")
        # R16/R17: an assignment established in the bank (never a supplementary one) skips step 3.
        source = self.session.get(Assignment, ea.assignment_id) if ea.assignment_id else None
        return bool(source is not None and source.established and source.kind != "aanvulopdracht")

    def unlock_assignment(self) -> None:
        ea = self._assignment()
        ea.locked_at = None
        self.audit("assignment_unlocked", "Opdracht afgewezen: inhoud weer te bewerken, goedkeuringen opnieuw")

    def establish_assignment(self) -> None:
        self._assignment().established_at = self.now
        if self.role == "examencommissie":
            self.audit("assignment_established", "Opdracht vastgesteld namens de examencommissie")
        else:  # reached without step 3: the assignment was established in the school's bank (R16)
            self.audit("assignment_established", "Opdracht vastgesteld: een in de opdrachtenbank vastgestelde "
                                                 "opdracht, niet per student opnieuw (R16)")

    def lock_evidence(self) -> None:
        ea = self._assignment()
        if ea.evidence_locked_at is None:
            ea.evidence_locked_at = self.now
            self.audit("evidence_locked", "Bewijsstukken compleet bevonden en vergrendeld: er kan niets meer bij "
                                          "of af (R23)")

    def warn(self, code: str, message: str) -> None:
        self.session.add(ExamWarning(instance_id=self.instance.id, code=code, message=message,
                                     created_at=self.now))
        self.warnings.append(message)
        self.audit("warning_recorded", message, details={"code": code})

    def record_result(self) -> dict:
        rows = self.session.scalars(
            select(Assessment).where(Assessment.instance_id == self.instance.id).order_by(Assessment.id)
        ).all()
        consensus = [a for a in rows if a.kind == "consensus"]
        final = consensus[-1] if consensus else (rows[-1] if rows else None)
        if final is None:
            raise RuntimeError("no assessment to establish")
        ea = self._assignment()
        ea.result = final.result["uitslag"]
        ea.result_details = final.result
        ea.result_established_at = self.now
        label = "voldaan" if ea.result == "voldaan" else "niet voldaan"
        self.audit("result_established", f"Eindbeoordeling vastgesteld: {label}", details=final.result)
        # The result goes to the student information system through the outbox (design 13): written
        # in this step's transaction, delivered after commit by the scheduler process.
        from processes.exchange import queue_result_message

        self.session.flush()
        message_id = queue_result_message(self.session, self.instance, self.now)
        self.audit("result_queued", "Uitslag klaargezet voor de studentenadministratie",
                    details={"message": message_id})
        return final.result

    def start_follow_up(self, note: str) -> int:
        if self.start_follow_up_fn is None or self.actor is None:
            raise RuntimeError("no way to start a follow-up here")
        new_id = self.start_follow_up_fn(self.session, self.instance, self.actor, note, self.now)
        self.audit("follow_up_started", f"Vervolg-PvB gestart (examen {new_id})", details={"examen": new_id})
        return new_id

    def archive(self) -> None:
        self._assignment().archived_at = self.now
        self.audit("exam_archived", "Dossier gearchiveerd")

    # --- rules the runner applies around a user task -------------------------------------------

    def check_task_rules(self, task: HumanTask, properties: dict[str, str]) -> None:
        """The checks a diagram asks for with ``camunda:properties`` on a user task."""
        required = [r.strip() for r in properties.get("requires_participants", "").split(",") if r.strip()]
        present = self.participants()
        missing = [r for r in required if r not in present]
        if missing:
            raise Conflict(
                "Dit kan pas als alle rollen zijn vastgelegd; ontbreekt: "
                + ", ".join(ROLES.get(r, r) for r in missing) + " (R7)."
            )
        banned = [r.strip() for r in properties.get("not_by", "").split(",") if r.strip()]
        if banned and self.actor is not None:
            held = {role for role, uid in present.items() if uid == self.actor.id}
            assessed = self.session.scalar(
                select(Assessment.id).where(Assessment.instance_id == self.instance.id,
                                            Assessment.assessor_id == self.actor.id).limit(1)
            )
            if held & set(banned) or assessed is not None:
                raise Forbidden("U heeft dit examen beoordeeld en mag het daarom niet vaststellen (R31).")

    def apply_form(self, task: HumanTask, form: formlib.FormDef, clean: dict,
                   criteria_model: dict | None) -> dict:
        """Writes what a completed form means for the exam; returns data to add to the task data."""
        extra: dict = {}
        self._write_participants(form, clean)
        self._write_assignment(clean)
        for fdef in form.fields:
            if fdef.type == "criteria" and clean.get(fdef.name) is not None and criteria_model:
                judgements = clean[fdef.name]
                result = formlib.compute_result(criteria_model, judgements)
                total = sum(len(wp["criteria"]) for wp in criteria_model["werkprocessen"])
                complete = sum(1 for j in judgements.values() if j.get("oordeel")) == total
                kind = "consensus" if form.key == "consensus" else "beoordeling"
                self.session.add(Assessment(
                    instance_id=self.instance.id, kind=kind, element_id=task.element_id,
                    task_guid=task.task_guid, assessor_id=self.actor.id, role=task.lane_role,
                    judgements=judgements, result=result, complete=complete, recorded_at=self.now,
                ))
                # The result the diagram reads is the one the server computed, never one posted.
                extra["uitslag"] = result["uitslag"]
                extra["werkprocessen_uitslag"] = result["werkprocessen"]
        return extra

    def _write_participants(self, form: formlib.FormDef, clean: dict) -> None:
        chosen = {f.role: int(clean[f.name]) for f in form.fields
                  if f.type == "person" and clean.get(f.name) is not None}
        if not chosen:
            return
        ea = self.session.get(ExamAssignment, self.instance.id)
        if ea is not None and ea.established_at is not None:
            raise Forbidden("De opdracht is vastgesteld: alleen de beheerder kan deelnemers nog wijzigen (R7).")
        vaststeller = chosen.get("examencommissie")
        if vaststeller is not None and vaststeller in {chosen.get(r) for r in ASSESSOR_ROLES}:
            field_name = next(f.name for f in form.fields if f.type == "person" and f.role == "examencommissie")
            raise ValidationFailed({field_name: ["De vaststeller mag niet ook beoordelaar zijn (R31)."]})
        for role, user_id in chosen.items():
            set_participant(self.session, self.instance.id, role, user_id)
        self._people = None

    def _write_assignment(self, clean: dict) -> None:
        changes = {attr: clean[name] for name, attr in ASSIGNMENT_FIELDS.items() if name in clean}
        if not changes:
            return
        update_assignment(self, changes)

    def audit(self, action: str, summary: str, details: dict | None = None) -> None:
        audit.append_event(
            self.session, self.instance,
            actor_id=self.actor.id if self.actor else None,
            actor_name=self.actor.name if self.actor else "Examenflow",
            role=self.role, action=action, summary=summary, data=details or {}, details=details or {},
            now=self.now,
        )


# Longest text per assignment column (the database's own limits).
ASSIGNMENT_LIMITS = {"title": 200, "examenlocatie": 200, "text": 100_000, "context": 20_000}
FIELD_OF = {attr: name for name, attr in ASSIGNMENT_FIELDS.items()}


def update_assignment(ctx: ExamContext, changes: dict) -> None:
    """Changes the exam's assignment content; refused once locked (R14). History stays in the audit (R19)."""
    too_long = {FIELD_OF.get(attr, attr): [f"Maximaal {limit} tekens."]
                for attr, limit in ASSIGNMENT_LIMITS.items()
                if isinstance(changes.get(attr), str) and len(changes[attr]) > limit}
    if too_long:
        raise ValidationFailed(too_long)
    ea = ctx.session.get(ExamAssignment, ctx.instance.id)
    if ea is None:
        raise RuntimeError("exam without assignment")
    if ea.locked_at is not None:
        raise Conflict("De inhoud van de opdracht ligt vast na de drie goedkeuringen en kan niet meer "
                       "worden gewijzigd (R14).")
    changed, values = {}, {}
    for attr, value in changes.items():
        if attr == "desired_end_date" and isinstance(value, str):
            value = date.fromisoformat(value)
        if getattr(ea, attr) != value:
            changed[attr] = value.isoformat() if isinstance(value, date) else value
            values[attr] = value
    if changed:
        values["content_version"] = ea.content_version + 1
        # One Core UPDATE of the changed columns now, not a unit-of-work flush later (a step's hot
        # path); the loaded object is kept in step with what was written.
        ctx.session.connection().execute(_assignment_update(tuple(sorted(values))),
                                         {**values, "row_id": ea.instance_id})
        for attr, value in values.items():
            set_committed_value(ea, attr, value)
        ctx.audit("assignment_changed", f"Opdracht gewijzigd (versie {ea.content_version})", details=changed)


@lru_cache(maxsize=64)
def _assignment_update(columns: tuple[str, ...]):
    table = ExamAssignment.__table__
    return (update(table).where(table.c.instance_id == bindparam("row_id"))
            .values({name: bindparam(name) for name in columns}))
