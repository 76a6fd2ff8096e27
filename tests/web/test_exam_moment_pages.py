"""The pages of exams at exam moments: Examens (the exam bank), Mijn examens, the proces-verbaal and the
mandate — who sees them, a whole flow over HTTP, and bad input refused in Dutch with nothing changed
(R33, R34, R36, R37, R41–R45, R49)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from handlers import clock
from processes import accounts
from processes.models import Exam, ExamMoment, ProcesVerbaal
from tests.conftest import PASSWORD, csrf_from, login
from tests.support.moments import (
    AFTER,
    NOW,
    deliver_pending,
    do,
    enrolments_of,
    make_exam,
    record_attendance,
    register,
)

STUDENT_ONLY = ["/examenbank", "/mandaat", "/proces-verbaal"]


@pytest.fixture
def at():
    """Moves the one clock of the app (views and use cases alike); real time again afterwards."""
    moments = {"now": NOW}
    clock.set_process_clock(lambda: moments["now"])

    def move(when: datetime) -> None:
        moments["now"] = when

    yield move
    clock.set_process_clock(None)


def client_for(app, who: str):
    client = app.test_client()
    login(client, f"{who}@test.nl")
    return client


def post(client, path: str, data: dict, page: str):
    return client.post(path, data={**data, "csrf_token": csrf_from(client, page)})


def text_of(resp) -> str:
    return resp.get_data(as_text=True)


def count(uow_factory, model) -> int:
    with uow_factory() as uow:
        return uow.session.scalar(select(func.count(model.id)))


def task_link(client, step: str) -> str:
    page = text_of(client.get("/taken"))
    match = re.search(r'href="(/taken/\d+)">' + re.escape(step) + "<", page)
    assert match, page
    return match.group(1)


# --------------------------------------------------------------------------- who sees what


def test_student_sees_mijn_examens_in_the_menu_and_not_the_bureau_pages(app, world):
    client = client_for(app, "student_a")
    home = text_of(client.get("/taken"))
    assert "Mijn examens" in home and ">Examens<" not in home and "Mandaat" not in home
    assert client.get("/mijn-examens").status_code == 200
    for path in STUDENT_ONLY:
        resp = client.get(path)
        assert resp.status_code == 403, path
        assert "rol" in text_of(resp)


@pytest.mark.parametrize("who", ["bureau_a", "commissie_a"])
def test_bank_roles_see_examens_and_mandaat_but_not_mijn_examens(app, world, who):
    client = client_for(app, who)
    home = text_of(client.get("/taken"))
    assert ">Examens<" in home and "Mandaat" in home and "Mijn examens" not in home
    assert client.get("/examenbank").status_code == 200
    assert client.get("/mandaat").status_code == 200
    assert client.get("/mijn-examens").status_code == 403
    assert client.get("/proces-verbaal").status_code == 403


def test_a_bank_role_at_another_school_is_refused(app, world):
    client = client_for(app, "commissie_b")
    assert client.get(f"/examenbank?school={world.schools['a']}").status_code == 403
    assert "ROC B" in text_of(client.get("/examenbank"))


def test_moment_page_lists_enrolled_students_with_accommodations_for_the_bureau_only(app, world, uow_factory, at):
    setup = make_exam(world, uow_factory)
    _, inst = register(world, uow_factory, setup)
    bureau = client_for(app, "bureau_a")
    teacher = client_for(app, "begeleider_a")
    post(teacher, task_link(teacher, "Go geven"), {"bevestiging": "on"}, "/taken")
    post(bureau, task_link(bureau, "Student inschrijven"),
         {"moment": setup.moment_id, "extra_tijd": "on", "bevestiging": "on"}, "/taken")
    page = text_of(bureau.get(f"/examenbank/momenten/{setup.moment_id}"))
    assert "Sara Student" in page and "Extra tijd" in page and "1 van 20 bezet" in page
    assert client_for(app, "student_a").get(f"/examenbank/momenten/{setup.moment_id}").status_code == 403
    assert client_for(app, "commissie_b").get(f"/examenbank/momenten/{setup.moment_id}").status_code == 403
    assert bureau.get("/examenbank/momenten/999999").status_code == 404


# --------------------------------------------------------------------------- the whole flow over HTTP


def test_flow_bureau_plans_teacher_gives_go_bureau_enrols_surveillant_records_student_sees(app, world, uow_factory,
                                                                                          at):
    bureau, commissie = client_for(app, "bureau_a"), client_for(app, "commissie_a")
    school = world.schools["a"]
    resp = post(bureau, "/examenbank/examens", {
        "school": school, "code": "REK-2F", "title": "Rekenen 2F", "crebo": "25655", "max_attempts": "2",
        "teacher_id": world.users["begeleider_a"], "assessor_id": world.users["rocbeoordelaar_a"],
        "enrolment_variant": "handmatig", "assessment_variant": "1",
    }, "/examenbank")
    assert resp.status_code == 303
    page = text_of(bureau.get(resp.headers["Location"]))
    assert "Examen REK-2F is toegevoegd" in page
    exam_id = int(re.search(r"/examenbank/examens/(\d+)/versies", page).group(1))

    post(bureau, f"/examenbank/examens/{exam_id}/versies", {"school": school, "in_bank": "on", "cesuur": "55"},
         "/examenbank")
    page = text_of(commissie.get("/examenbank"))
    version_id = int(re.search(r"/examenbank/versies/(\d+)/vaststellen", page).group(1))
    assert post(commissie, f"/examenbank/versies/{version_id}/vaststellen", {"school": school, "bevestiging": "on"},
                "/examenbank").status_code == 303

    assert post(bureau, f"/examenbank/versies/{version_id}/momenten", {
        "school": school, "starts_at": "2027-01-25T10:00", "location": "Lokaal 2.04", "capacity": "12",
        "enrol_from": "2027-01-04T09:00", "enrol_until": "2027-01-15T18:00", "ends_at": "2027-01-25T12:00",
        "surveillant_id": str(world.users["surveillant_a"]),
    }, "/examenbank").status_code == 303
    page = text_of(bureau.get("/examenbank"))
    assert "25-01-2027 10:00" in page and "12 van 12" in page
    moment_id = int(re.search(r"/examenbank/momenten/(\d+)", page).group(1))
    assert "Sanne Surveillant" in text_of(bureau.get(f"/examenbank/momenten/{moment_id}"))

    resp = post(bureau, f"/examenbank/examens/{exam_id}/registraties",
                {"school": school, "student_id": world.students["student_a"]}, "/examenbank")
    assert "De student is geregistreerd" in text_of(bureau.get(resp.headers["Location"]))

    student = client_for(app, "student_a")
    mine = text_of(student.get("/mijn-examens"))
    assert "REK-2F Rekenen 2F" in mine and "Nog niet" in mine and "0 van 2 gebruikt" in mine

    teacher = client_for(app, "begeleider_a")
    assert post(teacher, task_link(teacher, "Go geven"), {"bevestiging": "on"}, "/taken").status_code == 303
    assert post(bureau, task_link(bureau, "Student inschrijven"),
                {"moment": moment_id, "extra_tijd": "on", "bevestiging": "on"}, "/taken").status_code == 303

    mine = text_of(student.get("/mijn-examens"))
    assert "25-01-2027 10:00, Lokaal 2.04" in mine and "1 van 2 gebruikt" in mine and "Extra tijd" in mine
    assert "bezwaar maken bij de examencommissie" in mine

    surveillant = client_for(app, "surveillant_a")
    assert f"/examenmomenten/{moment_id}/proces-verbaal/nieuw" not in text_of(surveillant.get("/proces-verbaal"))
    at(AFTER)
    listed = text_of(surveillant.get("/proces-verbaal"))
    form_path = f"/examenmomenten/{moment_id}/proces-verbaal/nieuw"
    assert form_path in listed
    form = text_of(surveillant.get(form_path))
    assert "Sara Student" in form and "Extra tijd" in form
    field = re.search(r'name="(aanwezigheid-\d+)"', form).group(1)
    resp = post(surveillant, form_path, {field: "aanwezig", "bijzonderheden": "Brandoefening om 10:30.",
                                         "bevestiging": "on"}, form_path)
    assert resp.status_code == 303
    shown = text_of(surveillant.get(resp.headers["Location"]))
    assert "Het proces-verbaal is vastgelegd" in shown
    assert "Aanwezig" in shown and "Brandoefening om 10:30." in shown and "55" in shown
    assert form_path not in text_of(surveillant.get("/proces-verbaal"))
    # Recorded once: the form now shows the record, a second post is refused.
    assert surveillant.get(form_path).status_code == 302
    again = post(surveillant, form_path, {field: "afwezig", "bevestiging": "on"},
                 f"/examenmomenten/{moment_id}/proces-verbaal")
    assert again.status_code == 409 and "al vastgelegd" in text_of(again)
    assert "Bekijk het vastgelegde proces-verbaal" in text_of(again)
    assert "Proces-verbaal" in text_of(bureau.get(f"/examenbank/momenten/{moment_id}"))


def test_mijn_examens_links_the_students_own_task(app, world, uow_factory, at):
    setup = make_exam(world, uow_factory, enrolment_variant="zelf")
    _, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    page = text_of(client_for(app, "student_a").get("/mijn-examens"))
    assert re.search(r'href="/taken/\d+">Examenmoment kiezen<', page)
    assert "<dt>Go</dt><dd>Ja</dd>" in page


def test_r49_provisional_then_definitive_result_in_mijn_examens(app, world, uow_factory, at):
    setup = make_exam(world, uow_factory)
    reg_id, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    do(world, uow_factory, inst, "inschrijven_bureau", {"moment": setup.moment_id})
    [enrolment] = enrolments_of(uow_factory, reg_id)
    record_attendance(world, uow_factory, setup.moment_id, {enrolment.id: True})
    do(world, uow_factory, inst, "v1_resultaat_invoeren", {"score": 70}, at=AFTER)
    student = client_for(app, "student_a")
    assert "Resultaten" not in text_of(student.get("/mijn-examens"))  # not yet published (R50)
    deliver_pending(uow_factory, inst)
    do(world, uow_factory, inst, "v1_uitwisseling_controleren", at=AFTER)
    page = text_of(student.get("/mijn-examens"))
    assert "Voorlopig: nog niet vastgesteld" in page and "Behaald" in page and "bezwaar maken" in page
    do(world, uow_factory, inst, "v1_vaststellen_commissie", at=AFTER)
    page = text_of(student.get("/mijn-examens"))
    assert "Definitief, vastgesteld op" in page and "1 van 2 gebruikt" in page


# --------------------------------------------------------------------------- the surveillant


@pytest.fixture
def started_moment(world, uow_factory, at):
    """A moment with student_a enrolled, started."""
    setup = make_exam(world, uow_factory)
    _, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    do(world, uow_factory, inst, "inschrijven_bureau", {"moment": setup.moment_id})
    at(AFTER)
    return setup.moment_id


def test_r36_only_the_surveillant_of_the_moment_records_its_proces_verbaal(app, world, uow_factory,
                                                                          started_moment):
    other = accounts.create_user("surveillant_a2@test.nl", "Sven Surveillant", PASSWORD, uow_factory())
    accounts.grant_role(other, world.schools["a"], "surveillant", uow_factory())
    with uow_factory() as uow:
        uow.session.get(ExamMoment, started_moment).surveillant_id = other
        uow.commit()
    form_path = f"/examenmomenten/{started_moment}/proces-verbaal/nieuw"
    mine = client_for(app, "surveillant_a")
    assert form_path not in text_of(mine.get("/proces-verbaal"))
    resp = mine.get(form_path)
    assert resp.status_code == 403 and "Alleen de surveillant van dit examenmoment" in text_of(resp)
    token = csrf_from(mine, "/proces-verbaal")
    assert mine.post(form_path, data={"csrf_token": token, "bevestiging": "on"}).status_code == 403
    theirs = client_for(app, "surveillant_a2")
    assert form_path in text_of(theirs.get("/proces-verbaal"))
    assert theirs.get(form_path).status_code == 200
    assert count(uow_factory, ProcesVerbaal) == 0


def test_r36_missing_attendance_or_confirmation_is_refused_in_dutch_and_nothing_is_recorded(app, world,
                                                                                            uow_factory,
                                                                                            started_moment):
    form_path = f"/examenmomenten/{started_moment}/proces-verbaal/nieuw"
    client = client_for(app, "surveillant_a")
    field = re.search(r'name="(aanwezigheid-\d+)"', text_of(client.get(form_path))).group(1)
    resp = post(client, form_path, {"bijzonderheden": "Rustig verlopen.", "bevestiging": "on"}, form_path)
    assert resp.status_code == 422
    assert "Geef voor iedere ingeschreven student aanwezig of afwezig op" in text_of(resp)
    assert "Rustig verlopen." in text_of(resp)  # what was typed stays
    resp = post(client, form_path, {field: "aanwezig"}, form_path)
    assert resp.status_code == 422 and "Vink de bevestiging aan" in text_of(resp)
    resp = post(client, form_path, {field: "misschien", "bevestiging": "on"}, form_path)
    assert resp.status_code == 422 and "kies aanwezig of afwezig" in text_of(resp)
    resp = post(client, "/examenmomenten/999999/proces-verbaal/nieuw", {field: "aanwezig", "bevestiging": "on"},
                form_path)
    assert resp.status_code == 404 and "Onbekend examenmoment" in text_of(resp)
    assert client.get("/examenmomenten/abc/proces-verbaal/nieuw").status_code == 404
    assert count(uow_factory, ProcesVerbaal) == 0
    assert form_path in text_of(client.get("/proces-verbaal"))


def test_a_moment_that_has_not_started_has_no_form_yet(app, world, uow_factory, at):
    setup = make_exam(world, uow_factory)
    client = client_for(app, "surveillant_a")
    page = text_of(client.get(f"/examenmomenten/{setup.moment_id}/proces-verbaal/nieuw"))
    assert "nog niet begonnen" in page and "Proces-verbaal vastleggen" not in page


# --------------------------------------------------------------------------- bad input on the bank


def test_bad_input_on_the_bank_forms_is_refused_in_dutch_and_changes_nothing(app, world, uow_factory, at):
    setup = make_exam(world, uow_factory)
    bureau = client_for(app, "bureau_a")
    school = world.schools["a"]
    exams, moments = count(uow_factory, Exam), count(uow_factory, ExamMoment)
    cases = [
        ("/examenbank/examens", {"school": school, "code": "X", "title": "X", "crebo": "1", "max_attempts": "twee"},
         422, "vul een geheel getal in"),
        ("/examenbank/examens", {"school": school, "code": "NED-2F", "title": "Dubbel", "crebo": "1",
                                 "max_attempts": "2"}, 400, "bestaat al een examen"),
        ("/examenbank/examens", {"school": school, "code": "Y", "title": "Y", "crebo": "1", "max_attempts": "2",
                                 "teacher_id": world.users["student_a"]}, 422, "heeft de rol ROC-begeleider niet"),
        (f"/examenbank/versies/{setup.version_id}/momenten", {"school": school, "starts_at": "morgen",
                                                              "location": "L", "capacity": "3",
                                                              "enrol_from": "2027-01-04T09:00"},
         422, "vul een datum en tijd in"),
        (f"/examenbank/versies/{setup.version_id}/momenten", {"school": school, "starts_at": "2027-02-01T10:00",
                                                              "location": "L", "capacity": "0",
                                                              "enrol_from": "2027-01-04T09:00"},
         422, "De capaciteit is minstens 1"),
        (f"/examenbank/examens/{setup.exam_id}/registraties", {"school": school, "student_id": "abc"},
         422, "Student: vul een geheel getal in"),
        (f"/examenbank/examens/{setup.exam_id}/registraties", {"school": school, "student_id": "999999"},
         404, "Onbekende student"),
        ("/examenbank/cohort", {"school": school}, 422, "Vink de bevestiging aan"),
        ("/examenbank/cohort", {"school": school, "school_year": "volgend jaar", "bevestiging": "on"},
         422, "geen schooljaar"),
        ("/examenbank/versies/999999/momenten", {"school": school}, 422, "verplicht"),
        ("/examenbank/versies/abc/cesuur", {"school": school, "cesuur": "50"}, 404, "bestaat niet"),
    ]
    for path, data, status, words in cases:
        resp = post(bureau, path, data, "/examenbank")
        assert resp.status_code == status, (path, data, text_of(resp))
        assert words in text_of(resp), (path, words)
    assert (count(uow_factory, Exam), count(uow_factory, ExamMoment)) == (exams, moments)


def test_establishing_needs_the_committee_and_a_confirmation(app, world, uow_factory):
    setup = make_exam(world, uow_factory)
    bureau, commissie = client_for(app, "bureau_a"), client_for(app, "commissie_a")
    page = text_of(bureau.get("/examenbank"))
    assert f"/examenbank/examens/{setup.exam_id}/versies" in page
    post(bureau, f"/examenbank/examens/{setup.exam_id}/versies", {"school": world.schools["a"]}, "/examenbank")
    page = text_of(commissie.get("/examenbank"))
    version_id = int(re.search(r"/examenbank/versies/(\d+)/vaststellen", page).group(1))
    resp = post(bureau, f"/examenbank/versies/{version_id}/vaststellen", {"bevestiging": "on"}, "/examenbank")
    assert resp.status_code == 403 and "Examencommissie" in text_of(resp)
    resp = post(commissie, f"/examenbank/versies/{version_id}/vaststellen", {}, "/examenbank")
    assert resp.status_code == 422 and "Vink de bevestiging aan" in text_of(resp)
    assert f"/examenbank/versies/{version_id}/vaststellen" in text_of(commissie.get("/examenbank"))
    resp = post(commissie, f"/examenbank/versies/{version_id}/cesuur", {"cesuur": "60", "bevestiging": "on"},
                "/examenbank")
    assert resp.status_code == 303
    assert "De cesuur is vastgelegd op 60" in text_of(commissie.get(resp.headers["Location"]))


def test_register_cohort_shows_the_counts(app, world, uow_factory):
    make_exam(world, uow_factory)
    bureau = client_for(app, "bureau_a")
    data = {"school": world.schools["a"], "cohort": "2024", "bevestiging": "on"}
    resp = post(bureau, "/examenbank/cohort", data, "/examenbank")
    assert "2 registraties aangemaakt, 0 stonden er al (1 examens, 2 studenten bekeken)" in text_of(
        bureau.get(resp.headers["Location"]))
    resp = post(bureau, "/examenbank/cohort", data, "/examenbank")
    assert "0 registraties aangemaakt, 2 stonden er al" in text_of(bureau.get(resp.headers["Location"]))


# --------------------------------------------------------------------------- mandate (R33)


def test_r33_the_committee_grants_and_revokes_the_mandate_with_confirmation(app, world):
    commissie, bureau = client_for(app, "commissie_a"), client_for(app, "bureau_a")
    school = world.schools["a"]
    assert "geen</strong> mandaat" in text_of(commissie.get("/mandaat"))
    resp = post(commissie, "/mandaat/verlenen", {"school": school, "note": "Besluit 12"}, "/mandaat")
    assert resp.status_code == 422 and "Vink de bevestiging aan" in text_of(resp)
    resp = post(bureau, "/mandaat/verlenen", {"school": school, "bevestiging": "on"}, "/mandaat")
    assert resp.status_code == 403
    assert "Mandaat verlenen" not in text_of(bureau.get("/mandaat"))
    resp = post(commissie, "/mandaat/verlenen", {"school": school, "note": "Besluit 12", "bevestiging": "on"},
                "/mandaat")
    assert resp.status_code == 303
    page = text_of(commissie.get("/mandaat"))
    assert "Het examenbureau heeft mandaat" in page and "Carla Commissie" in page and "Besluit 12" in page
    assert "Het examenbureau heeft mandaat" in text_of(bureau.get("/mandaat"))
    resp = post(commissie, "/mandaat/intrekken", {"school": "abc", "bevestiging": "on"}, "/mandaat")
    assert resp.status_code == 422
    resp = post(commissie, "/mandaat/intrekken", {"school": school, "bevestiging": "on"}, "/mandaat")
    assert resp.status_code == 303
    assert "geen</strong> mandaat" in text_of(commissie.get("/mandaat"))


def test_planned_times_are_read_in_the_schools_time_zone(app, world, uow_factory, at):
    setup = make_exam(world, uow_factory)
    bureau = client_for(app, "bureau_a")
    post(bureau, f"/examenbank/versies/{setup.version_id}/momenten", {
        "school": world.schools["a"], "starts_at": "2027-06-01T09:00", "location": "Aula", "capacity": "5",
        "enrol_from": "2027-05-01T09:00"}, "/examenbank")
    with uow_factory() as uow:
        starts = uow.session.scalar(select(ExamMoment.starts_at).where(ExamMoment.location == "Aula"))
    assert starts == datetime(2027, 6, 1, 7, 0, tzinfo=UTC)  # 09:00 summer time in Amsterdam
