"""The services of an inspection or objection request (R34), for the handlers of
``bpmn/inzage_bezwaar.bpmn``: record the examencommissie's decision and close the request once the
student has read it. Runs inside the step's transaction; the decision also goes into the audit trail of
the exam the request is about."""

from __future__ import annotations

from sqlalchemy import select

from handlers.registry import StepRefused
from processes.exam import ExamContext
from processes.models import ExamRequest, ProcessInstance

# The process whose instances are requests; ``runner.exam_context`` gives them this context.
REQUEST_PROCESS = "inzage_bezwaar"
KINDS = {"inzage": "Inzage", "bezwaar": "Bezwaar"}
# Which decisions fit which kind of request (the committee's form offers them all).
DECISIONS = {"inzage": {"afspraak": "Inzage geregeld"},
             "bezwaar": {"gegrond": "Bezwaar gegrond", "ongegrond": "Bezwaar ongegrond"}}


class RequestContext(ExamContext):
    """ExamContext for one request: the row beside the process and the exam it is about."""

    _request: ExamRequest | None = None

    def request(self) -> ExamRequest:
        if self._request is None:
            self._request = self.session.scalar(select(ExamRequest).where(ExamRequest.instance_id == self.instance.id))
            if self._request is None:
                raise RuntimeError(f"instance {self.instance.id} is no exam request")
        return self._request

    def decide_request(self, decision: str, text: str) -> None:
        req = self.request()
        allowed = DECISIONS[req.kind]
        if decision not in allowed:
            raise StepRefused(f"Dit is een verzoek om {KINDS[req.kind].lower()}: kies "
                              + " of ".join(f"'{label}'" for label in allowed.values()) + ".", field="besluit")
        if not (text or "").strip():
            field_name = "afspraak" if req.kind == "inzage" else "motivering"
            raise StepRefused("Dit veld is verplicht.", field=field_name)
        req.status, req.decision, req.decision_text = "besloten", decision, text.strip()
        req.decided_by_id, req.decided_at = (self.actor.id if self.actor else None), self.now
        summary = f"{KINDS[req.kind]}: {allowed[decision].lower()} door de examencommissie (R34)"
        details = {"request": req.id, "kind": req.kind, "decision": decision, "toelichting": req.decision_text}
        self.audit("request_decided", summary, details=details)
        # The exam's own trail tells the same (imported here: registrations runs the engine).
        from processes.registrations import audit_outside_step

        exam = self.session.get(ProcessInstance, req.exam_instance_id)
        audit_outside_step(self.session, exam, self.actor, self.role, "request_decided", summary,
                           {**details, "request_instance": self.instance.id}, self.now)

    def close_request(self) -> None:
        req = self.request()
        req.status, req.read_at = "gelezen", self.now
        self.audit("request_decision_read", "De student heeft het besluit gelezen", details={"request": req.id})
