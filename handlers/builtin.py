"""Handlers shipped with Examenflow."""

from __future__ import annotations

import logging

from handlers.registry import HandlerContext, service_handler

log = logging.getLogger(__name__)


@service_handler("record_assignment_ready")
def record_assignment_ready(data: dict, ctx: HandlerContext) -> dict:
    """Marks the assignment as ready to be established (used by the PvB diagram)."""
    log.info("assignment ready for establishment in instance %s", ctx.instance_id)
    return {"opdracht_gereed": True}
