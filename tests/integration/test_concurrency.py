"""Twenty clients in separate processes complete the same task at once: exactly one wins (decision 2)."""

from __future__ import annotations

import multiprocessing as mp

from sqlalchemy import func, select

from processes import accounts
from processes.models import AuditEvent, HumanTask
from tests.support.walk import snapshot, start_and_walk_to

CLIENTS = 20


def _client(db_url: str, token: str, task_id: int, barrier, results) -> None:
    """One client process: its own app, its own database connections."""
    from processes import accounts as acc
    from webapp import create_app

    acc.configure_hasher(time_cost=1, memory_cost=8, parallelism=1)
    from tests.support.api import ApiClient

    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "x", "TESTING": True})
    client = ApiClient(app.test_client(), token)  # every response checked against the OpenAPI document
    data = {"opdracht_besluit": "vastgesteld", "bevestiging": True}
    barrier.wait(timeout=120)
    try:
        resp = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": data})
        results.put((token, resp.status_code, resp.get_json()))
    except Exception as exc:  # noqa: BLE001 — reported to the parent, which fails the test
        results.put((token, 0, {"message": f"{type(exc).__name__}: {exc}"}))
    app.extensions["examenflow"].engine.dispose()


def test_twenty_clients_complete_the_same_task_exactly_one_wins(db_url, world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "opdracht_vaststellen")
    # The exam's vaststeller, on twenty devices at once (each client its own token and process).
    vaststeller = world.users["commissie_a"]
    tokens = {accounts.create_api_token(vaststeller, f"apparaat {i}", uow_factory()): "Carla Commissie"
              for i in range(CLIENTS)}
    before = snapshot(uow_factory, instance_id)

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(CLIENTS)
    results = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(db_url, tok, task_id, barrier, results)) for tok in tokens]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    winners = [(tok, body) for tok, status, body in outcomes if status == 200]
    losers = [(tok, status, body) for tok, status, body in outcomes if status != 200]
    assert len(winners) == 1, outcomes
    winner_name = tokens[winners[0][0]]
    assert len(losers) == CLIENTS - 1
    for _tok, status, body in losers:
        assert status == 409, body
        assert winner_name in body["message"]
        assert body["completed_by"] == winner_name

    after = snapshot(uow_factory, instance_id)
    assert after["instance"][0] == before["instance"][0] + 1
    with uow_factory() as uow:
        s = uow.session
        completions = s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id == instance_id, AuditEvent.action == "task_completed",
            AuditEvent.element_id == "opdracht_vaststellen"))
        task = s.get(HumanTask, task_id)
        assert completions == 1
        assert task.status == "completed" and task.completed_by.name == winner_name
