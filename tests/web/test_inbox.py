"""The inbox reads index tables only, never engine state (design decision 4)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.conftest import login
from tests.support.api import api_for
from tests.support.walk import start_and_walk_to


def test_inbox_renders_when_loading_engine_state_fails(app, world, uow_factory, request):
    _instance_id, task_id = start_and_walk_to(world, uow_factory, "opdracht_verwerven")
    client = app.test_client()
    login(client, "student_a@test.nl")

    def refuse(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "process_instance.state" in statement:
            raise AssertionError("the inbox loaded engine state")

    engine = app.extensions["examenflow"].engine
    event.listen(engine, "before_cursor_execute", refuse)
    request.addfinalizer(lambda: event.remove(engine, "before_cursor_execute", refuse))
    page = client.get("/taken")
    assert page.status_code == 200
    assert f"/taken/{task_id}" in page.get_data(as_text=True)
    api = api_for(app, world.users["student_a"], uow_factory)
    assert task_id in {t["id"] for t in api.get("/api/v1/tasks").get_json()["items"]}
    # The guard is real: a step that must load the state now fails.
    with pytest.raises(AssertionError, match="engine state"):
        from processes import runner
        from tests.support.walk import full_data

        runner.complete_task(task_id, world.users["student_a"], full_data(world, "opdracht_verwerven"),
                             uow_factory())


def test_inbox_pages(app, world, uow_factory):
    from processes import queries, runner

    for _ in range(30):
        runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"],
                         uow_factory())
    first = queries.list_my_tasks(world.users["begeleider_a"], uow_factory(), page=1, per_page=25)
    second = queries.list_my_tasks(world.users["begeleider_a"], uow_factory(), page=2, per_page=25)
    assert first.total == 30 and first.pages == 2
    assert len(first.items) == 25 and len(second.items) == 5
    assert not {r.task_id for r in first.items} & {r.task_id for r in second.items}
    client = app.test_client()
    login(client, "begeleider_a@test.nl")
    html = client.get("/taken?pagina=2").get_data(as_text=True)
    assert "Pagina 2 van 2" in html


def test_school_wide_role_sees_tasks_where_the_exam_records_nobody(world, uow_factory):
    """Design 5: with no vaststeller recorded, every examencommissie member of that school may act."""
    from processes import queries
    from processes.models import HumanTask, Participant

    instance_id, task_id = start_and_walk_to(world, uow_factory, "opdracht_vaststellen")
    with uow_factory() as uow:
        s = uow.session
        s.query(Participant).filter_by(instance_id=instance_id, role="examencommissie").delete()
        s.query(HumanTask).filter_by(id=task_id).update({"assignee_id": None})
        uow.commit()
    for key, sees in (("commissie_a", True), ("commissie_a2", True), ("commissie_b", False),
                      ("bureau_a", False)):
        ids = {r.task_id for r in queries.list_my_tasks(world.users[key], uow_factory()).items}
        assert (task_id in ids) is sees, key
