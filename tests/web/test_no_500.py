"""Odd input on every page gets a 4xx with a Dutch message (or the page), never a 500."""

from __future__ import annotations

import pytest

from tests.conftest import csrf_from, login
from tests.support.walk import start_and_walk_to

GETS = [
    "/taken?pagina=abc", "/taken?pagina=-5", "/taken/abc", "/taken/0", "/examens/0", "/examens/abc/diagram.xml",
    "/termijnen?beoordelaar=abc", "/termijnen?crebo=%00", "/termijnen.xlsx?beoordelaar=-1",
    "/uitwisseling?sinds=gisteren", "/uitwisseling?examen=abc&status=%27", "/incidenten",
    "/api/v1/tasks?per_page=100000", "/api/v1/tasks/abc", "/api/v1/instances/-1", "/bestaat-niet",
    "/mijn-examens", "/examenbank", "/examenbank?school=abc", "/examenbank?school=%C2%B2", "/examenbank?school=999999",
    "/examenbank/momenten/abc",
    "/examenbank/momenten/0", "/mandaat", "/proces-verbaal", "/examenmomenten/0/proces-verbaal",
    "/examenmomenten/abc/proces-verbaal/nieuw", "/api/v1/mijn-examens", "/api/v1/mijn-pvbs",
    "/uploads/abc", "/uploads/" + "f" * 300, "/examens/0/bijlagen/0", "/examens/1/bijlagen/abc",
    "/examens/1/documenten/opdracht.pdf", "/examens/1/documenten/beoordeling/999999.pdf",
    "/examens/0/documenten/vaststelling.pdf", "/examens/1/inzage-bezwaar", "/examens/0/inzage-bezwaar",
    "/beheer/abc/bewaartermijnen", "/beheer/999999/bewaartermijnen",
]


@pytest.mark.parametrize("who", ["commissie_a", "student_a"])
def test_odd_get_requests_never_500(app, world, uow_factory, who):
    start_and_walk_to(world, uow_factory, "opdracht_verwerven")
    client = app.test_client()
    login(client, f"{who}@test.nl")
    for path in GETS:
        resp = client.get(path)
        assert resp.status_code < 500, (path, resp.status_code)


def test_odd_posts_never_500(app, world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "opdracht_verwerven")
    client = app.test_client()
    login(client, "begeleider_a@test.nl")
    token = csrf_from(client, f"/examens/{instance_id}")
    posts = [
        (f"/examens/{instance_id}/deelnemers", {"role": "examencommissie", "user_id": "abc"}),
        (f"/examens/{instance_id}/deelnemers", {"role": "koning", "user_id": "1"}),
        (f"/examens/{instance_id}/deelnemers", {"role": "examencommissie", "user_id": "999999"}),
        (f"/examens/{instance_id}/opdracht", {"desired_end_date": "31-02-2026"}),
        (f"/examens/{instance_id}/opdracht", {"title": "x" * 5000}),
        ("/examens/999999/opdracht", {"title": "x"}),
        (f"/taken/{task_id}", {"examenlocatie": "x" * 100000}),
        ("/taken/999999", {}),
        ("/incidenten/999999/opnieuw", {}),
        ("/examenbank/examens", {"school": "abc", "max_attempts": "%"}),
        ("/examenbank/examens", {"school": "1", "code": "x" * 500, "title": "t", "crebo": "1", "max_attempts": "2"}),
        ("/examenbank/versies/999999/momenten", {"starts_at": "2027-13-45T25:00"}),
        ("/examenbank/versies/999999/cesuur", {"cesuur": "99999999999999999999", "bevestiging": "on"}),
        ("/examenbank/cohort", {"school": "-1", "bevestiging": "on"}),
        ("/examenmomenten/999999/proces-verbaal/nieuw", {"aanwezigheid-x": "ja", "bevestiging": "on"}),
        ("/mandaat/verlenen", {"school": "999999", "bevestiging": "on"}),
        ("/mandaat/intrekken", {}),
    ]
    for path, data in posts:
        resp = client.post(path, data={**data, "csrf_token": token})
        assert resp.status_code < 500, (path, data, resp.status_code)
    # The uploads' JSON and chunk routes with odd bodies and headers.
    odd_begins = [None, [], "x", {"instance_id": "1"}, {"instance_id": True}, {"instance_id": instance_id},
                  {"instance_id": instance_id, "kind": "bijlage", "name": "a.pdf", "size": "groot"},
                  {"instance_id": instance_id, "kind": "bijlage", "name": "a.pdf", "size": -1},
                  {"instance_id": instance_id, "kind": "bijlage", "name": "a.pdf", "size": 10**30},
                  {"instance_id": instance_id, "kind": "raar", "name": "a.pdf", "size": 3},
                  {"instance_id": instance_id, "kind": "bijlage", "name": "\x00" * 300, "size": 3},
                  {"instance_id": 999999, "kind": "bewijs", "name": "a.pdf", "size": 3}]
    # A name or type with control characters is cleaned, not stored as sent (PostgreSQL refuses NUL).
    odd_type = client.post("/uploads", json={"instance_id": instance_id, "kind": "bijlage", "name": "a\x00.pdf",
                                             "content_type": "text/\x00plain", "size": 3},
                           headers={"X-CSRFToken": token})
    assert odd_type.status_code == 201 and odd_type.get_json()["name"] == "a.pdf"
    for body in odd_begins:
        resp = client.post("/uploads", json=body, headers={"X-CSRFToken": token})
        assert 400 <= resp.status_code < 500, (body, resp.status_code)
    begun = client.post("/uploads", json={"instance_id": instance_id, "kind": "bijlage", "name": "a.pdf", "size": 3},
                        headers={"X-CSRFToken": token}).get_json()["id"]
    for headers in ({}, {"Upload-Offset": "abc"}, {"Upload-Offset": "-1"}, {"Upload-Offset": "5"},
                    {"Upload-Offset": "99999999999999999999999"}):
        resp = client.put(f"/uploads/{begun}", data=b"abcd", headers={"X-CSRFToken": token, **headers})
        assert 400 <= resp.status_code < 500, (headers, resp.status_code)
    assert client.put(f"/uploads/{begun}", data=b"abc", headers={"Upload-Offset": "0"}).status_code == 400  # CSRF
    for path in (f"/examens/{instance_id}/bestanden/abc/intrekken",
                 f"/examens/{instance_id}/bestanden/999999/intrekken", f"/examens/{instance_id}/bewijs",
                 f"/examens/{instance_id}/inzage-bezwaar"):
        resp = client.post(path, data={"csrf_token": token, "bevestiging": "ja", "soort": "raar"})
        assert resp.status_code < 500, (path, resp.status_code)
