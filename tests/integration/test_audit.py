"""`examenflow audit verify` proves nothing was altered or removed, the last event included."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update

from processes.models import AuditEvent
from tests.conftest import run_cli
from tests.support.walk import start_and_walk_to


def _verify(app):
    return run_cli(app, "audit", "verify")


def _events(uow_factory, instance_id):
    with uow_factory() as uow:
        return uow.session.scalars(select(AuditEvent.id).where(AuditEvent.instance_id == instance_id)
                                   .order_by(AuditEvent.seq)).all()


def test_intact_trail_verifies(app, world, uow_factory):
    start_and_walk_to(world, uow_factory, "opdracht_vaststellen")
    result = _verify(app)
    assert result.exit_code == 0, result.output
    assert "Logboek in orde" in result.output


def test_every_step_is_recorded_with_who_role_and_when(world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "opdracht_vaststellen")
    with uow_factory() as uow:
        rows = uow.session.execute(select(AuditEvent.action, AuditEvent.actor_name, AuditEvent.role,
                                          AuditEvent.created_at).where(AuditEvent.instance_id == instance_id)
                                   .order_by(AuditEvent.seq)).all()
    assert rows[0].action == "instance_started"
    done = [(r.role, r.actor_name) for r in rows if r.action == "task_completed"]
    assert done[:3] == [("roc_begeleider", "Anna Begeleider"), ("student", "Sara Student"),
                        ("roc_begeleider", "Anna Begeleider")]
    assert sorted(done[3:]) == [("praktijkbegeleider", "Piet Praktijk"), ("roc_begeleider", "Anna Begeleider"),
                                ("student", "Sara Student")]
    assert "assignment_locked" in [r.action for r in rows]
    assert all(r.actor_name and r.created_at for r in rows)


def test_altered_row_is_detected(app, world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "opdracht_vaststellen")
    second = _events(uow_factory, instance_id)[1]
    with uow_factory() as uow:
        uow.session.execute(update(AuditEvent).where(AuditEvent.id == second).values(actor_name="Iemand anders"))
        uow.commit()
    result = _verify(app)
    assert result.exit_code == 1
    assert f"examen {instance_id}: gebeurtenis 2: inhoud gewijzigd" in result.output


def test_row_deleted_in_the_middle_is_detected(app, world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "opdracht_vaststellen")
    third = _events(uow_factory, instance_id)[2]
    with uow_factory() as uow:
        uow.session.execute(delete(AuditEvent).where(AuditEvent.id == third))
        uow.commit()
    result = _verify(app)
    assert result.exit_code == 1
    assert "gebeurtenis 3 ontbreekt" in result.output


def test_last_row_deleted_is_detected(app, world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "opdracht_vaststellen")
    events = _events(uow_factory, instance_id)
    with uow_factory() as uow:
        uow.session.execute(delete(AuditEvent).where(AuditEvent.id == events[-1]))
        uow.commit()
        assert uow.session.scalar(select(func.count()).select_from(AuditEvent)) == len(events) - 1
    result = _verify(app)
    assert result.exit_code == 1
    assert "kop van de keten klopt niet" in result.output
