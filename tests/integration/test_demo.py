"""The demo that `examenflow demo` prepares gives every demo user something to do."""

from sqlalchemy import select

from processes import accounts, moments, queries
from processes.demo import DEMO_PASSWORD, NO_INBOX, demo_logins, prepare_demo
from processes.models import Enrolment, ExamMoment, HumanTask


def test_every_demo_user_has_an_open_task(uow_factory):
    prepare_demo(uow_factory())
    for email in demo_logins():
        user = accounts.authenticate(email, DEMO_PASSWORD, uow_factory())
        assert user is not None, email
        if email in NO_INBOX:
            continue
        page = queries.list_my_tasks(user.id, uow_factory())
        assert page.total >= 1, f"{email} has no open task in the demo"


def test_preparing_the_demo_twice_changes_nothing(uow_factory):
    prepare_demo(uow_factory())
    lines = prepare_demo(uow_factory())
    assert "Demo stond al klaar." in lines


def test_the_demo_surveillant_records_the_proces_verbaal_of_last_weeks_moment(uow_factory):
    prepare_demo(uow_factory())
    surveillant = accounts.authenticate("surveillant@demo.nl", DEMO_PASSWORD, uow_factory())
    with uow_factory() as uow:
        s = uow.session
        moment_id = s.scalar(select(ExamMoment.id).order_by(ExamMoment.starts_at).limit(1))
        enrolled = s.scalars(select(Enrolment.id).where(Enrolment.moment_id == moment_id)).all()
    assert len(enrolled) == 7
    moments.record_proces_verbaal(moment_id, surveillant.id, {str(e): True for e in enrolled}, "", uow_factory())
    with uow_factory() as uow:
        assessing = uow.session.scalars(select(HumanTask).where(HumanTask.element_id == "v1_resultaat_invoeren",
                                                                HumanTask.status == "open")).all()
        assert len(assessing) == 7
