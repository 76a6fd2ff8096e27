"""A beheerder for school A and a small assessment model, for the administration tests."""

from __future__ import annotations

import pytest

from processes import accounts
from tests.conftest import PASSWORD

MODEL = {"werkprocessen": [{"code": "B1-K1-W1", "title": "Werkproces", "rule": "all_crucial",
                            "criteria": [{"id": "c1", "text": "Criterium", "crucial": True}]}]}


@pytest.fixture
def admin(world, uow_factory) -> int:
    uid = accounts.create_user("beheer@test.nl", "Bea Beheer", PASSWORD, uow_factory())
    accounts.grant_role(uid, world.schools["a"], "beheerder", uow_factory())
    return uid
