"""The demo that `examenflow demo` prepares gives every demo user something to do."""

from processes import accounts, queries
from processes.demo import DEMO_PASSWORD, demo_logins, prepare_demo


def test_every_demo_user_has_an_open_task(uow_factory):
    prepare_demo(uow_factory())
    for email in demo_logins():
        user = accounts.authenticate(email, DEMO_PASSWORD, uow_factory())
        assert user is not None, email
        page = queries.list_my_tasks(user.id, uow_factory())
        assert page.total >= 1, f"{email} has no open task in the demo"


def test_preparing_the_demo_twice_changes_nothing(uow_factory):
    prepare_demo(uow_factory())
    lines = prepare_demo(uow_factory())
    assert "Demo stond al klaar." in lines
