"""OKE flow 2 in over HTTP (issue 5, point 7): the planner's client gets a token with OAuth2 client
credentials and PUTs sittings and enrolments under /ooapi; what does not validate changes nothing."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from handlers import oke
from processes import accounts, oke_clients
from processes.models import ApiToken, Enrolment, ExamMoment, OkeClient, utcnow
from processes.oke_in import DEFAULT_CAPACITY
from tests.conftest import run_cli
from tests.support.oke import (
    ASSOCIATION_CHANGE_EXAMPLE,
    ASSOCIATION_ID,
    OFFERING_ID,
    OFFERING_MINIMAL_EXAMPLE,
    association_example,
    association_for,
    future_offering,
    prepare_oke_school,
)

OTHER_ASSOCIATION = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


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

    def patch(self, path: str, body=None, **kw):
        kw.setdefault("content_type", oke.MERGE_PATCH)
        return self.client.patch("/ooapi" + path, data=json.dumps(body), headers={
            "Authorization": f"Bearer {self.token}"}, **kw)

    def get(self, path: str):
        return self.client.get("/ooapi" + path, headers={"Authorization": f"Bearer {self.token}"})


def _rows(uow_factory) -> tuple:
    """Everything flow 2 may change: moments and enrolments, with their seats and statuses."""
    with uow_factory() as uow:
        s = uow.session
        moments = s.execute(select(ExamMoment.id, ExamMoment.starts_at, ExamMoment.location, ExamMoment.capacity,
                                   ExamMoment.enrolled).order_by(ExamMoment.id)).all()
        enrolments = s.execute(select(Enrolment.id, Enrolment.status, Enrolment.accommodations)
                               .order_by(Enrolment.id)).all()
    return tuple(moments), tuple(enrolments)


def _refused(resp, status: int, words: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == str(status) and body["title"]
    assert words in body["detail"] + " ".join(body.get("errors", [])), body
    return body


def _moment(uow_factory, offering_id: str = OFFERING_ID) -> ExamMoment:
    with uow_factory() as uow:
        moment = uow.session.scalar(select(ExamMoment).where(ExamMoment.external_id == offering_id))
        uow.session.expunge(moment)  # detached with its values, not expired by the rollback
    return moment


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


def test_flow2_a_revoked_client_gets_no_token_and_its_tokens_stop(client, school, planner, uow_factory):
    assert planner.get(f"/offerings/{OFFERING_ID}").status_code == 404
    oke_clients.revoke_client(school.client_id, uow_factory())
    assert _token(client, school.client_id, school.secret).get_json()["error"] == "invalid_client"
    assert planner.get(f"/offerings/{OFFERING_ID}").status_code == 401


def test_flow2_expired_wrong_or_foreign_tokens_get_401(client, world, school, planner, uow_factory):
    before = _rows(uow_factory)
    with uow_factory() as uow:
        uow.session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        uow.commit()
    _refused(planner.put(f"/offerings/{OFFERING_ID}", future_offering()), 401, "Geen geldig OKE-token")
    assert planner.put(f"/offerings/{OFFERING_ID}", future_offering()).headers["WWW-Authenticate"].startswith(
        "Bearer")
    for token in ("oke_verzonnen", accounts.create_api_token(world.users["bureau_a"], "api", uow_factory())):
        _refused(Planner(client, token).put(f"/offerings/{OFFERING_ID}", future_offering()), 401, "OKE-token")
    assert client.put(f"/ooapi/offerings/{OFFERING_ID}", json=future_offering()).status_code == 401
    assert _rows(uow_factory) == before


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


# ----------------------------------------------------------------------------- offerings


def test_flow2_offering_put_from_spec_example_creates_moment(planner, school, uow_factory):
    body = future_offering()
    resp = planner.put(f"/offerings/{OFFERING_ID}", body)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    moment = _moment(uow_factory)
    assert (moment.location, moment.capacity, moment.enrolled) == ("A-22", DEFAULT_CAPACITY, 0)
    assert moment.starts_at.isoformat() == body["startDateTime"]
    assert moment.ends_at - moment.starts_at == timedelta(hours=1)
    shown = planner.get(f"/offerings/{OFFERING_ID}").get_json()
    assert shown == resp.get_json()
    assert (shown["offeringId"], shown["maxNumberStudents"], oke.consumer_entry(shown)["locationCode"]) == (
        OFFERING_ID, DEFAULT_CAPACITY, "A-22")
    # What GET shows is itself a valid flow-2 PUT: the planner may send it back.
    oke.validate_offering_put(shown, OFFERING_ID)


def test_flow2_offering_put_from_the_specs_past_example_is_accepted(planner, school, uow_factory):
    from tests.support.oke import offering_example

    assert planner.put(f"/offerings/{OFFERING_ID}", offering_example()).status_code == 201
    moment = _moment(uow_factory)
    assert moment.enrol_from == moment.starts_at  # no enrolment window for a sitting in the past


def test_flow2_second_offering_put_updates_the_moment(planner, school, uow_factory):
    assert planner.put(f"/offerings/{OFFERING_ID}", future_offering()).status_code == 201
    # The spec's minimal example names no exam: fine for a sitting that already has one.
    update_body = future_offering(OFFERING_MINIMAL_EXAMPLE, days=40, maxNumberStudents=12)
    update_body["consumers"] = [{"consumerKey": "nl-test-admin", "offeringState": "active", "locationCode": "B-1"}]
    resp = planner.put(f"/offerings/{OFFERING_ID}", update_body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    moment = _moment(uow_factory)
    assert (moment.location, moment.capacity) == ("B-1", 12)
    assert moment.starts_at.isoformat() == update_body["startDateTime"]
    assert len(_rows(uow_factory)[0]) == 1


def _no_exam(body):
    body.pop("component")


@pytest.mark.parametrize(
    ("offering_id", "change", "words"),
    [
        (OFFERING_ID, lambda b: b.pop("startDateTime"), "'startDateTime' is a required property"),
        (OFFERING_ID, lambda b: b.__setitem__("resultExpected", "ja"), "'ja' is not of type 'boolean'"),
        (OFFERING_ID, lambda b: b.__setitem__("offeringType", "zitting"), "'zitting' is not one of"),
        (OFFERING_ID, lambda b: oke.consumer_entry(b).__setitem__("offeringState", "gepland"), "'gepland' is not"),
        (OFFERING_ID, lambda b: b.__setitem__("component", "rekenen-3"), "'rekenen-3' is not a 'uuid'"),
        ("zitting-13", None, "offeringId 'zitting-13' is geen UUID"),
        (OFFERING_ID, lambda b: b.__setitem__("offeringId", OTHER_ASSOCIATION), "niet de offeringId uit het pad"),
        (OFFERING_ID, lambda b: b.__setitem__("component", OTHER_ASSOCIATION), "Onbekend examen"),
        (OFFERING_ID, _no_exam, "noemt geen examen"),
        (OFFERING_ID, lambda b: b.__setitem__("maxNumberStudents", 2.5), "geen geheel getal"),
        (OFFERING_ID, lambda b: b.__setitem__("endDateTime", b["startDateTime"]), "niet na startDateTime"),
    ],
)
def test_flow2_malformed_offering_put_is_refused_and_changes_nothing(planner, school, uow_factory, offering_id,
                                                                     change, words):
    body = future_offering()
    if change:
        change(body)
    before = _rows(uow_factory)
    _refused(planner.put(f"/offerings/{offering_id}", body), 400, words)
    assert _rows(uow_factory) == before


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"data": "{\"offeringId\": ", "content_type": "application/json"}, "geen geldige JSON"),
        ({"data": "{\"maxNumberStudents\": NaN}", "content_type": "application/json"}, "geen geldige JSON"),
        ({"data": "offeringId=1", "content_type": "application/x-www-form-urlencoded"}, "als JSON"),
    ],
)
def test_flow2_offering_put_that_is_not_json_is_refused(planner, school, uow_factory, kwargs, words):
    before = _rows(uow_factory)
    _refused(planner.put(f"/offerings/{OFFERING_ID}", **kwargs), 400, words)
    assert _rows(uow_factory) == before


def test_flow2_offering_of_an_unestablished_exam_is_refused_with_r35(planner, school, world, uow_factory):
    from processes import enrolment as enr
    from processes.models import ExamVersion

    enr.add_version(school.exam_id, world.users["bureau_a"], uow_factory())
    with uow_factory() as uow:
        uow.session.execute(update(ExamVersion).values(established=False))
        uow.commit()
    _refused(planner.put(f"/offerings/{OFFERING_ID}", future_offering()), 400,
             "Versie 2 van c5fca27e-ccc1-430d-9888-90e005ad6a86 is niet vastgesteld")
    assert _rows(uow_factory) == ((), ())


# ----------------------------------------------------------------------------- associations


@pytest.fixture
def sitting(planner, school):
    assert planner.put(f"/offerings/{OFFERING_ID}", future_offering(maxNumberStudents=2)).status_code == 201
    return OFFERING_ID


def test_flow2_association_put_from_spec_example_enrols_the_student(planner, school, sitting, uow_factory):
    resp = planner.put(f"/associations/{ASSOCIATION_ID}", association_for())
    assert resp.status_code == 201, resp.get_data(as_text=True)
    with uow_factory() as uow:
        e = uow.session.scalar(select(Enrolment).where(Enrolment.external_id == ASSOCIATION_ID))
        uow.session.expunge(e)
    assert (e.student_id, e.status, e.attempt) == (school.student_id, "ingeschreven", 1)
    assert e.accommodations == ["extra_tijd", "voorleessoftware", "spellingcontrole"]
    assert _moment(uow_factory).enrolled == 1
    shown = planner.get(f"/associations/{ASSOCIATION_ID}").get_json()
    assert shown == resp.get_json()
    assert (shown["state"], shown["offering"]) == ("associated", OFFERING_ID)
    assert oke.consumer_entry(shown)["personalNeeds"] == ["extraTime", "spoken", "spell-checker-on-screen"]
    oke.validate_association_put(shown, ASSOCIATION_ID)


def test_flow2_second_association_put_updates_and_cancelling_frees_the_seat(planner, school, sitting, uow_factory):
    assert planner.put(f"/associations/{ASSOCIATION_ID}", association_for()).status_code == 201
    # The spec's "change" example names the person by id only: enough for an enrolment that exists.
    change = association_example(ASSOCIATION_CHANGE_EXAMPLE)
    oke.consumer_entry(change)["personalNeeds"] = ["aparte_ruimte"]
    resp = planner.put(f"/associations/{ASSOCIATION_ID}", change)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    # Its extraTimeInMin (the examples' spelling of additionalTimeInMin) 30 is extra time too.
    assert _rows(uow_factory)[1][0].accommodations == ["extra_tijd", "aparte_ruimte"]
    change["state"] = "canceled"
    for _ in range(2):  # a PUT is idempotent: the second frees no second seat
        resp = planner.put(f"/associations/{ASSOCIATION_ID}", change)
        assert (resp.status_code, resp.get_json()["state"]) == (200, "canceled")
        assert _rows(uow_factory)[1][0].status == "afgemeld"
        assert _moment(uow_factory).enrolled == 0
    change["state"] = "associated"
    _refused(planner.put(f"/associations/{ASSOCIATION_ID}", change), 409, "afgemeld")


@pytest.mark.parametrize(
    ("association_id", "change", "status", "words"),
    [
        (ASSOCIATION_ID, lambda b: b.pop("role"), 400, "'role' is a required property"),
        (ASSOCIATION_ID, lambda b: b.__setitem__("state", "ingeschreven"), 400, "'ingeschreven' is not one of"),
        (ASSOCIATION_ID, lambda b: b.__setitem__("offering", "zitting-13"), 400, "'zitting-13' is not a 'uuid'"),
        ("42", None, 400, "associationId '42' is geen UUID"),
        (ASSOCIATION_ID, lambda b: oke.consumer_entry(b).__setitem__("additionalTimeInMin", "30"), 400,
         "'30' is not of type 'integer'"),
        (ASSOCIATION_ID, lambda b: oke.consumer_entry(b).__setitem__("extraTimeInMin", "30"), 400,
         "gehele getallen (minuten)"),
        (ASSOCIATION_ID, lambda b: b["person"]["primaryCode"].__setitem__("code", "9999999"), 400,
         "geen student met studentnummer 9999999"),
        (ASSOCIATION_ID, lambda b: b.__setitem__("person", "5b7c1e2a-3f4d-4e6a-9b8c-7d6e5f4a3b2c"), 400,
         "geen studentnummer"),
        (ASSOCIATION_ID, lambda b: b.__setitem__("offering", OTHER_ASSOCIATION), 400, "Onbekende zitting"),
        (ASSOCIATION_ID, lambda b: oke.consumer_entry(b).__setitem__("personalNeeds", ["rekenmachine"]), 400,
         "Onbekende personalNeeds: rekenmachine"),
        (ASSOCIATION_ID, lambda b: b.__setitem__("role", "invigilator"), 400, "role 'student'"),
        (ASSOCIATION_ID, lambda b: b.__setitem__("state", "canceled"), 404, "Onbekende deelname"),
    ],
)
def test_flow2_malformed_association_put_is_refused_and_changes_nothing(planner, school, sitting, uow_factory,
                                                                        association_id, change, status, words):
    body = association_for(association_id=association_id)
    if change:
        change(body)
    before = _rows(uow_factory)
    _refused(planner.put(f"/associations/{association_id}", body), status, words)
    assert _rows(uow_factory) == before


def test_flow2_association_put_that_is_not_json_is_refused(planner, school, sitting, uow_factory):
    before = _rows(uow_factory)
    _refused(planner.put(f"/associations/{ASSOCIATION_ID}", data="[1, 2", content_type="application/json"), 400,
             "geen geldige JSON")
    _refused(planner.put(f"/associations/{ASSOCIATION_ID}", data="x", content_type="text/plain"), 400, "als JSON")
    assert _rows(uow_factory) == before


def test_flow2_enrolment_rules_hold_r42_without_a_go(planner, world, school, sitting, uow_factory):
    from tests.conftest import STUDENTS

    before = _rows(uow_factory)
    number = STUDENTS["student_a2"][2]
    _refused(planner.put(f"/associations/{ASSOCIATION_ID}", association_for(number)), 403,
             "pas na de Go van de ROC-begeleider (R42)")
    assert _rows(uow_factory) == before


def test_flow2_capacity_is_never_exceeded(planner, world, school, sitting, uow_factory):
    from processes import enrolment as enr
    from tests.conftest import STUDENTS

    for key in ("student_a", "student_a2"):
        enr.give_go(school.exam_id, world.students[key], world.users["begeleider_a"], uow_factory())
    assert planner.put(f"/associations/{ASSOCIATION_ID}", association_for()).status_code == 201
    second = association_for(STUDENTS["student_a"][2], OTHER_ASSOCIATION)
    assert planner.put(f"/associations/{OTHER_ASSOCIATION}", second).status_code == 201
    before = _rows(uow_factory)
    third_id = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    _refused(planner.put(f"/associations/{third_id}", association_for(STUDENTS["student_a2"][2], third_id)), 409,
             "vol: alle 2 plaatsen zijn bezet (R44)")
    # Nor by lowering the capacity below the seats taken.
    _refused(planner.put(f"/offerings/{OFFERING_ID}", future_offering(maxNumberStudents=1)), 409,
             "niet onder de 2 bezette plaatsen")
    assert _rows(uow_factory) == before
    assert (_moment(uow_factory).capacity, _moment(uow_factory).enrolled) == (2, 2)


def test_flow2_a_client_of_school_a_never_touches_school_b(client, world, school, planner, sitting, uow_factory):
    assert planner.put(f"/associations/{ASSOCIATION_ID}", association_for()).status_code == 201
    other = oke_clients.create_client(world.schools["b"], "Planner ROC B", uow_factory())
    planner_b = Planner(client, _token(client, other.client_id, other.secret).get_json()["access_token"])
    before = _rows(uow_factory)
    _refused(planner_b.get(f"/offerings/{OFFERING_ID}"), 404, "Onbekende zitting")
    _refused(planner_b.get(f"/associations/{ASSOCIATION_ID}"), 404, "Onbekende deelname")
    _refused(planner_b.put(f"/offerings/{OFFERING_ID}", future_offering()), 400, "Onbekend examen")
    for state in ("associated", "canceled"):
        _refused(planner_b.put(f"/associations/{ASSOCIATION_ID}", association_for(state=state)), 409, "in gebruik")
    elsewhere = association_for(association_id=OTHER_ASSOCIATION)
    _refused(planner_b.put(f"/associations/{OTHER_ASSOCIATION}", elsewhere), 400, "Onbekende zitting")
    assert _rows(uow_factory) == before
    with uow_factory() as uow:
        count = uow.session.scalar(select(func.count()).select_from(ExamMoment)
                                   .where(ExamMoment.school_id == world.schools["b"]))
    assert count == 0


# ----------------------------------------------------------------------------- cancelling a sitting (flow 2.5)


def _cancelled(body: dict) -> dict:
    oke.consumer_entry(body)["offeringState"] = "canceled"
    return body


def _enrolled(planner, sitting) -> None:
    assert planner.put(f"/associations/{ASSOCIATION_ID}", association_for()).status_code == 201


def test_flow2_offering_put_canceled_cancels_the_sitting_and_unenrols_its_students(planner, school, sitting,
                                                                                   uow_factory):
    _enrolled(planner, sitting)
    body = _cancelled(future_offering(maxNumberStudents=2))
    resp = planner.put(f"/offerings/{OFFERING_ID}", body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    shown = planner.get(f"/offerings/{OFFERING_ID}").get_json()
    assert shown == resp.get_json()
    assert (oke.consumer_entry(shown)["offeringState"], shown["enrolledNumberStudents"]) == ("canceled", 0)
    oke.validate_offering_put(shown, OFFERING_ID)  # still a valid flow-2 message
    moment = _moment(uow_factory)
    assert (moment.enrolled, moment.cancel_reason, moment.cancelled_by_id) == (
        0, "Geannuleerd door de planning (OKE)", school.system_user_id)
    association = planner.get(f"/associations/{ASSOCIATION_ID}").get_json()
    assert association["state"] == "canceled"
    oke.validate_association_put(association, ASSOCIATION_ID)
    # Sent again (a retry): the same answer, nothing done twice.
    before = _rows(uow_factory)
    again = planner.put(f"/offerings/{OFFERING_ID}", body)
    assert (again.status_code, again.get_json()) == (200, shown)
    assert _rows(uow_factory) == before and _moment(uow_factory).cancelled_at == moment.cancelled_at


@pytest.mark.filterwarnings("ignore:Unsupported scheme type")
def test_flow2_offering_patch_from_the_specs_flow_2_5_example_cancels_with_its_reason(planner, school, sitting,
                                                                                       uow_factory):
    from tests.support.oke import spec_example, validate_with_openapi_core

    _enrolled(planner, sitting)
    body = spec_example("/offerings/{offeringId}", "patch", "Delete offering (Flow 2.5)")
    oke.consumer_entry(body)["irregularities"] = "Brand in het examengebouw."
    validate_with_openapi_core("patch", f"/offerings/{OFFERING_ID}", body, oke.MERGE_PATCH)
    resp = planner.patch(f"/offerings/{OFFERING_ID}", body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert oke.consumer_entry(resp.get_json())["offeringState"] == "canceled"
    assert _moment(uow_factory).cancel_reason == "Brand in het examengebouw."
    assert _rows(uow_factory)[1][0].status == "afgemeld"
    assert planner.patch(f"/offerings/{OFFERING_ID}", body).status_code == 200  # idempotent


def test_flow2_a_cancelled_sitting_takes_no_enrolment_and_does_not_come_back(planner, world, school, sitting,
                                                                             uow_factory):
    assert planner.put(f"/offerings/{OFFERING_ID}", _cancelled(future_offering())).status_code == 200
    before = _rows(uow_factory)
    _refused(planner.put(f"/associations/{ASSOCIATION_ID}", association_for()), 409, "geannuleerd")
    _refused(planner.put(f"/offerings/{OFFERING_ID}", future_offering()), 409, "geannuleerd")
    assert _rows(uow_factory) == before


@pytest.mark.parametrize(
    ("offering_id", "method", "body", "status", "words"),
    [
        (OTHER_ASSOCIATION, "put", lambda: _cancelled(future_offering(offeringId=OTHER_ASSOCIATION)), 404,
         "Onbekende zitting"),
        (OTHER_ASSOCIATION, "patch", lambda: {"consumers": [{"consumerKey": "nl-test-admin",
                                                             "offeringState": "canceled"}]}, 404, "Onbekende zitting"),
        (OFFERING_ID, "patch", lambda: {"consumers": [{"consumerKey": "nl-test-admin", "offeringState": "active"}]},
         400, "alleen het annuleren"),
        (OFFERING_ID, "patch", lambda: {"maxNumberStudents": 5}, 400, "alleen het annuleren"),
        (OFFERING_ID, "patch", lambda: {"consumers": [{"consumerKey": "nl-test-admin", "offeringState": "weg"}]},
         400, "'weg' is not one of"),
        (OFFERING_ID, "patch", lambda: [1], 400, "voldoet niet"),
    ],
)
def test_flow2_bad_cancellations_are_refused_and_change_nothing(planner, school, sitting, uow_factory, offering_id,
                                                                method, body, status, words):
    _enrolled(planner, sitting)
    before = _rows(uow_factory)
    send = planner.put if method == "put" else planner.patch
    _refused(send(f"/offerings/{offering_id}", body()), status, words)
    assert _rows(uow_factory) == before and _moment(uow_factory).cancelled_at is None


def test_flow2_a_sitting_that_has_started_is_not_cancelled(planner, school, uow_factory):
    body = future_offering(days=-1)
    assert planner.put(f"/offerings/{OFFERING_ID}", body).status_code == 201
    _refused(planner.put(f"/offerings/{OFFERING_ID}", _cancelled(body)), 409, "al begonnen")
    assert _moment(uow_factory).cancelled_at is None


def test_flow2_a_client_of_school_b_cannot_cancel_a_sitting_of_school_a(client, world, school, planner, sitting,
                                                                        uow_factory):
    other = oke_clients.create_client(world.schools["b"], "Planner ROC B", uow_factory())
    planner_b = Planner(client, _token(client, other.client_id, other.secret).get_json()["access_token"])
    _refused(planner_b.patch(f"/offerings/{OFFERING_ID}", {"consumers": [
        {"consumerKey": "nl-test-admin", "offeringState": "canceled"}]}), 404, "Onbekende zitting")
    assert _moment(uow_factory).cancelled_at is None
