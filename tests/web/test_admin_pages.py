"""The beheerder's pages: import with a preview, exports, groups, accounts, settings, setting out (R9)."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook

from processes import accounts, administration, assignments, queries
from tests.conftest import PASSWORD, csrf_from, login

MODEL = {"werkprocessen": [{"code": "B1-K1-W1", "title": "Werkproces", "rule": "all_crucial",
                            "criteria": [{"id": "c1", "text": "Het criterium", "crucial": True}]}]}


@pytest.fixture
def admin_client(app, world, uow_factory):
    uid = accounts.create_user("beheer@test.nl", "Bea Beheer", PASSWORD, uow_factory())
    accounts.grant_role(uid, world.schools["a"], "beheerder", uow_factory())
    client = app.test_client()
    login(client, "beheer@test.nl")
    client.admin_id = uid
    client.uow = uow_factory
    return client


def _base(world) -> str:
    return f"/beheer/{world.schools['a']}"


def test_r4_import_preview_then_confirm_in_dutch(admin_client, world):
    base = _base(world)
    assert admin_client.get("/beheer").status_code == 302
    token = csrf_from(admin_client, f"{base}/studenten")
    content = (b"studentnummer;naam;e-mailadres;cohort;crebo\n"
               b"N1;Nina Nieuw;nina@import.nl;2025;25655\n"
               b"N2;;fout;2025;abc\n")
    resp = admin_client.post(f"{base}/studenten/import", data={
        "csrf_token": token, "bestand": (io.BytesIO(content), "klas.csv")}, content_type="multipart/form-data")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "1 nieuwe student" in page
    assert "Naam ontbreekt." in page and "fout" in page and "Crebo" in page
    assert "Nina Nieuw" not in admin_client.get(f"{base}/studenten").get_data(as_text=True)
    import_token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    resp = admin_client.post(f"{base}/studenten/import/bevestigen", data={"csrf_token": token, "token": import_token})
    assert "1 nieuw" in resp.get_data(as_text=True)
    assert "Nina Nieuw" in admin_client.get(f"{base}/studenten").get_data(as_text=True)
    # The preview is used once.
    again = admin_client.post(f"{base}/studenten/import/bevestigen", data={"csrf_token": token,
                                                                          "token": import_token})
    assert again.status_code == 302


def test_r4_non_csv_upload_is_refused_with_a_message(admin_client, world):
    base = _base(world)
    token = csrf_from(admin_client, f"{base}/studenten")
    resp = admin_client.post(f"{base}/studenten/import", data={
        "csrf_token": token, "bestand": (io.BytesIO(b"%PDF-1.4"), "rooster.pdf")}, content_type="multipart/form-data")
    assert resp.status_code == 400 and "kies een CSV-bestand" in resp.get_data(as_text=True)
    no_csrf = admin_client.post(f"{base}/studenten/import", data={"bestand": (io.BytesIO(b"x"), "a.csv")},
                                content_type="multipart/form-data")
    assert no_csrf.status_code == 400 and "CSRF" in no_csrf.get_data(as_text=True)


def test_r4_exports_are_excel(admin_client, world):
    for path in ("studenten.xlsx", "resultaten.xlsx"):
        resp = admin_client.get(f"{_base(world)}/{path}")
        assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
        load_workbook(io.BytesIO(resp.data))


def test_admin_pages_are_for_the_admin_only(app, world):
    client = app.test_client()
    login(client, "begeleider_a@test.nl")
    for path in ("studenten", "groepen", "accounts", "instellingen", "uitzetten", "studenten.xlsx"):
        assert client.get(f"{_base(world)}/{path}").status_code == 403, path
    assert client.get("/beheer").status_code == 403


def test_r10_groups_page_explains_cohort_and_archiving_needs_confirmation(admin_client, world):
    base = _base(world)
    page = admin_client.get(f"{base}/groepen").get_data(as_text=True)
    assert "beginjaar van het kwalificatiedossier" in page
    token = csrf_from(admin_client, f"{base}/groepen")
    bad = admin_client.post(f"{base}/groepen", data={"csrf_token": token, "naam": "X", "cohort": "abc", "crebo": "1"})
    assert bad.status_code == 422 and "vijf cijfers" in bad.get_data(as_text=True)
    admin_client.post(f"{base}/groepen", data={"csrf_token": token, "naam": "Groep 1", "cohort": "2024",
                                               "crebo": "25655"})
    assert "Groep 1" in admin_client.get(f"{base}/groepen").get_data(as_text=True)
    [group] = administration.list_groups(world.schools["a"], admin_client.admin_id, admin_client.uow())
    admin_client.post(f"{base}/groepen/{group.id}/archiveren", data={"csrf_token": token})  # not confirmed
    assert "Groep 1" in admin_client.get(f"{base}/groepen").get_data(as_text=True)
    admin_client.post(f"{base}/groepen/{group.id}/archiveren", data={"csrf_token": token, "bevestigd": "ja"})
    assert "Groep 1" not in admin_client.get(f"{base}/groepen").get_data(as_text=True)
    assert "Groep 1" in admin_client.get(f"{base}/groepen?archief=1").get_data(as_text=True)


def test_deactivated_by_the_admin_the_open_session_is_refused_on_its_next_request(app, admin_client, world):
    student = app.test_client()
    login(student, "student_a@test.nl")
    assert student.get("/taken").status_code == 200
    base = _base(world)
    token = csrf_from(admin_client, f"{base}/accounts")
    unconfirmed = admin_client.post(f"{base}/accounts/{world.users['student_a']}/actief",
                                    data={"csrf_token": token, "actief": "nee"})
    assert unconfirmed.status_code == 302 and student.get("/taken").status_code == 200
    admin_client.post(f"{base}/accounts/{world.users['student_a']}/actief",
                      data={"csrf_token": token, "actief": "nee", "bevestigd": "ja"})
    assert student.get("/taken").status_code == 302


def test_settings_page_records_who_changed_what(admin_client, world):
    base = _base(world)
    token = csrf_from(admin_client, f"{base}/instellingen")
    admin_client.post(f"{base}/instellingen", data={"csrf_token": token, "sleutel": "inschrijfvariant",
                                                    "waarde": "zelf"})
    page = admin_client.get(f"{base}/instellingen").get_data(as_text=True)
    assert "Bea Beheer" in page and "zelf" in page
    bad = admin_client.post(f"{base}/instellingen", data={"csrf_token": token, "sleutel": "bestaat_niet",
                                                          "waarde": "x"})
    assert bad.status_code == 400


def test_r9_r11_set_out_for_a_group_with_preview_and_progress(admin_client, world, uow_factory):
    base = _base(world)
    aid = assignments.create_assignment(world.schools["a"], "PVB-9", "Groepsproeve", "De opdrachttekst", MODEL,
                                        uow_factory(), established=True)
    token = csrf_from(admin_client, f"{base}/groepen")
    admin_client.post(f"{base}/groepen", data={"csrf_token": token, "naam": "G", "cohort": "2024", "crebo": "25655"})
    groups = {g.name: g.id for g in administration.list_groups(world.schools["a"], admin_client.admin_id,
                                                               uow_factory())}
    preview = admin_client.post(f"{base}/uitzetten", data={
        "csrf_token": token, "groep": groups["G"], "opdracht": aid, "begeleider": world.users["begeleider_a"]})
    page = preview.get_data(as_text=True)
    assert "De opdrachttekst" in page and "Het criterium" in page and "Voor 2 studenten" in page  # R11
    form = {"csrf_token": token, "opdracht": aid, "begeleider": world.users["begeleider_a"],
            "student": [world.students["student_a"], world.students["student_a2"]]}
    assert admin_client.post(f"{base}/uitzetten/bevestigen", data=form).status_code == 302  # not confirmed
    resp = admin_client.post(f"{base}/uitzetten/bevestigen", data={**form, "bevestigd": "ja"})
    page = resp.get_data(as_text=True)
    assert "2 van 2 voorbereid" in page and "2 PvB's uitgezet." in page
    assert queries.list_my_tasks(world.users["begeleider_a"], uow_factory()).total >= 2
    failing = admin_client.post(f"{base}/uitzetten/bevestigen", data={**form, "bevestigd": "ja",
                                                                      "student": [world.students["student_b"]]})
    assert "Er is niets uitgezet" in failing.get_data(as_text=True)


def test_r22_admin_replaces_the_assessor_on_the_exam_page_during_execution(admin_client, world, uow_factory):
    from tests.support.walk import start_and_walk_to

    instance_id, task_id = start_and_walk_to(world, uow_factory, "beoordelen_praktijk")
    page = admin_client.get(f"/examens/{instance_id}").get_data(as_text=True)
    assert "Deelnemer wijzigen" in page
    token = csrf_from(admin_client, f"/examens/{instance_id}")
    resp = admin_client.post(f"/examens/{instance_id}/deelnemers", data={
        "csrf_token": token, "role": "praktijkbeoordelaar", "user_id": world.users["beoordelaar_a2"]})
    assert resp.status_code == 303
    new_inbox = queries.list_my_tasks(world.users["beoordelaar_a2"], uow_factory())
    old_inbox = queries.list_my_tasks(world.users["beoordelaar_a"], uow_factory())
    assert task_id in {r.task_id for r in new_inbox.items}
    assert task_id not in {r.task_id for r in old_inbox.items}
