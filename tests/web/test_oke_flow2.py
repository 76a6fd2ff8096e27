"""OKE flow 2 in over HTTP (issue 5, point 7): the planner's client gets a token with OAuth2 client
credentials and PUTs sittings and enrolments under /ooapi; what does not validate changes nothing."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import select

from processes import oke_clients
from processes.models import ApiToken, OkeClient, utcnow
from tests.conftest import run_cli
from tests.support.oke import prepare_oke_school


@pytest.fixture
def school(world, uow_factory):
    return prepare_oke_school(world, uow_factory)


def _token(client, client_id: str, secret: str, basic: bool = True, **form) -> object:
    if basic:
        auth = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        return client.post("/oauth/token", data={"grant_type": "client_credentials", **form},
                           headers={"Authorization": f"Basic {auth}"})
    return client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                             "client_secret": secret, **form})


@pytest.fixture
def planner(client, school):
    """The planner's HTTP client: PUT/GET under /ooapi with a fresh access token."""
    token = _token(client, school.client_id, school.secret).get_json()["access_token"]
    return Planner(client, token)


class Planner:
    def __init__(self, client, token: str):
        self.client, self.token = client, token

    def put(self, path: str, body=None, **kw):
        return self.client.put("/ooapi" + path, json=body, headers={"Authorization": f"Bearer {self.token}"}, **kw)

    def get(self, path: str):
        return self.client.get("/ooapi" + path, headers={"Authorization": f"Bearer {self.token}"})


# ----------------------------------------------------------------------------- OAuth2 client credentials


@pytest.mark.parametrize("basic", [True, False], ids=["http-basic", "form-fields"])
def test_flow2_token_endpoint_gives_a_one_hour_bearer_token(client, school, uow_factory, basic):
    resp = _token(client, school.client_id, school.secret, basic=basic, scope=oke_clients.SCOPE)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600, oke_clients.SCOPE)
    assert resp.headers["Cache-Control"] == "no-store"
    with uow_factory() as uow:
        tokens = uow.session.execute(select(ApiToken.digest, ApiToken.expires_at)
                                     .where(ApiToken.user_id == school.system_user_id)).all()
        secret_digest = uow.session.scalar(select(OkeClient.secret_digest))
    assert len(tokens) == 1 and tokens[0].digest != body["access_token"].encode()
    assert timedelta(minutes=59) < tokens[0].expires_at - utcnow() <= timedelta(hours=1)
    assert school.secret.encode() not in secret_digest


@pytest.mark.parametrize(
    ("form", "secret", "status", "error"),
    [
        ({}, "okes_wrong", 401, "invalid_client"),
        ({"grant_type": "password"}, None, 400, "unsupported_grant_type"),
        ({"grant_type": ""}, None, 400, "invalid_request"),
        ({"scope": "nl-test-admin-flow-1-5"}, None, 400, "invalid_scope"),
    ],
)
def test_flow2_token_endpoint_refuses_as_rfc6749_says(client, school, form, secret, status, error):
    resp = _token(client, school.client_id, secret or school.secret, **form)
    assert resp.status_code == status
    assert resp.get_json()["error"] == error and resp.get_json()["error_description"]
    if status == 401:
        assert resp.headers["WWW-Authenticate"].startswith("Basic")
    unknown = _token(client, "okec_onbekend", school.secret, basic=False)
    assert (unknown.status_code, unknown.get_json()["error"]) == (401, "invalid_client")


def test_flow2_an_oke_token_does_not_open_the_json_api(client, planner):
    resp = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {planner.token}"})
    assert resp.status_code == 401


def test_flow2_client_cli_prints_id_and_secret_once(app, world, client, uow_factory):
    result = run_cli(app, "oke", "client", "create", "--school", "roc-b", "--name", "Planner ROC B")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.output.splitlines() if line.startswith("client_"))
    client_id, secret = lines["client_id"].strip(), lines["client_secret"].strip()
    assert _token(client, client_id, secret).status_code == 200
    with uow_factory() as uow:
        row = uow.session.scalar(select(OkeClient).where(OkeClient.client_id == client_id))
        assert (row.school_id, row.name) == (world.schools["b"], "Planner ROC B")
        assert row.secret_digest != secret.encode()
    assert run_cli(app, "oke", "client", "create", "--school", "roc-x").exit_code == 1
    assert run_cli(app, "oke", "client", "revoke", client_id).exit_code == 0
    assert _token(client, client_id, secret).status_code == 401
