"""The audit trail: append-only events, one hash chain per instance (decision 11).

Each event's hash covers its own fields and the previous event's hash; the instance row keeps
the chain's head (last hash and count), updated in the same transaction, so that an altered row,
a row removed from the middle and the last row removed are all detected.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from processes.models import AuditEvent, ProcessInstance, utcnow

GENESIS = "0" * 64


def digest_data(data) -> str:
    return hashlib.sha256(canonical(data).encode()).hexdigest()


def canonical(data) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _event_hash(prev_hash: str, fields: dict) -> str:
    return hashlib.sha256((prev_hash + canonical(fields)).encode()).hexdigest()


def _hashed_fields(ev: AuditEvent, created_at: datetime) -> dict:
    return {
        "instance_id": ev.instance_id,
        "seq": ev.seq,
        "actor_id": ev.actor_id,
        "actor_name": ev.actor_name,
        "role": ev.role,
        "task_guid": ev.task_guid,
        "element_id": ev.element_id,
        "action": ev.action,
        "summary": ev.summary,
        "data_digest": ev.data_digest,
        "details": ev.details,
        # Microseconds kept; the timezone is normalised because SQLite returns naive values.
        "created_at": created_at.replace(tzinfo=None).isoformat(),
    }


def append_event(
    session: Session,
    instance: ProcessInstance,
    *,
    actor_id: int | None,
    actor_name: str,
    role: str,
    action: str,
    summary: str = "",
    data=None,
    details: dict | None = None,
    task_guid: str | None = None,
    element_id: str | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Appends one event and moves the instance's chain head; the caller commits."""
    created_at = now or utcnow()
    ev = AuditEvent(
        instance_id=instance.id,
        seq=instance.audit_count + 1,
        actor_id=actor_id,
        actor_name=actor_name,
        role=role,
        task_guid=task_guid,
        element_id=element_id,
        action=action,
        summary=summary[:500],
        data_digest=digest_data(data if data is not None else {}),
        details=details or {},
        created_at=created_at,
        prev_hash=instance.audit_head or GENESIS,
    )
    ev.hash = _event_hash(ev.prev_hash, _hashed_fields(ev, created_at))
    session.add(ev)  # written at the next flush, by _insert_pending_events
    instance.audit_head = ev.hash
    instance.audit_count = ev.seq
    return ev


_EVENT_COLUMNS = tuple(c.key for c in AuditEvent.__table__.columns if c.key != "id")
_INSERT_EVENTS = insert(AuditEvent.__table__)


@event.listens_for(Session, "before_flush")
def _insert_pending_events(session: Session, _flush_context, _instances) -> None:
    """New audit events are written with one Core INSERT when the session flushes, instead of by the
    unit of work (which inserts each object with RETURNING for an id nothing reads, and costs more CPU
    than the rest of a step's writes). Append-only: the objects leave the session, and a later query
    loads the rows. The insert happens where the flush happens, so a failing event still fails its step."""
    events = [obj for obj in session.new if isinstance(obj, AuditEvent)]
    if not events:
        return
    events.sort(key=lambda ev: (ev.instance_id, ev.seq))
    for ev in events:
        session.expunge(ev)
    session.connection().execute(
        _INSERT_EVENTS, [{name: getattr(ev, name) for name in _EVENT_COLUMNS} for ev in events]
    )


@dataclass
class ChainProblem:
    instance_id: int
    message: str


def verify_instance(session: Session, instance: ProcessInstance) -> list[ChainProblem]:
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.instance_id == instance.id).order_by(AuditEvent.seq)
    ).all()
    problems: list[ChainProblem] = []
    prev = GENESIS
    expected_seq = 1
    for ev in events:
        if ev.seq != expected_seq:
            problems.append(
                ChainProblem(instance.id, f"gebeurtenis {expected_seq} ontbreekt (volgende is {ev.seq})")
            )
            expected_seq = ev.seq
        if ev.prev_hash != prev:
            problems.append(ChainProblem(instance.id, f"gebeurtenis {ev.seq}: keten verbroken"))
        if _event_hash(ev.prev_hash, _hashed_fields(ev, ev.created_at)) != ev.hash:
            problems.append(ChainProblem(instance.id, f"gebeurtenis {ev.seq}: inhoud gewijzigd"))
        prev = ev.hash
        expected_seq += 1
    if len(events) != instance.audit_count or prev != (instance.audit_head or GENESIS):
        problems.append(
            ChainProblem(
                instance.id,
                f"kop van de keten klopt niet: {len(events)} gebeurtenissen, verwacht {instance.audit_count}",
            )
        )
    return problems


def verify_all(session: Session) -> tuple[int, list[ChainProblem]]:
    problems: list[ChainProblem] = []
    count = 0
    for inst in session.scalars(select(ProcessInstance).order_by(ProcessInstance.id)):
        count += 1
        problems.extend(verify_instance(session, inst))
    return count, problems
