"""The assignment bank: established in the bank skips step 3 (R16), a supplementary assignment always
needs establishing (R17), a preview before setting out (R11)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from processes import assignments
from processes.errors import BadRequest, Forbidden
from processes.models import AuditEvent, ExamAssignment, HumanTask
from tests.conftest import csrf_from, login
from tests.support.admin import MODEL
from tests.support.walk import start_and_walk_to


def _elements(uow_factory, instance_id: int) -> set[str]:
    with uow_factory() as uow:
        return set(uow.session.scalars(select(HumanTask.element_id).where(HumanTask.instance_id == instance_id)))


def test_r16_an_assignment_established_in_the_bank_skips_establishment_per_student(world, admin, uow_factory):
    aid = assignments.create_assignment(world.schools["a"], "BANK", "Bankopdracht", "t", MODEL, uow_factory())
    with pytest.raises(Forbidden):
        assignments.establish_bank_assignment(world.schools["a"], aid, world.users["begeleider_a"], uow_factory())
    assignments.establish_bank_assignment(world.schools["a"], aid, admin, uow_factory())
    instance_id, task_id = start_and_walk_to(world, uow_factory, "afspraken_plannen", assignment_id=aid)
    assert task_id is not None
    assert "opdracht_vaststellen" not in _elements(uow_factory, instance_id)
    with uow_factory() as uow:
        assert uow.session.get(ExamAssignment, instance_id).established_at is not None
        summaries = uow.session.scalars(select(AuditEvent.summary).where(AuditEvent.instance_id == instance_id))
        assert any("opdrachtenbank" in s and "R16" in s for s in summaries)


def test_r16_an_own_or_unestablished_assignment_is_established_per_student(world, uow_factory):
    aid = assignments.create_assignment(world.schools["a"], "NIEUW", "Nieuwe", "t", MODEL, uow_factory())
    instance_id, task_id = start_and_walk_to(world, uow_factory, "opdracht_vaststellen", assignment_id=aid)
    assert task_id is not None
    own, own_task = start_and_walk_to(world, uow_factory, "opdracht_vaststellen")
    assert own_task is not None


def test_r17_a_supplementary_assignment_always_needs_establishing(world, admin, uow_factory):
    school = world.schools["a"]
    with pytest.raises(BadRequest, match="R17"):
        assignments.create_assignment(school, "AANV", "Aanvulling", "t", MODEL, uow_factory(), established=True,
                                      kind="aanvulopdracht")
    aid = assignments.create_assignment(school, "AANV", "Aanvulling", "t", MODEL, uow_factory(),
                                        kind="aanvulopdracht")
    with pytest.raises(BadRequest, match="R17"):
        assignments.establish_bank_assignment(school, aid, admin, uow_factory())
    _instance_id, task_id = start_and_walk_to(world, uow_factory, "opdracht_vaststellen", assignment_id=aid)
    assert task_id is not None


def test_r11_the_bank_page_previews_an_assignment_and_establishing_needs_confirmation(app, world, admin, uow_factory):
    aid = assignments.create_assignment(world.schools["a"], "PV", "Te bekijken", "De volledige tekst", MODEL,
                                        uow_factory())
    client = app.test_client()
    login(client, "beheer@test.nl")
    base = f"/beheer/{world.schools['a']}/opdrachtenbank"
    assert "Te bekijken" in client.get(base).get_data(as_text=True)
    page = client.get(f"{base}/{aid}").get_data(as_text=True)
    assert "De volledige tekst" in page and "Criterium" in page
    token = csrf_from(client, base)
    client.post(f"{base}/{aid}/vaststellen", data={"csrf_token": token})
    assert not assignments.assignment_preview(world.schools["a"], aid, uow_factory())["established"]
    client.post(f"{base}/{aid}/vaststellen", data={"csrf_token": token, "bevestigd": "ja"})
    assert assignments.assignment_preview(world.schools["a"], aid, uow_factory())["established"]
