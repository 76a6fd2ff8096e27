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


def test_pages_merge_own_and_school_wide_tasks_in_order(world, uow_factory):
    """Each branch of the visibility rule is read on its own (decision D6): pages mixing them, ties in
    created_at, completed tasks and other schools' tasks still give exactly what may_act_on allows,
    in (created_at, id) order, with the right total."""
    import random
    import uuid
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from processes import accounts, policy, queries, runner
    from processes.models import HumanTask, User

    inst_a = runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"],
                              uow_factory()).instance_id
    inst_b = runner.start_pvb(world.schools["b"], world.students["student_b"], world.users["begeleider_b"],
                              uow_factory()).instance_id
    # Two school-wide roles at two schools: three branches besides his own tasks.
    accounts.grant_role(world.users["commissie_a"], world.schools["b"], "examenbureau", uow_factory())
    rnd = random.Random(5)
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assignees = [None, None, world.users["commissie_a"], world.users["commissie_a2"], world.users["begeleider_a"]]
    specs = []
    for i in range(90):
        school, inst, student = rnd.choice([("a", inst_a, "student_a"), ("b", inst_b, "student_b")])
        specs.append(dict(
            instance_id=inst, task_guid=str(uuid.uuid4()), element_id=f"stap_{i}", name=f"Stap {i}",
            lane_role=rnd.choice(["examencommissie", "examenbureau", "roc_begeleider"]), form_key="vrij",
            status=rnd.choice(["open", "open", "open", "completed"]), assignee_id=rnd.choice(assignees),
            school_id=world.schools[school], student_id=world.students[student],
            created_at=base + timedelta(minutes=i // 3),  # ties, broken by id
        ))
    rnd.shuffle(specs)  # ids do not follow created_at
    with uow_factory() as uow:
        uow.session.add_all(HumanTask(**spec) for spec in specs)
        uow.commit()

    mixed = False
    for key in ("commissie_a", "commissie_a2", "commissie_b", "bureau_a", "begeleider_a", "praktijkbegeleider"):
        uid = world.users[key]
        with uow_factory() as uow:
            s = uow.session
            user = s.get(User, uid)
            tasks = s.scalars(select(HumanTask).where(HumanTask.status == "open")).all()
            expected = [t.id for t in sorted((t for t in tasks if policy.may_act_on(s, user, t)),
                                             key=lambda t: (t.created_at, t.id))]
            own = {t.id for t in tasks if t.assignee_id == uid}
        for per_page in (1, 4, 7, 25, 100):
            seen, page = [], 1
            while True:
                result = queries.list_my_tasks(uid, uow_factory(), page=page, per_page=per_page)
                assert result.total == len(expected), (key, per_page, page)
                if not result.items:
                    break
                ids = [r.task_id for r in result.items]
                mixed |= bool(set(ids) & own) and bool(set(ids) - own)
                seen += ids
                page += 1
            assert seen == expected, (key, per_page)
            assert page - 1 == (result.pages if expected else 0)
    assert mixed


def test_migrated_inbox_indexes_carry_the_models_predicates(db_url):
    """Alembic's comparison (tests/integration/test_schema.py) ignores a partial index's WHERE."""
    import re

    from sqlalchemy import inspect

    from processes.db import make_engine
    from processes.models import HumanTask

    def norm(where) -> str:
        return re.sub(r"\s+", " ", re.sub(r"::\w+|[()]", "", str(where))).strip().lower()

    engine = make_engine(db_url)
    try:
        dialect = engine.dialect.name
        reflected = {ix["name"]: ix for ix in inspect(engine).get_indexes("human_task")}
    finally:
        engine.dispose()
    partial = [ix for ix in HumanTask.__table__.indexes if ix.dialect_options[dialect]["where"] is not None]
    assert {ix.name for ix in partial} == {"ix_human_task_open_assignee", "ix_human_task_open_unassigned"}
    for ix in partial:
        got = reflected[ix.name]
        assert got["column_names"] == [c.name for c in ix.columns], ix.name
        assert norm(got["dialect_options"][f"{dialect}_where"]) == norm(ix.dialect_options[dialect]["where"]), ix.name
