"""Handlers of ``bpmn/inzage_bezwaar.bpmn``: a student's request for inspection or his objection (R34).

Thin on purpose: each asks the request's services (``ctx.exam``, ``processes/request_context.py``).
"""

from __future__ import annotations

from handlers.registry import HandlerContext, service_handler


def _request(ctx: HandlerContext):
    if ctx.exam is None:
        raise RuntimeError(f"handler at {ctx.element_id} needs a request")
    return ctx.exam


@service_handler("record_request_decision")
def record_request_decision(data: dict, ctx: HandlerContext) -> dict:
    """The examencommissie's decision: an arrangement for an inspection, or gegrond/ongegrond."""
    decision = data.get("besluit", "")
    text = data.get("afspraak") if decision == "afspraak" else data.get("motivering")
    _request(ctx).decide_request(decision, text or "")
    return {"besloten": True}


@service_handler("close_request")
def close_request(data: dict, ctx: HandlerContext) -> None:
    """The student has read the decision: the request is done."""
    _request(ctx).close_request()
