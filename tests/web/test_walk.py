"""Walks a PvB through all 11 steps over HTTP as the roles of the step table, asserting at every step
who sees the task and that the dossier records who, in which role, when."""

from __future__ import annotations

import pytest

from tests.conftest import PEOPLE, STUDENTS, csrf_from, login
from tests.support.api import api_for
from tests.support.walk import HOLDERS, deliver_results, full_data, holder_of, open_tasks

EVERYONE = list(PEOPLE) + list(STUDENTS)
# Step-table role of each lane, as recorded in the dossier.
LANE = {
    "opdracht_aanmaken": "roc_begeleider", "opdracht_verwerven": "student",
    "deelnemers_vastleggen": "roc_begeleider",
    "goedkeuren_student": "student", "goedkeuren_roc_begeleider": "roc_begeleider",
    "goedkeuren_praktijkbegeleider": "praktijkbegeleider", "opdracht_vaststellen": "examencommissie",
    "afspraken_plannen": "student", "bewijsstukken_uploaden": "student", "bewijsstukken_controleren": "roc_beoordelaar",
    "beoordelen_roc": "roc_beoordelaar", "beoordelen_praktijk": "praktijkbeoordelaar",
    "consensus_vastleggen": "roc_beoordelaar", "consensus_bevestigen": "praktijkbeoordelaar",
    "eindbeoordeling_vaststellen": "examencommissie", "afsluiten": "roc_begeleider",
    "vervolg_bepalen": "roc_begeleider",
}


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


def _start_others(apis, world):
    """Exams of another student at school A and of a student at school B, so other tasks are around."""
    for begeleider, school, student in (("begeleider_a", "a", "student_a2"), ("begeleider_b", "b", "student_b")):
        resp = apis[begeleider].post("/api/v1/pvb", json={"school_id": world.schools[school],
                                                        "student_id": world.students[student]})
        assert resp.status_code == 201


def walk_over_api(apis, world, uow_factory, instance_id: int, fail=frozenset(), check_visibility=True):
    done = []
    for _ in range(40):
        tasks = open_tasks(uow_factory, instance_id)
        if not tasks and deliver_results(uow_factory, instance_id):
            done.append("resultaat_afgeleverd")
            continue
        if not tasks:
            return done
        task = tasks[0]
        holder = holder_of(task.element_id)
        if check_visibility:
            assert visible(apis, task.id) == {holder}, task.element_id
        detail = apis[holder].get(f"/api/v1/tasks/{task.id}")
        assert detail.status_code == 200 and detail.get_json()["element_id"] == task.element_id
        model = apis[holder].get(f"/api/v1/instances/{instance_id}").get_json()["assignment"]["model"] \
            if task.form_key in ("beoordelen", "consensus") else None
        resp = apis[holder].post(f"/api/v1/tasks/{task.id}/complete",
                                 json={"data": full_data(world, task.element_id, model, fail)})
        assert resp.status_code == 200, (task.element_id, resp.get_json())
        if check_visibility:
            assert apis[holder].get(f"/api/v1/tasks/{task.id}").get_json()["status"] == "completed"
            assert task.id not in visible(apis, task.id)
        done.append(task.element_id)
    raise AssertionError("walk did not end")


def test_all_eleven_steps_over_the_api_end_passed(app, world, apis, uow_factory):
    _start_others(apis, world)
    started = apis["begeleider_a"].post("/api/v1/pvb", json={
        "school_id": world.schools["a"], "student_id": world.students["student_a"], "title": "PvB Zorg"})
    assert started.status_code == 201
    instance_id = started.get_json()["instance_id"]

    done = walk_over_api(apis, world, uow_factory, instance_id)

    # Every step of the step table was passed, by the role the table names.
    assert {"opdracht_aanmaken", "opdracht_verwerven", "deelnemers_vastleggen", "goedkeuren_student",
            "goedkeuren_roc_begeleider", "goedkeuren_praktijkbegeleider", "opdracht_vaststellen",
            "afspraken_plannen", "bewijsstukken_uploaden", "bewijsstukken_controleren", "beoordelen_roc",
            "beoordelen_praktijk", "consensus_vastleggen", "consensus_bevestigen",
            "eindbeoordeling_vaststellen", "resultaat_afgeleverd", "afsluiten"} == set(done)
    exam = apis["student_a"].get(f"/api/v1/instances/{instance_id}").get_json()
    assert exam["status"] == "completed"
    assert exam["assignment"]["result"] == "voldaan"
    assert exam["assignment"]["result_details"]["werkprocessen"] == {"B1-K1-W1": "voldaan", "B1-K1-W2": "voldaan"}
    assert exam["assignment"]["archived"] is True
    completed = [h for h in exam["history"] if h["action"] == "task_completed"]
    names = {k: v[0] for k, v in PEOPLE.items()} | {k: v[0] for k, v in STUDENTS.items()}
    assert len(completed) == len(done) - 1  # the delivery is the outbox's, not a task
    for entry in completed:
        assert entry["role"] == LANE[entry["element_id"]]
        assert entry["actor"] == names[HOLDERS[entry["element_id"]]]
        assert entry["at"]


def test_failed_crucial_criterion_leads_to_a_follow_up(app, world, apis, uow_factory):
    started = apis["begeleider_a"].post("/api/v1/pvb", json={"school_id": world.schools["a"],
                                                           "student_id": world.students["student_a"]})
    instance_id = started.get_json()["instance_id"]
    done = walk_over_api(apis, world, uow_factory, instance_id, fail={"w2c1"}, check_visibility=False)
    assert "vervolg_bepalen" in done and "afsluiten" not in done
    exam = apis["begeleider_a"].get(f"/api/v1/instances/{instance_id}").get_json()
    assert exam["assignment"]["result"] == "onvoldoende"
    assert exam["assignment"]["result_details"]["werkprocessen"]["B1-K1-W2"] == "onvoldoende"
    (follow_up,) = exam["follow_ups"]
    new = apis["begeleider_a"].get(f"/api/v1/instances/{follow_up}").get_json()
    assert new["assignment"]["follow_up_of"] == instance_id
    assert new["status"] == "running" and new["open_tasks"][0]["step"] == "Opdracht aanmaken"


def test_praktijkbegeleider_sees_students_of_both_schools(app, world, apis, uow_factory):
    """R2: one account, linked to two schools, sees his students of each."""
    from processes import runner

    ids = []
    for school, student, begeleider, people in (
        ("a", "student_a", "begeleider_a", ("beoordelaar_a", "rocbeoordelaar_a", "commissie_a")),
        ("b", "student_b", "begeleider_b", ("beoordelaar_b", "rocbeoordelaar_b", "commissie_b")),
    ):
        r = runner.start_pvb(world.schools[school], world.students[student], world.users[begeleider], uow_factory())
        data = {
            "opdracht_aanmaken": full_data(world, "opdracht_aanmaken"),
            "opdracht_verwerven": full_data(world, "opdracht_verwerven"),
            "deelnemers_vastleggen": {"praktijkbegeleider": world.users["praktijkbegeleider"],
                                      "praktijkbeoordelaar": world.users[people[0]],
                                      "roc_beoordelaar": world.users[people[1]], "vaststeller": world.users[people[2]]},
        }
        for element_id, actor in (("opdracht_aanmaken", begeleider), ("opdracht_verwerven", student),
                                  ("deelnemers_vastleggen", begeleider)):
            (task,) = open_tasks(uow_factory, r.instance_id)
            assert task.element_id == element_id
            runner.complete_task(task.id, world.users[actor], data[element_id], uow_factory())
        ids += [t.id for t in open_tasks(uow_factory, r.instance_id) if t.element_id == "goedkeuren_praktijkbegeleider"]
    assert len(ids) == 2
    mine = {t["id"] for t in apis["praktijkbegeleider"].get("/api/v1/tasks").get_json()["items"]}
    assert set(ids) <= mine


def test_walk_through_the_html_forms_with_csrf(app, world, uow_factory):
    from processes import runner

    started = runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"],
                               uow_factory())
    clients = {}
    for _ in range(8):
        task = open_tasks(uow_factory, started.instance_id)[0]
        if task.element_id == "afspraken_plannen":
            break
        holder = holder_of(task.element_id)
        client = clients.get(holder)
        if client is None:
            client = clients[holder] = app.test_client()
            login(client, f"{holder}@test.nl")
        assert f"/taken/{task.id}" in client.get("/taken").get_data(as_text=True)
        token = csrf_from(client, f"/taken/{task.id}")
        form = {k: ("on" if v is True else str(v)) for k, v in full_data(world, task.element_id).items()}
        refused = client.post(f"/taken/{task.id}", data=form)  # no CSRF token
        assert refused.status_code == 400
        assert "CSRF" in refused.get_data(as_text=True)
        resp = client.post(f"/taken/{task.id}", data={**form, "csrf_token": token})
        assert resp.status_code == 303, resp.get_data(as_text=True)
        page = client.get("/taken").get_data(as_text=True)
        assert "De taak is afgerond." in page
        assert f'/taken/{task.id}"' not in page
    else:
        raise AssertionError("never reached afspraken_plannen")
    dossier = clients["student_a"].get(f"/examens/{started.instance_id}").get_data(as_text=True)
    assert "Ondertekend door Carla Commissie (Examencommissie)" in dossier
    assert "Zorggroep De Linde" in dossier
