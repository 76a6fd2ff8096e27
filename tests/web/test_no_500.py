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
    "/examenmomenten/abc/proces-verbaal/nieuw", "/api/v1/mijn-examens",
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
