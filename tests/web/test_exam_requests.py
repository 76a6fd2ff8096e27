"""R49 and R34 over HTTP: the student's PvBs on "Mijn examens" with "Voorlopig" then "Definitief", and
inspection/objection from Mijn examens and the dossier to the examencommissie's inbox and back."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from handlers import clock
from processes.models import ExamRequest, HumanTask, ProcessInstance
from tests.conftest import csrf_from, login
from tests.support.api import api_for
from tests.support.moments import AFTER, NOW, deliver_pending, do, enrolments_of, make_exam, record_attendance, register
from tests.support.walk import complete, open_tasks, start_and_walk_to, walk_to


def client_for(app, who: str):
    client = app.test_client()
    login(client, f"{who}@test.nl")
    return client


def text_of(resp) -> str:
    return resp.get_data(as_text=True)


def counts(uow_factory) -> tuple[int, int, int]:
    with uow_factory() as uow:
        s = uow.session
        return tuple(s.scalar(select(func.count(m.id))) for m in (ExamRequest, ProcessInstance, HumanTask))


def lodge(client, instance_id: int, data: dict, page: str = "/mijn-examens", token: str | None = None):
    token = token if token is not None else csrf_from(client, page)
    return client.post(f"/examens/{instance_id}/inzage-bezwaar", data={**data, "csrf_token": token})


OBJECTION = {"soort": "bezwaar", "resultaat": "pvb", "reden": "Criterium c2 heb ik wel laten zien.",
             "bevestiging": "on"}


def test_r49_mijn_examens_shows_the_pvb_with_its_step_then_voorlopig_then_definitief(app, world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "consensus_vastleggen")
    student = client_for(app, "student_a")
    page = text_of(student.get("/mijn-examens"))
    assert f'href="/examens/{instance_id}"' in page and "Consensus vastleggen" in page
    assert "Nog geen uitslag" in page and "Inzage vragen of bezwaar maken kan zodra" in page
    walk_to(world, uow_factory, instance_id, "eindbeoordeling_vaststellen")
    page = text_of(student.get("/mijn-examens"))
    assert "<strong>Voorlopig</strong>" in page and "Voldaan" in page and "Definitief" not in page
    assert "recht op inzage" in page and "Verzoek versturen" in page
    (task,) = [t for t in open_tasks(uow_factory, instance_id) if t.element_id == "eindbeoordeling_vaststellen"]
    complete(world, uow_factory, task)
    page = text_of(student.get("/mijn-examens"))
    assert "<strong>Definitief</strong>, vastgesteld door de examencommissie op" in page
    assert "<strong>Voorlopig</strong>" not in page


def test_r49_the_api_gives_the_student_his_pvbs_with_voorlopig_then_definitief(app, world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "eindbeoordeling_vaststellen")
    api = api_for(app, world.users["student_a"], uow_factory)
    [pvb] = api.get("/api/v1/mijn-pvbs").get_json()
    assert (pvb["instance_id"], pvb["current_steps"]) == (instance_id, ["Eindbeoordeling vaststellen"])
    assert (pvb["result"]["outcome"], pvb["result"]["status"]) == ("voldaan", "voorlopig")
    (task,) = [t for t in open_tasks(uow_factory, instance_id) if t.element_id == "eindbeoordeling_vaststellen"]
    complete(world, uow_factory, task)
    [pvb] = api.get("/api/v1/mijn-pvbs").get_json()
    assert pvb["result"]["status"] == "definitief"
    # Not for whoever is no student.
    assert api_for(app, world.users["begeleider_a"], uow_factory).get("/api/v1/mijn-pvbs").status_code == 403


def test_r34_objection_from_mijn_examens_reaches_the_committee_and_the_decision_comes_back(app, world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "afsluiten")
    student = client_for(app, "student_a")
    resp = lodge(student, instance_id, OBJECTION)
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/mijn-examens#examen-{instance_id}")
    page = text_of(student.get("/mijn-examens"))
    assert "Ingediend: de examencommissie behandelt je verzoek" in page

    committee = client_for(app, "commissie_a2")
    inbox = text_of(committee.get("/taken"))
    match = re.search(r'href="(/taken/\d+)">Verzoek behandelen<', inbox)
    assert match, inbox
    task_page = text_of(committee.get(match.group(1)))
    assert "Criterium c2 heb ik wel laten zien." in task_page and f'href="/examens/{instance_id}"' in task_page
    assert "Verzoek behandelen" not in text_of(client_for(app, "commissie_b").get("/taken"))
    api = api_for(app, world.users["commissie_a2"], uow_factory)
    detail = api.get(f"/api/v1/tasks/{match.group(1).rsplit('/', 1)[1]}").get_json()
    assert detail["request"]["reason"] == OBJECTION["reden"] and detail["request"]["kind"] == "bezwaar"
    # The committee's form: bezwaar needs gegrond/ongegrond; the wrong kind of decision is a 422.
    token = csrf_from(committee, match.group(1))
    wrong = committee.post(match.group(1), data={"besluit": "afspraak", "afspraak": "Morgen", "bevestiging": "on",
                                                 "csrf_token": token})
    assert wrong.status_code == 422 and "Dit is een verzoek om bezwaar" in text_of(wrong)
    done = committee.post(match.group(1), data={"besluit": "gegrond", "motivering": "c2 opnieuw beoordelen.",
                                                "bevestiging": "on", "csrf_token": token})
    assert done.status_code == 303

    page = text_of(student.get("/mijn-examens"))
    assert "<strong>Bezwaar gegrond</strong>" in page and "c2 opnieuw beoordelen." in page
    dossier = text_of(student.get(f"/examens/{instance_id}"))
    assert 'id="inzage-bezwaar"' in dossier and "Bezwaar gegrond" in dossier
    assert "Bezwaar gemaakt tegen" in dossier  # the exam's own timeline
    inbox = text_of(student.get("/taken"))
    read = re.search(r'href="(/taken/\d+)">Besluit inzien<', inbox)
    assert read, inbox
    read_page = text_of(student.get(read.group(1)))
    assert "c2 opnieuw beoordelen." in read_page and "commissie van beroep" in read_page
    resp = student.post(read.group(1), data={"bevestiging": "on", "csrf_token": csrf_from(student, read.group(1))})
    assert resp.status_code == 303
    assert "Besloten (gelezen)" not in text_of(student.get("/mijn-examens"))  # the decision stays shown
    assert "<strong>Bezwaar gegrond</strong>" in text_of(student.get("/mijn-examens"))


def test_r34_inspection_from_the_dossier_needs_the_confirmation_first(app, world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "eindbeoordeling_vaststellen")
    student = client_for(app, "student_a")
    dossier_page = f"/examens/{instance_id}"
    assert "Inzage vragen of bezwaar maken" in text_of(student.get(dossier_page))
    before = counts(uow_factory)
    refused = lodge(student, instance_id, {"soort": "inzage", "reden": "Graag zien.", "terug": "dossier"},
                    page=dossier_page)
    assert refused.status_code == 422 and "Vink aan dat je het verzoek naar de examencommissie wilt sturen" in \
        text_of(refused)
    assert "Graag zien." in text_of(refused)  # what he typed comes back
    assert counts(uow_factory) == before
    resp = lodge(student, instance_id, {"soort": "inzage", "reden": "Graag zien.", "terug": "dossier",
                                        "bevestiging": "on"}, page=dossier_page)
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/examens/{instance_id}#inzage-bezwaar")
    assert "Inzage gevraagd bij de examencommissie" in text_of(student.get(dossier_page))


@pytest.mark.parametrize("who", ["student_a2", "begeleider_a", "commissie_a"])
def test_r34_nobody_but_the_exams_student_may_ask(app, world, uow_factory, who):
    instance_id, _ = start_and_walk_to(world, uow_factory, "afsluiten")
    other = client_for(app, who)
    before = counts(uow_factory)
    token = csrf_from(other, "/taken")  # the menu of every page carries a token
    resp = lodge(other, instance_id, OBJECTION, token=token)
    assert resp.status_code == 403 and "Alleen de student van dit examen" in text_of(resp)
    assert other.get(f"/examens/{instance_id}/inzage-bezwaar").status_code == 403
    assert counts(uow_factory) == before
    if who != "student_a2":  # those who may see the dossier get no form there
        assert "Inzage vragen of bezwaar maken" not in text_of(other.get(f"/examens/{instance_id}"))


def test_r34_bad_input_is_refused_in_dutch_and_creates_nothing(app, world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "afsluiten")
    student = client_for(app, "student_a")
    before = counts(uow_factory)
    cases = [
        ({**OBJECTION, "reden": "  "}, 422, "Schrijf waarom je dit vraagt"),
        ({**OBJECTION, "soort": "klacht"}, 422, "Kies &#39;Inzage vragen&#39; of &#39;Bezwaar maken&#39;"),
        ({**OBJECTION, "resultaat": ""}, 422, "Kies het resultaat waartegen je bezwaar maakt"),
        ({**OBJECTION, "resultaat": "resultaat-7"}, 422, "Kies een resultaat van dit examen"),
        ({**OBJECTION, "reden": "x" * 5001}, 422, "Maximaal 5000 tekens"),
    ]
    for data, status, message in cases:
        resp = lodge(student, instance_id, data)
        assert resp.status_code == status and message in text_of(resp), (data, text_of(resp))
    unknown = lodge(student, 999_999, OBJECTION)
    assert unknown.status_code == 404 and "Onbekend examen" in text_of(unknown)
    no_csrf = student.post(f"/examens/{instance_id}/inzage-bezwaar", data=OBJECTION)
    assert no_csrf.status_code == 400
    assert counts(uow_factory) == before
    assert lodge(student, instance_id, OBJECTION).status_code == 303
    again = lodge(student, instance_id, OBJECTION)
    assert again.status_code == 409 and "al een verzoek om bezwaar" in text_of(again)


@pytest.fixture
def at():
    moments = {"now": NOW}
    clock.set_process_clock(lambda: moments["now"])
    yield lambda when: moments.update(now=when)
    clock.set_process_clock(None)


def test_r34_objection_against_an_exam_moment_result(app, world, uow_factory, at):
    setup = make_exam(world, uow_factory)
    reg_id, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    do(world, uow_factory, inst, "inschrijven_bureau", {"moment": setup.moment_id})
    [enrolment] = enrolments_of(uow_factory, reg_id)
    record_attendance(world, uow_factory, setup.moment_id, {enrolment.id: True})
    do(world, uow_factory, inst, "v1_resultaat_invoeren", {"score": 50}, at=AFTER)
    deliver_pending(uow_factory, inst)
    do(world, uow_factory, inst, "v1_uitwisseling_controleren", at=AFTER)
    at(AFTER)
    student = client_for(app, "student_a")
    page = text_of(student.get("/mijn-examens"))
    key = re.search(r'<option value="(resultaat-\d+)"[^>]*>Poging 1: score 50, niet behaald \(voorlopig\)<', page)
    assert key, page
    resp = lodge(student, inst, {"soort": "bezwaar", "resultaat": key.group(1), "reden": "Vraag 4 is fout nagekeken.",
                                 "bevestiging": "on"})
    assert resp.status_code == 303
    inbox = text_of(client_for(app, "commissie_a").get("/taken"))
    assert "Verzoek behandelen" in inbox and "Bezwaar: NED-2F Nederlands 2F lezen" in inbox
    assert "Bezwaar gemaakt tegen Poging 1" in text_of(student.get(f"/examens/{inst}"))
