"""The outbox to other systems (design 13): results leave through OKE flow 3, at least once.

- ``queue_result_message`` writes the flow-3 message of an exam's established result into
  ``outbox_message`` in the caller's transaction: the step that establishes the result commits the
  message with it, and a receiver that is down can never roll the step back.
- ``deliver_due_messages`` (the scheduler's sweep) sends due messages after commit, one per
  transaction with its row locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, design 14), logs every
  attempt in ``exchange_log`` (R47), retries with back-off and, after ``MAX_ATTEMPTS``, marks the
  message ``failed``: an incident the exam bureau sees and can retry.

A message is stored complete (path, body, idempotency key) when it is queued and never rebuilt: a
crash between sending and recording leaves the row pending, and the next sweep sends the same body
with the same ``Idempotency-Key`` — the receiver gets the same PATCH of the same association again.

The HTTP/OAuth2 client that does the sending lives in ``handlers/oke_client.py`` (no database); its
names are re-exported here.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from handlers import oke
from handlers.clock import aware
from handlers.oke_client import (
    DEFAULT_SECRET_ENV,
    MAX_LOGGED_RESPONSE,
    MIN_TLS,
    TIMEOUT_SECONDS,
    DeliveryError,
    Endpoint,
    EndpointNotConfigured,
    HttpResponse,
    OkeClient,
    OutgoingRequest,
    Sender,
    default_client,
    encode_body,
)
from processes.models import (
    Assessment,
    ExamAssignment,
    ExchangeLogEntry,
    OutboxMessage,
    ProcessInstance,
    School,
    User,
)

__all__ = [
    # the outbox's use cases
    "MAX_ATTEMPTS",
    "ExchangeLogRow",
    "OnDelivered",
    "backoff",
    "deliver_due_messages",
    "exchange_log",
    "queue_result_message",
    "result_message_for",
    "retry_message",
    # the HTTP/OAuth2 client, re-exported from handlers.oke_client
    "DEFAULT_SECRET_ENV",
    "MAX_LOGGED_RESPONSE",
    "MIN_TLS",
    "TIMEOUT_SECONDS",
    "DeliveryError",
    "Endpoint",
    "EndpointNotConfigured",
    "HttpResponse",
    "OkeClient",
    "OutgoingRequest",
    "Sender",
    "default_client",
    "encode_body",
]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)

OnDelivered = Callable[[Session, OutboxMessage], None]


# --- queueing (inside a step) ---------------------------------------------------------------------


def result_message_for(session: Session, instance: ProcessInstance) -> tuple[str, dict]:
    """``(path, body)`` of the flow-3 PATCH for the exam's established result (validated)."""
    ea = session.get(ExamAssignment, instance.id)
    if ea is None or ea.result is None or ea.result_established_at is None:
        raise ValueError(f"examen {instance.id} heeft geen vastgestelde uitslag")
    school = session.get(School, instance.school_id)
    rows = session.execute(
        select(Assessment.assessor_id, Assessment.role, User.name)
        .join(User, User.id == Assessment.assessor_id)
        .where(Assessment.instance_id == instance.id)
        .order_by(Assessment.id)
    ).all()
    seen: dict[int, oke.Assessor] = {}
    for row in rows:
        if row.assessor_id not in seen:
            seen[row.assessor_id] = oke.Assessor(
                name=row.name, role=row.role, assessor_id=oke.assessor_id_for(school.code, row.assessor_id)
            )
    # The school's own assessor (ROC) goes first: OKE has room for one assessorId.
    assessors = sorted(seen.values(), key=lambda a: a.role != "roc_beoordelaar")
    association_id = oke.association_id_for(school.code, instance.id)
    path, body = oke.build_result_association(
        association_id,
        result=ea.result,
        werkprocessen=(ea.result_details or {}).get("werkprocessen", {}),
        assessors=assessors,
        established_at=ea.result_established_at,
    )
    oke.validate_association_patch(body, association_id)
    return path, body


def queue_result_message(session: Session, instance: ProcessInstance, now: datetime) -> int:
    """Puts the exam's established result in the outbox, in the caller's transaction; returns its id.

    The idempotency key is stable per exam and content: queueing the same result twice returns the
    message already queued; a changed result is a new message (older pending ones are superseded
    when the sweep reaches them).
    """
    now = aware(now, "now")
    path, body = result_message_for(session, instance)
    digest = hashlib.sha256(("PATCH " + path + "\n").encode() + encode_body(body)).hexdigest()
    key = f"result-{instance.id}-{digest[:16]}"
    existing = session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
    if existing is not None:
        return existing
    message = OutboxMessage(
        school_id=instance.school_id, instance_id=instance.id, kind="result", method="PATCH", path=path,
        body=body, idempotency_key=key, status="pending", attempts=0, next_attempt_at=now, created_at=now,
    )
    session.add(message)
    session.flush()
    return message.id

# --- delivering (the scheduler's sweep) -----------------------------------------------------------


@dataclass
class _Attempt:
    url: str
    body: str
    started: datetime
    status: int | None = None
    response: str | None = None
    headers: Mapping[str, str] | None = None
    error: str | None = None
    duration_ms: int = 0

    @property
    def outcome(self) -> str:
        if self.error is None and self.status is not None and 200 <= self.status < 300:
            return "delivered"
        return "error" if self.error is not None else "refused"


def backoff(attempts: int) -> timedelta:
    """30 s after the first failed attempt, doubling, at most an hour."""
    return min(FIRST_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def deliver_due_messages(session_factory: sessionmaker[Session], now: datetime, limit: int = 50,
                         sender: Sender | None = None, on_delivered: OnDelivered | None = None) -> int:
    """Sends the messages due at ``now`` (at most ``limit``), each in its own transaction; returns
    how many were delivered. ``on_delivered(session, message)`` runs in the transaction that marks a
    message delivered (e.g. to end the process's wait for delivery); if it fails, the delivery is
    recorded as a failed attempt and the message is sent again later."""
    now = aware(now, "now")
    sender = sender or default_client()
    delivered = 0
    tried: set[int] = set()
    for _ in range(limit):
        with session_factory() as session:
            message = _next_due(session, now, tried)
            if message is None:
                break
            message_id = message.id
            tried.add(message_id)
            attempt: _Attempt | None = None
            try:
                if _supersede_if_newer(session, message):
                    session.commit()
                    continue
                attempt = _send(session, message, sender, now)
                _record(session, message, attempt, now, on_delivered)
                session.commit()
            except Exception as exc:  # noqa: BLE001 — a failure is recorded, never lost
                session.rollback()
                log.exception("outbox message %s: delivery failed", message_id)
                _record_failure(session_factory, message_id, attempt, exc, now)
                continue
            if attempt.outcome == "delivered":
                delivered += 1
    return delivered


def _next_due(session: Session, now: datetime, tried: set[int]) -> OutboxMessage | None:
    q = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(1)
    )
    if tried:
        q = q.where(OutboxMessage.id.not_in(tried))
    if session.bind.dialect.name == "postgresql":
        # Locked for the whole transaction that sends it: a crash releases it, nothing stays claimed.
        q = q.with_for_update(skip_locked=True)
    return session.scalar(q)


def _supersede_if_newer(session: Session, message: OutboxMessage) -> bool:
    """A newer message of the same kind about the same exam and resource replaces this one (PATCH: the
    last wins); a resit's result (another association) never replaces the previous attempt's."""
    if message.instance_id is None:
        return False
    newer = session.scalar(
        select(OutboxMessage.id)
        .where(OutboxMessage.instance_id == message.instance_id, OutboxMessage.kind == message.kind,
               OutboxMessage.path == message.path, OutboxMessage.id > message.id,
               OutboxMessage.status.in_(("pending", "delivered")))
        .limit(1)
    )
    if newer is None:
        return False
    message.status = "superseded"
    message.last_error = f"Vervangen door bericht {newer}"
    return True


def _send(session: Session, message: OutboxMessage, sender: Sender, now: datetime) -> _Attempt:
    body = encode_body(message.body)
    attempt = _Attempt(url=message.path, body=body.decode("utf-8"), started=now)
    school = session.get(School, message.school_id)
    try:
        endpoint = Endpoint.from_settings(school.settings)
    except EndpointNotConfigured as exc:
        attempt.error = str(exc)
        return attempt
    attempt.url = endpoint.url_for(message.path)
    request = OutgoingRequest(
        method=message.method, url=attempt.url, body=body,
        headers={"Content-Type": oke.MERGE_PATCH, "Accept": "application/json",
                 "Idempotency-Key": message.idempotency_key},
    )
    started = time.monotonic()
    try:
        response = sender.send(endpoint, request, now)
    except Exception as exc:  # noqa: BLE001 — no answer is an attempt that failed
        attempt.error = str(exc) or type(exc).__name__
        attempt.status = getattr(exc, "status", None)
        attempt.response = getattr(exc, "body", None)
    else:
        attempt.status = response.status
        attempt.response = response.body
        attempt.headers = response.headers
    attempt.duration_ms = int((time.monotonic() - started) * 1000)
    return attempt


def _record(session: Session, message: OutboxMessage, attempt: _Attempt, now: datetime,
            on_delivered: OnDelivered | None, note: str | None = None) -> None:
    message.attempts += 1
    outcome = "error" if note else attempt.outcome
    response = attempt.response
    if attempt.error or note:
        response = "\n".join(x for x in (note, attempt.error, response) if x)
    session.add(ExchangeLogEntry(
        message_id=message.id, school_id=message.school_id, attempt=message.attempts, at=attempt.started,
        request_method=message.method, request_url=attempt.url, request_body=attempt.body,
        response_status=attempt.status, response_body=(response or "")[:MAX_LOGGED_RESPONSE] or None,
        outcome=outcome, duration_ms=attempt.duration_ms,
    ))
    if outcome == "delivered":
        message.status = "delivered"
        message.delivered_at = now
        message.last_error = None
        session.flush()
        if on_delivered is not None:
            on_delivered(session, message)
        return
    message.last_error = note or attempt.error or f"HTTP {attempt.status}"
    if message.attempts >= MAX_ATTEMPTS:
        message.status = "failed"
        log.warning("outbox message %s failed after %s attempts: %s", message.id, message.attempts,
                    message.last_error)
    else:
        message.next_attempt_at = now + max(backoff(message.attempts), _retry_after(attempt))


def _retry_after(attempt: _Attempt) -> timedelta:
    """A receiver's ``Retry-After`` in seconds (429, 503), within the back-off's ceiling."""
    headers = {k.lower(): v for k, v in (attempt.headers or {}).items()}
    try:
        return min(timedelta(seconds=max(int(headers.get("retry-after", "0")), 0)), MAX_BACKOFF)
    except ValueError:
        return timedelta(0)


def _record_failure(session_factory: sessionmaker[Session], message_id: int, attempt: _Attempt | None,
                    exc: Exception, now: datetime) -> None:
    """After a failure while recording: count the attempt in a fresh transaction, so a message whose
    recording keeps failing backs off and ends as an incident instead of being resent every sweep."""
    try:
        with session_factory() as session:
            message = _lock(session, message_id)
            if message is None or message.status != "pending":
                return
            if attempt is None:
                attempt = _Attempt(url=message.path, body=encode_body(message.body).decode("utf-8"), started=now)
            sent = f"verzonden (HTTP {attempt.status}), " if attempt.status is not None else ""
            _record(session, message, attempt, now, None,
                    note=f"{sent}vastleggen mislukt: {type(exc).__name__}: {exc}")
            session.commit()
    except Exception:  # noqa: BLE001 — the row stays pending; the next sweep tries again
        log.exception("outbox message %s: could not record the failure either", message_id)


def _lock(session: Session, message_id: int) -> OutboxMessage | None:
    q = select(OutboxMessage).where(OutboxMessage.id == message_id)
    if session.bind.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return session.scalar(q)


def retry_message(session: Session, school_id: int, message_id: int, now: datetime) -> None:
    """The exam bureau sends a failed message again: back to pending, a fresh series of attempts."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.school_id != school_id:
        raise LookupError(f"bericht {message_id} niet gevonden")
    if message.status != "failed":
        raise ValueError(f"bericht {message_id} is niet mislukt (status {message.status})")
    message.status = "pending"
    message.attempts = 0
    message.next_attempt_at = aware(now, "now")


# --- the exam bureau's log (R47) -------------------------------------------------------------------


@dataclass(frozen=True)
class ExchangeLogRow:
    id: int
    at: datetime
    message_id: int
    instance_id: int | None
    kind: str
    attempt: int
    request_method: str
    request_url: str
    request_body: str
    response_status: int | None
    response_body: str | None
    outcome: str
    duration_ms: int
    message_status: str
    idempotency_key: str


def exchange_log(session: Session, school_id: int, *, status: str | None = None, since: datetime | None = None,
                 instance_id: int | None = None, limit: int = 200) -> list[ExchangeLogRow]:
    """A school's delivery attempts, newest first; ``status`` filters on the message's status
    (pending, delivered, failed, superseded), ``since`` on the attempt's time."""
    q = (
        select(ExchangeLogEntry, OutboxMessage.instance_id, OutboxMessage.kind, OutboxMessage.status,
               OutboxMessage.idempotency_key)
        .join(OutboxMessage, OutboxMessage.id == ExchangeLogEntry.message_id)
        .where(ExchangeLogEntry.school_id == school_id)
        .order_by(ExchangeLogEntry.at.desc(), ExchangeLogEntry.id.desc())
        .limit(limit)
    )
    if status is not None:
        q = q.where(OutboxMessage.status == status)
    if since is not None:
        q = q.where(ExchangeLogEntry.at >= aware(since, "since"))
    if instance_id is not None:
        q = q.where(OutboxMessage.instance_id == instance_id)
    return [
        ExchangeLogRow(
            id=e.id, at=e.at, message_id=e.message_id, instance_id=inst, kind=kind, attempt=e.attempt,
            request_method=e.request_method, request_url=e.request_url, request_body=e.request_body,
            response_status=e.response_status, response_body=e.response_body, outcome=e.outcome,
            duration_ms=e.duration_ms, message_status=msg_status, idempotency_key=key,
        )
        for e, inst, kind, msg_status, key in session.execute(q).all()
    ]
