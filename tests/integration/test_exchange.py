"""The outbox to OKE (design 13; R46, R47) against a real HTTP receiver on this machine.

The receiver serves an OAuth2 token endpoint and ``PATCH /v5/associations/{id}``, answering from a
script (e.g. 503, 503, 204), and records every request it gets.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from processes import exchange
from processes.models import ExamAssignment, ExchangeLogEntry, OutboxMessage, ProcessInstance, School
from tests.conftest import is_postgres
from tests.support.walk import snapshot, start_and_walk_to

T0 = datetime.now(UTC).replace(microsecond=0)
SECRET = "s3cret-of-roc-a"


class SimulatedCrash(BaseException):
    """The process dies: nothing after this point runs (not an Exception, so nothing catches it)."""


@dataclass
class Receiver:
    port: int
    script: list[int] = field(default_factory=list)
    patches: list[dict] = field(default_factory=list)
    tokens: list[dict] = field(default_factory=list)
    expires_in: int = 3600

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v5"


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _answer(self, status: int, payload: dict | None = None, headers: dict | None = None):
            data = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = self._body()
            if self.path != "/token":
                return self._answer(404)
            receiver.tokens.append({"authorization": self.headers.get("Authorization"), "body": body.decode()})
            self._answer(200, {"access_token": f"tok-{len(receiver.tokens)}", "token_type": "Bearer",
                               "expires_in": receiver.expires_in})

        def do_PATCH(self):
            body = self._body()
            receiver.patches.append({
                "path": self.path, "body": body, "key": self.headers.get("Idempotency-Key"),
                "content_type": self.headers.get("Content-Type"), "authorization": self.headers.get("Authorization"),
            })
            if self.headers.get("Authorization") != f"Bearer tok-{len(receiver.tokens)}":
                return self._answer(401, {"title": "Unauthorized"})
            status = receiver.script.pop(0) if receiver.script else 204
            if status >= 300:
                return self._answer(status, {"title": "Service Unavailable"}, {"Retry-After": "1"})
            self._answer(status)

    return Handler


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    rec = Receiver(port=server.server_address[1])
    server.RequestHandlerClass = _handler(rec)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()
    thread.join()


def configure_school(uow_factory, school_id: int, base_url: str, monkeypatch) -> None:
    monkeypatch.setenv(exchange.DEFAULT_SECRET_ENV, SECRET)
    with uow_factory() as uow:
        school = uow.session.get(School, school_id)
        token_url = base_url.rsplit("/v5", 1)[0] + "/token"
        school.settings = {**(school.settings or {}), "oke_base_url": base_url, "oke_token_url": token_url,
                           "oke_client_id": "examenflow-roc-a", "oke_scope": "nl-test-admin-flow-2-3-4"}
        uow.commit()


def finished_exam_with_message(world, uow_factory, fail=frozenset()) -> tuple[int, int]:
    """An exam walked to the end: establishing its result queued the message (due from T0 here)."""
    instance_id, _ = start_and_walk_to(world, uow_factory, None, fail=fail, deliver=False)
    with uow_factory() as uow:
        (m,) = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == instance_id)).all()
        m.next_attempt_at = T0
        message_id = m.id
        uow.commit()
    return instance_id, message_id


def message(uow_factory, message_id: int) -> OutboxMessage:
    with uow_factory() as uow:
        m = uow.session.get(OutboxMessage, message_id)
        uow.session.expunge(m)
        return m


def log_rows(uow_factory, school_id: int, **filters):
    with uow_factory() as uow:
        return exchange.exchange_log(uow.session, school_id, **filters)


def test_r46_refused_twice_then_delivered_once_with_the_same_key_and_body(
        world, uow_factory, session_factory, receiver, monkeypatch):
    school = world.schools["a"]
    configure_school(uow_factory, school, receiver.base_url, monkeypatch)
    instance_id, message_id = finished_exam_with_message(world, uow_factory)
    queued = message(uow_factory, message_id)
    assert (queued.status, queued.method, queued.kind) == ("pending", "PATCH", "result")
    assert queued.body["result"]["pass"] == "passed"
    receiver.script = [503, 503, 204]
    client = exchange.OkeClient()
    seen = []

    def on_delivered(session, msg):
        seen.append((msg.id, msg.status, session.in_transaction()))

    def sweep(at):
        return exchange.deliver_due_messages(session_factory, at, sender=client, on_delivered=on_delivered)

    assert sweep(T0) == 0                                   # 503
    assert sweep(T0 + timedelta(seconds=20)) == 0           # not yet due: back-off of 30 s
    assert len(receiver.patches) == 1
    assert sweep(T0 + timedelta(seconds=31)) == 0           # 503; next in 60 s
    assert sweep(T0 + timedelta(seconds=92)) == 1           # 204
    assert sweep(T0 + timedelta(hours=2)) == 0              # delivered: never again

    assert len(receiver.patches) == 3
    assert {p["key"] for p in receiver.patches} == {queued.idempotency_key}
    assert {p["body"] for p in receiver.patches} == {exchange.encode_body(queued.body)}
    assert {p["path"] for p in receiver.patches} == {"/v5" + queued.path}
    assert {p["content_type"] for p in receiver.patches} == {"application/merge-patch+json"}
    assert json.loads(receiver.patches[0]["body"]) == queued.body
    # One token for all three attempts, fetched with client credentials.
    assert client.token_requests == 1 and len(receiver.tokens) == 1
    assert "grant_type=client_credentials" in receiver.tokens[0]["body"]
    assert "scope=nl-test-admin-flow-2-3-4" in receiver.tokens[0]["body"]
    assert receiver.tokens[0]["authorization"].startswith("Basic ")
    assert SECRET not in json.dumps([p["authorization"] for p in receiver.patches])

    done = message(uow_factory, message_id)
    assert (done.status, done.attempts, done.delivered_at) == ("delivered", 3, T0 + timedelta(seconds=92))
    assert seen == [(message_id, "delivered", True)]

    # R47: every attempt is in the exam bureau's log, newest first, exactly one delivery.
    rows = log_rows(uow_factory, school)
    assert [(r.attempt, r.outcome, r.response_status) for r in rows] == [
        (3, "delivered", 204), (2, "refused", 503), (1, "refused", 503)]
    assert all(r.request_url == receiver.base_url + queued.path and r.request_method == "PATCH" for r in rows)
    assert {r.request_body for r in rows} == {exchange.encode_body(queued.body).decode()}
    assert all(r.instance_id == instance_id and r.message_status == "delivered" for r in rows)
    assert "Service Unavailable" in rows[-1].response_body
    assert len(log_rows(uow_factory, school, status="delivered")) == 3
    assert log_rows(uow_factory, school, status="failed") == []
    assert len(log_rows(uow_factory, school, since=T0 + timedelta(seconds=30))) == 2
    assert log_rows(uow_factory, school, instance_id=instance_id + 1000) == []
    assert log_rows(uow_factory, world.schools["b"]) == []


def test_r46_crash_between_sending_and_recording_resends_the_same_message(
        world, uow_factory, session_factory, receiver, monkeypatch):
    configure_school(uow_factory, world.schools["a"], receiver.base_url, monkeypatch)
    _, message_id = finished_exam_with_message(world, uow_factory)
    client = exchange.OkeClient()

    class SendThenCrash:
        def send(self, endpoint, request, now):
            client.send(endpoint, request, now)  # the receiver has it (204)…
            raise SimulatedCrash                 # …and the process dies before recording it

    with pytest.raises(SimulatedCrash):
        exchange.deliver_due_messages(session_factory, T0, sender=SendThenCrash())
    after_crash = message(uow_factory, message_id)
    assert (after_crash.status, after_crash.attempts, after_crash.next_attempt_at) == ("pending", 0, T0)
    assert log_rows(uow_factory, world.schools["a"]) == []

    assert exchange.deliver_due_messages(session_factory, T0 + timedelta(seconds=1), sender=client) == 1
    assert len(receiver.patches) == 2
    first, second = receiver.patches
    assert (first["key"], first["body"]) == (second["key"], second["body"])
    assert first["key"] == after_crash.idempotency_key
    assert client.token_requests == 1
    assert message(uow_factory, message_id).status == "delivered"


def test_r46_failing_to_record_a_delivery_counts_as_a_failed_attempt(
        world, uow_factory, session_factory, receiver, monkeypatch):
    configure_school(uow_factory, world.schools["a"], receiver.base_url, monkeypatch)
    _, message_id = finished_exam_with_message(world, uow_factory)
    client = exchange.OkeClient()

    def broken(session, msg):
        raise RuntimeError("the workflow could not take the message event")

    assert exchange.deliver_due_messages(session_factory, T0, sender=client, on_delivered=broken) == 0
    m = message(uow_factory, message_id)
    assert (m.status, m.attempts, m.next_attempt_at) == ("pending", 1, T0 + timedelta(seconds=30))
    (row,) = log_rows(uow_factory, world.schools["a"])
    assert row.outcome == "error" and row.response_status == 204
    assert "vastleggen mislukt" in row.response_body and "message event" in row.response_body

    calls = []
    assert exchange.deliver_due_messages(session_factory, T0 + timedelta(seconds=30), sender=client,
                                         on_delivered=lambda s, msg: calls.append(msg.id)) == 1
    assert calls == [message_id]
    assert [p["key"] for p in receiver.patches] == [m.idempotency_key] * 2
    assert len({p["body"] for p in receiver.patches}) == 1


def test_r46_a_receiver_that_is_down_never_rolls_back_the_exam(
        world, uow_factory, session_factory, monkeypatch):
    # A port with nobody listening: connection refused.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    configure_school(uow_factory, world.schools["a"], f"http://127.0.0.1:{dead_port}/v5", monkeypatch)

    # The step that establishes the result writes the message in its own transaction (the
    # record_result handler): the receiver plays no part in the step.
    instance_id, _ = start_and_walk_to(world, uow_factory, None, fail={"w2c1"}, deliver=False)
    with uow_factory() as uow:
        (m,) = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == instance_id)).all()
        uow.session.expunge(m)
        assert uow.session.get(ExamAssignment, instance_id).result == "onvoldoende"
    assert m.body["result"]["pass"] == "failed"
    before = snapshot(uow_factory, instance_id)

    at = m.next_attempt_at
    assert exchange.deliver_due_messages(session_factory, at, sender=exchange.OkeClient(timeout=2)) == 0
    assert snapshot(uow_factory, instance_id) == before
    with uow_factory() as uow:
        assert uow.session.get(ExamAssignment, instance_id).result == "onvoldoende"
    after = message(uow_factory, m.id)
    assert (after.status, after.attempts) == ("pending", 1)
    assert "geen antwoord" in after.last_error
    (row,) = log_rows(uow_factory, world.schools["a"], instance_id=instance_id)
    assert (row.outcome, row.response_status, row.message_status) == ("error", None, "pending")


def test_r46_after_the_last_attempt_the_message_is_an_incident_until_retried(
        world, uow_factory, session_factory, receiver, monkeypatch):
    school = world.schools["a"]
    configure_school(uow_factory, school, receiver.base_url, monkeypatch)
    _, message_id = finished_exam_with_message(world, uow_factory)
    receiver.script = [503] * exchange.MAX_ATTEMPTS
    client = exchange.OkeClient()
    at = T0
    for n in range(1, exchange.MAX_ATTEMPTS + 1):
        assert exchange.deliver_due_messages(session_factory, at, sender=client) == 0
        m = message(uow_factory, message_id)
        assert m.attempts == n
        if n < exchange.MAX_ATTEMPTS:
            assert m.next_attempt_at - at == min(timedelta(seconds=30 * 2 ** (n - 1)), timedelta(hours=1))
            at = m.next_attempt_at
    assert m.status == "failed"
    assert exchange.deliver_due_messages(session_factory, at + timedelta(days=1), sender=client) == 0
    assert len(receiver.patches) == exchange.MAX_ATTEMPTS
    # The attempts spanned more than the token's hour: a fresh token once the first expired.
    assert client.token_requests == 2
    failed = log_rows(uow_factory, school, status="failed")
    assert len(failed) == exchange.MAX_ATTEMPTS and {r.outcome for r in failed} == {"refused"}

    with uow_factory() as uow:
        exchange.retry_message(uow.session, school, message_id, at + timedelta(days=1))
        uow.commit()
    assert exchange.deliver_due_messages(session_factory, at + timedelta(days=1), sender=client) == 1
    assert message(uow_factory, message_id).status == "delivered"
    assert len({(p["key"], p["body"]) for p in receiver.patches}) == 1


def test_r46_queueing_is_idempotent_and_a_changed_result_supersedes_the_old(
        world, uow_factory, session_factory, receiver, monkeypatch):
    configure_school(uow_factory, world.schools["a"], receiver.base_url, monkeypatch)
    instance_id, first_id = finished_exam_with_message(world, uow_factory)
    with uow_factory() as uow:
        inst = uow.session.get(ProcessInstance, instance_id)
        assert exchange.queue_result_message(uow.session, inst, T0 + timedelta(minutes=5)) == first_id
        # A corrected result (e.g. after an appeal) is another message about the same association.
        uow.session.get(ExamAssignment, instance_id).result = "onvoldoende"
        second_id = exchange.queue_result_message(uow.session, inst, T0)
        uow.commit()
    assert second_id != first_id
    assert exchange.deliver_due_messages(session_factory, T0, sender=exchange.OkeClient()) == 1
    assert message(uow_factory, first_id).status == "superseded"
    assert message(uow_factory, second_id).status == "delivered"
    (patch,) = receiver.patches
    assert json.loads(patch["body"])["result"]["pass"] == "failed"
    assert patch["path"] == "/v5" + message(uow_factory, first_id).path  # the same association


def test_r46_an_unconfigured_school_is_an_error_in_the_log_not_a_crash(world, uow_factory, session_factory):
    _, message_id = finished_exam_with_message(world, uow_factory)
    assert exchange.deliver_due_messages(session_factory, T0, sender=exchange.OkeClient()) == 0
    m = message(uow_factory, message_id)
    assert (m.status, m.attempts) == ("pending", 1)
    assert "oke_base_url" in m.last_error
    (row,) = log_rows(uow_factory, world.schools["a"])
    assert (row.outcome, row.request_url) == ("error", m.path)


@pytest.mark.skipif(not is_postgres(), reason="SKIP LOCKED is PostgreSQL's; SQLite runs one scheduler")
def test_r46_a_message_locked_by_one_sweep_is_skipped_by_another(
        world, uow_factory, session_factory, receiver, monkeypatch):
    configure_school(uow_factory, world.schools["a"], receiver.base_url, monkeypatch)
    _, message_id = finished_exam_with_message(world, uow_factory)
    with session_factory() as holder:
        holder.scalar(select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update())
        assert exchange.deliver_due_messages(session_factory, T0, sender=exchange.OkeClient()) == 0
        assert receiver.patches == []
        holder.rollback()
    assert exchange.deliver_due_messages(session_factory, T0, sender=exchange.OkeClient()) == 1
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ExchangeLogEntry)) == 1


def test_r46_a_resits_result_never_supersedes_the_previous_attempts(world, uow_factory, session_factory, receiver,
                                                                   monkeypatch):
    """Each attempt of an exam at exam moments is its own association: the first attempt's established
    result still goes out when the resit's provisional one is queued after it."""
    from processes import runner
    from tests.support import moments as m

    configure_school(uow_factory, world.schools["a"], receiver.base_url, monkeypatch)
    client = exchange.OkeClient()

    def sweep(at):
        return exchange.deliver_due_messages(session_factory, at, sender=client,
                                             on_delivered=lambda s, msg: runner.record_delivery(s, msg, at))

    setup = m.make_exam(world, uow_factory, max_attempts=2, cesuur=55)
    resit_at = m.STARTS + timedelta(days=14)
    second = m.plan(world, uow_factory, setup.version_id, starts_at=resit_at, enrol_until=resit_at - timedelta(days=4))
    reg_id, inst = m.register(world, uow_factory, setup)
    m.do(world, uow_factory, inst, "go_geven")
    m.do(world, uow_factory, inst, "inschrijven_bureau", {"moment": setup.moment_id})
    [first] = m.enrolments_of(uow_factory, reg_id)
    m.record_attendance(world, uow_factory, setup.moment_id, {first.id: True})
    m.do(world, uow_factory, inst, "v1_resultaat_invoeren", {"score": 40}, at=m.AFTER)
    # The moment's proces-verbaal (flow 4) and the provisional result (flow 3) go out.
    assert sweep(m.AFTER) == 2
    m.do(world, uow_factory, inst, "v1_uitwisseling_controleren", at=m.AFTER)
    m.do(world, uow_factory, inst, "v1_vaststellen_commissie", at=m.AFTER)
    # Not delivered yet when the resit's provisional result is queued after it.
    m.do(world, uow_factory, inst, "inschrijven_bureau", {"moment": second}, at=m.AFTER)
    [_, again] = m.enrolments_of(uow_factory, reg_id)
    m.record_attendance(world, uow_factory, second, {again.id: True}, at=resit_at + timedelta(hours=3))
    m.do(world, uow_factory, inst, "v1_resultaat_invoeren", {"score": 80}, at=resit_at + timedelta(hours=4))
    assert sweep(resit_at + timedelta(hours=5)) == 3
    with uow_factory() as uow:
        results = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == inst)
                                      .order_by(OutboxMessage.id)).all()
        assert [r.status for r in results] == ["delivered"] * 3
        finals = [(r.path, r.body["result"]["consumers"][0]["final"]) for r in results]
    assert finals[1][1] is True and finals[2][1] is False and finals[1][0] != finals[2][0]
    assert {p["path"].split("/v5", 1)[-1] for p in receiver.patches} >= {finals[1][0], finals[2][0]}
