"""Walks a PvB through the diagram over HTTP, asserting at every step who sees the task."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PEOPLE, STUDENTS, csrf_from, login
from tests.support.api import api_for
from tests.support.walk import STEPS, step_data

WALK = STEPS
EVERYONE = list(PEOPLE) + list(STUDENTS)


@pytest.fixture
def apis(app, world, uow_factory):
    return {key: api_for(app, world.users[key], uow_factory) for key in EVERYONE}


def visible(apis, task_id: int) -> set[str]:
    seen = set()
    for key, api in apis.items():
        resp = api.get("/api/v1/tasks?per_page=100")
        assert resp.status_code == 200
        if task_id in {t["id"] for t in resp.get_json()["items"]}:
            seen.add(key)
    return seen


def test_walk_over_the_api_reaches_exactly_the_right_inboxes(app, world, apis):
    # A second exam at school A and one at school B, to have other people's tasks around.
    other = apis["begeleider_a"].post("/api/v1/pvb", json={"school_id": world.schools["a"],
                                                         "student_id": world.students["student_a2"]})
    assert other.status_code == 201
    assert apis["begeleider_b"].post("/api/v1/pvb", json={"school_id": world.schools["b"],
                                                        "student_id": world.students["student_b"]}
                                     ).status_code == 201

    started = apis["begeleider_a"].post("/api/v1/pvb", json={"school_id": world.schools["a"],
                                                           "student_id": world.students["student_a"]})
    assert started.status_code == 201
    instance_id = started.get_json()["instance_id"]
    (task_id,) = started.get_json()["open_task_ids"]
    previous = None
    for element_id, holder in WALK:
        detail = apis[holder].get(f"/api/v1/tasks/{task_id}")
        assert detail.status_code == 200
        assert detail.get_json()["element_id"] == element_id
        assert visible(apis, task_id) == {holder}, element_id
        if previous is not None and previous != holder:
            assert apis[previous].get(f"/api/v1/tasks/{task_id}").status_code == 403
        done = apis[holder].post(f"/api/v1/tasks/{task_id}/complete",
                                 json={"data": step_data(world, element_id)})
        assert done.status_code == 200, done.get_json()
        previous = holder
        (task_id,) = done.get_json()["open_task_ids"]

    # The praktijkbeoordelaar recorded in step 2 now holds the assessment; the other one does not.
    assert visible(apis, task_id) == {"beoordelaar_a"}
    history = apis["student_a"].get(f"/api/v1/instances/{instance_id}").get_json()["history"]
    completed = [h for h in history if h["action"] == "task_completed"]
    assert [(h["actor"], h["role"]) for h in completed] == [
        (PEOPLE.get(holder, STUDENTS.get(holder))[0], role)
        for (_, holder), role in zip(WALK, ["roc_begeleider", "student", "roc_begeleider",
                                            "praktijkbegeleider", "examencommissie", "student"],
                                     strict=True)
    ]


def test_praktijkbegeleider_sees_students_of_both_schools(app, world, apis):
    """R2: one account, linked to two schools, sees his students of each."""
    ids = []
    for school, student, begeleider in (("a", "student_a", "begeleider_a"), ("b", "student_b", "begeleider_b")):
        r = apis[begeleider].post("/api/v1/pvb", json={"school_id": world.schools[school],
                                                      "student_id": world.students[student]})
        (task_id,) = r.get_json()["open_task_ids"]
        for element_id, holder in WALK[:3]:
            actor = begeleider if holder.startswith("begeleider") else student
            data = step_data(world, element_id)
            if element_id == "deelnemers_vastleggen" and school == "b":
                data = {**data, "praktijkbeoordelaar": world.users["beoordelaar_b"],
                        "roc_beoordelaar": world.users["rocbeoordelaar_b"],
                        "vaststeller": world.users["commissie_b"]}
            resp = apis[actor].post(f"/api/v1/tasks/{task_id}/complete", json={"data": data})
            assert resp.status_code == 200, resp.get_json()
            (task_id,) = resp.get_json()["open_task_ids"]
        ids.append(task_id)
    mine = {t["id"] for t in apis["praktijkbegeleider"].get("/api/v1/tasks").get_json()["items"]}
    assert set(ids) <= mine


def test_walk_through_the_html_forms_with_csrf(app, world, uow_factory):
    from processes import runner

    started = runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"],
                               uow_factory())
    (task_id,) = started.open_task_ids
    clients = {}
    for element_id, holder in WALK:
        client = clients.get(holder)
        if client is None:
            client = clients[holder] = app.test_client()
            login(client, f"{holder}@test.nl")
        inbox = client.get("/taken").get_data(as_text=True)
        assert f"/taken/{task_id}" in inbox
        token = csrf_from(client, f"/taken/{task_id}")
        form = {k: ("on" if v is True else str(v)) for k, v in step_data(world, element_id).items()}
        # Without the token the post is refused and nothing happens.
        refused = client.post(f"/taken/{task_id}", data=form)
        assert refused.status_code == 400
        assert "CSRF" in refused.get_data(as_text=True)
        resp = client.post(f"/taken/{task_id}", data={**form, "csrf_token": token})
        assert resp.status_code == 303, resp.get_data(as_text=True)
        page = client.get("/taken").get_data(as_text=True)
        assert "De taak is afgerond." in page
        assert f"/taken/{task_id}\"" not in page
        task_id = _next_task(uow_factory, started.instance_id)
    dossier = clients["student_a"].get(f"/examens/{started.instance_id}").get_data(as_text=True)
    assert "Afspraken plannen" in dossier or "afspraken" in dossier.lower()
    assert re.search(r"Carla Commissie", dossier)


def _next_task(uow_factory, instance_id: int) -> int:
    from sqlalchemy import select

    from processes.models import HumanTask

    with uow_factory() as uow:
        return uow.session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance_id,
                                                             HumanTask.status == "open"))
