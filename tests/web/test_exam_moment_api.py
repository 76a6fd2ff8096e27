"""The JSON API of exams at exam moments: /api/v1/mijn-examens and the proces-verbaal (R36, R49); every
response validates against the served OpenAPI document."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from handlers import clock
from processes.models import Enrolment, ProcesVerbaal
from tests.support.api import api_for
from tests.support.moments import AFTER, NOW, do, enrolments_of, make_exam, register


@pytest.fixture
def enrolled(world, uow_factory):
    """student_a enrolled (with extra time) at a moment that has started; returns (moment id, enrolment id)."""
    setup = make_exam(world, uow_factory)
    reg_id, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    do(world, uow_factory, inst, "inschrijven_bureau", {"moment": setup.moment_id, "extra_tijd": True})
    [enrolment] = enrolments_of(uow_factory, reg_id)
    clock.set_process_clock(lambda: AFTER)
    yield setup.moment_id, enrolment.id
    clock.set_process_clock(None)


def pv_count(uow_factory) -> int:
    with uow_factory() as uow:
        return uow.session.scalar(select(func.count(ProcesVerbaal.id)))


def test_r49_mijn_examens_lists_the_students_exam_with_its_moment(app, world, uow_factory, enrolled):
    api = api_for(app, world.users["student_a"], uow_factory)
    resp = api.get("/api/v1/mijn-examens")
    assert resp.status_code == 200
    [exam] = resp.get_json()
    assert (exam["code"], exam["go"], exam["attempts_used"], exam["attempts_allowed"]) == ("NED-2F", True, 1, 2)
    assert exam["moment"] == "25-01-2027 10:00, Lokaal 1.01"
    assert exam["accommodations"] == ["Extra tijd"] and exam["results"] == []


def test_mijn_examens_is_for_students(app, world, uow_factory):
    api = api_for(app, world.users["bureau_a"], uow_factory)
    resp = api.get("/api/v1/mijn-examens")
    assert resp.status_code == 403 and "Student" in resp.get_json()["message"]


def test_r36_the_surveillant_records_the_proces_verbaal(app, world, uow_factory, enrolled):
    moment_id, enrolment_id = enrolled
    api = api_for(app, world.users["surveillant_a"], uow_factory)
    resp = api.post(f"/api/v1/examenmomenten/{moment_id}/proces-verbaal",
                    json={"attendance": {str(enrolment_id): "afwezig"}, "incidents": "Ziek gemeld."})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert (body["moment_id"], body["version"], body["cesuur"], body["incidents"]) == (moment_id, 1, 55, "Ziek gemeld.")
    assert body["attendance"] == [{"enrolment_id": enrolment_id, "name": "Sara Student", "number": "A001",
                                   "present": False}]
    again = api.post(f"/api/v1/examenmomenten/{moment_id}/proces-verbaal",
                     json={"attendance": {str(enrolment_id): "aanwezig"}})
    assert again.status_code == 409


@pytest.mark.parametrize(("who", "path", "body", "status", "words"), [
    ("surveillant_a", "{moment}", {"attendance": {}}, 422, "Geef voor iedere ingeschreven student"),
    ("surveillant_a", "{moment}", {"attendance": {"abc": "aanwezig"}}, 422, "geen inschrijving"),
    ("surveillant_a", "{moment}", {"attendance": "aanwezig"}, 422, "object"),
    ("surveillant_a", "{moment}", {"incidents": "x"}, 422, "verplicht"),
    ("surveillant_a", "999999", {"attendance": {}}, 404, "Onbekend examenmoment"),
    ("student_a", "{moment}", {"attendance": {}}, 403, "Surveillant"),
])
def test_bad_proces_verbaal_is_refused_in_dutch_and_nothing_is_recorded(app, world, uow_factory, enrolled, who,
                                                                        path, body, status, words):
    moment_id, _ = enrolled
    api = api_for(app, world.users[who], uow_factory)
    resp = api.post(f"/api/v1/examenmomenten/{path.format(moment=moment_id)}/proces-verbaal", json=body)
    assert resp.status_code == status, resp.get_json()
    assert words in str(resp.get_json()), resp.get_json()
    assert pv_count(uow_factory) == 0
    with uow_factory() as uow:
        assert uow.session.scalar(select(Enrolment.status)) == "ingeschreven"


def test_the_endpoints_are_documented(app):
    paths = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    assert "get" in paths["/api/v1/mijn-examens"]
    assert "post" in paths["/api/v1/examenmomenten/{moment_id}/proces-verbaal"]


def test_before_the_moment_starts_the_proces_verbaal_is_refused(app, world, uow_factory, enrolled):
    moment_id, enrolment_id = enrolled
    clock.set_process_clock(lambda: NOW)
    api = api_for(app, world.users["surveillant_a"], uow_factory)
    resp = api.post(f"/api/v1/examenmomenten/{moment_id}/proces-verbaal",
                    json={"attendance": {str(enrolment_id): "aanwezig"}})
    assert resp.status_code == 400 and "begint pas op" in resp.get_json()["message"]
