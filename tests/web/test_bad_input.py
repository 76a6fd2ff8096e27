"""Bad input gets a 4xx with a clear Dutch message, and the exam's revision stays the same."""

from __future__ import annotations

import pytest

from tests.support.api import api_for
from tests.support.walk import full_data, revision, start_and_walk_to


@pytest.fixture
def parked(app, world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "opdracht_verwerven")
    student = api_for(app, world.users["student_a"], uow_factory)
    return instance_id, task_id, student


def _assert_refused(resp, status: int, words: str, uow_factory, instance_id: int, before: int):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert words in body["message"] or words in str(body.get("errors")), body
    assert revision(uow_factory, instance_id) == before


def test_malformed_json(parked, uow_factory):
    instance_id, task_id, api = parked
    before = revision(uow_factory, instance_id)
    resp = api.post(f"/api/v1/tasks/{task_id}/complete", data="{nope",
                    headers={"Content-Type": "application/json"})
    _assert_refused(resp, 400, "JSON", uow_factory, instance_id, before)


def test_not_json_at_all(parked, uow_factory):
    instance_id, task_id, api = parked
    before = revision(uow_factory, instance_id)
    resp = api.post(f"/api/v1/tasks/{task_id}/complete", data="examenlocatie=x",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    _assert_refused(resp, 400, "JSON", uow_factory, instance_id, before)


def test_body_not_an_object(parked, uow_factory):
    instance_id, task_id, api = parked
    before = revision(uow_factory, instance_id)
    resp = api.post(f"/api/v1/tasks/{task_id}/complete", json=["examenlocatie"])
    _assert_refused(resp, 400, "JSON-object", uow_factory, instance_id, before)


def test_data_of_the_wrong_type(parked, uow_factory):
    instance_id, task_id, api = parked
    before = revision(uow_factory, instance_id)
    resp = api.post(f"/api/v1/tasks/{task_id}/complete", json={"data": "examenlocatie"})
    _assert_refused(resp, 422, "object", uow_factory, instance_id, before)


def test_field_of_the_wrong_type(parked, uow_factory):
    instance_id, task_id, api = parked
    before = revision(uow_factory, instance_id)
    resp = api.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"examenlocatie": 12, "context": []}})
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) >= {"examenlocatie"}
    assert revision(uow_factory, instance_id) == before


def test_missing_body_field(parked, uow_factory):
    instance_id, task_id, api = parked
    before = revision(uow_factory, instance_id)
    resp = api.post(f"/api/v1/tasks/{task_id}/complete", json={"gegevens": {}})
    _assert_refused(resp, 422, "verplicht", uow_factory, instance_id, before)


def test_missing_required_form_field(parked, uow_factory):
    instance_id, task_id, api = parked
    before = revision(uow_factory, instance_id)
    resp = api.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"context": "Thuiszorg"}})
    assert resp.status_code == 422
    assert resp.get_json()["errors"]["examenlocatie"] == ["Dit veld is verplicht."]
    assert revision(uow_factory, instance_id) == before


def test_unknown_form_field(parked, uow_factory):
    instance_id, task_id, api = parked
    before = revision(uow_factory, instance_id)
    resp = api.post(f"/api/v1/tasks/{task_id}/complete",
                    json={"data": {"examenlocatie": "X", "bpv_bedrijf": "Y"}})
    assert resp.status_code == 422
    assert "bpv_bedrijf" in resp.get_json()["errors"]
    assert revision(uow_factory, instance_id) == before


def test_unknown_task_and_instance(parked, uow_factory):
    instance_id, _task_id, api = parked
    before = revision(uow_factory, instance_id)
    resp = api.post("/api/v1/tasks/999999/complete", json={"data": {}})
    _assert_refused(resp, 404, "Onbekende taak", uow_factory, instance_id, before)
    assert api.get("/api/v1/tasks/999999").status_code == 404
    assert api.get("/api/v1/instances/999999").status_code == 404


def test_someone_elses_task(app, parked, world, uow_factory):
    instance_id, task_id, _api = parked
    before = revision(uow_factory, instance_id)
    other = api_for(app, world.users["student_a2"], uow_factory)
    resp = other.post(f"/api/v1/tasks/{task_id}/complete",
                      json={"data": full_data(world, "opdracht_verwerven")})
    _assert_refused(resp, 403, "niet voor u", uow_factory, instance_id, before)
    assert other.get(f"/api/v1/tasks/{task_id}").status_code == 403
    assert other.get(f"/api/v1/instances/{instance_id}").status_code == 403


def test_body_over_the_limit(parked, uow_factory, app):
    instance_id, task_id, api = parked
    before = revision(uow_factory, instance_id)
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    resp = api.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"examenlocatie": big}})
    _assert_refused(resp, 413, "te groot", uow_factory, instance_id, before)


def test_no_token_or_a_bad_one(parked, app, uow_factory):
    from tests.support.api import ApiClient

    instance_id, task_id, _ = parked
    before = revision(uow_factory, instance_id)
    for token in (None, "exf_not-a-real-token"):
        resp = ApiClient(app.test_client(), token).post(f"/api/v1/tasks/{task_id}/complete", json={"data": {}})
        _assert_refused(resp, 401, "token", uow_factory, instance_id, before)


def test_revoked_and_expired_tokens_are_refused(app, world, uow_factory):
    from datetime import timedelta

    from processes import accounts
    from processes.models import utcnow

    raw = accounts.create_api_token(world.users["student_a"], "t", uow_factory(), days=1)
    assert accounts.user_for_token(raw, uow_factory()) is not None
    assert accounts.user_for_token(raw, uow_factory(), now=utcnow() + timedelta(days=2)) is None
    accounts.revoke_api_token(raw, uow_factory())
    assert accounts.user_for_token(raw, uow_factory()) is None


def test_html_form_errors_show_dutch_messages_and_change_nothing(app, world, uow_factory):
    from tests.conftest import csrf_from, login

    instance_id, task_id = start_and_walk_to(world, uow_factory, "opdracht_verwerven")
    before = revision(uow_factory, instance_id)
    client = app.test_client()
    login(client, "student_a@test.nl")
    token = csrf_from(client, f"/taken/{task_id}")
    resp = client.post(f"/taken/{task_id}", data={"examenlocatie": "", "csrf_token": token})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "Dit veld is verplicht." in page
    assert revision(uow_factory, instance_id) == before


def test_bad_page_number_in_the_inbox(parked, uow_factory):
    _instance_id, _task_id, api = parked
    resp = api.get("/api/v1/tasks?page=abc")
    assert resp.status_code == 422
    assert "message" in resp.get_json()
