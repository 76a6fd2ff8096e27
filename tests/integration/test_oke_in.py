"""OKE flow 2's use cases (processes/oke_in.py): every change is attributable to the client's system
account, in the exam's audit trail where the enrolment has a process, else in the log."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, update

from processes import audit, oke_clients, oke_in, runner
from processes.errors import Forbidden
from processes.models import AuditEvent, Enrolment, ExamMoment, ExamRegistration, ProcessInstance
from tests.support.oke import (
    ASSOCIATION_ID,
    OFFERING_ID,
    association_for,
    future_offering,
    prepare_oke_school,
)


@pytest.fixture
def school(world, uow_factory):
    return prepare_oke_school(world, uow_factory)


@pytest.fixture
def actor(school, uow_factory) -> oke_clients.OkeActor:
    issued = oke_clients.issue_token("client_credentials", school.client_id, school.secret, None, uow_factory())
    return oke_clients.client_for_token(issued.access_token, uow_factory())


@pytest.fixture
def enrolment_id(actor, uow_factory) -> int:
    oke_in.put_offering(actor, OFFERING_ID, future_offering(), uow_factory())
    oke_in.put_association(actor, ASSOCIATION_ID, association_for(), uow_factory())
    with uow_factory() as uow:
        return uow.session.scalar(select(Enrolment.id).where(Enrolment.external_id == ASSOCIATION_ID))


def _with_needs(*needs: str, state: str = "associated") -> dict:
    body = association_for(state=state)
    body["consumers"] = [{"consumerKey": "nl-test-admin", "personalNeeds": list(needs)}]
    return body


def test_flow2_client_acts_as_its_school_system_account(actor, school, world):
    assert (actor.user_id, actor.school_id, actor.school_code) == (school.system_user_id, world.schools["a"], "roc-a")
    assert actor.user_name == oke_clients.DEFAULT_NAME


def test_flow2_changes_of_an_enrolment_with_a_process_go_into_its_audit_trail(world, school, actor, enrolment_id,
                                                                             uow_factory):
    started = runner.start_pvb(world.schools["a"], school.student_id, world.users["begeleider_a"], uow_factory())
    with uow_factory() as uow:
        s = uow.session
        registration = ExamRegistration(school_id=world.schools["a"], exam_id=school.exam_id,
                                        student_id=school.student_id, instance_id=started.instance_id,
                                        school_year="2026-2027")
        s.add(registration)
        s.flush()
        s.execute(update(Enrolment).where(Enrolment.id == enrolment_id).values(registration_id=registration.id))
        uow.commit()

    oke_in.put_association(actor, ASSOCIATION_ID, _with_needs("aparte_ruimte"), uow_factory())
    oke_in.put_association(actor, ASSOCIATION_ID, _with_needs(state="canceled"), uow_factory())

    with uow_factory() as uow:
        s = uow.session
        events = s.execute(select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.actor_name, AuditEvent.role,
                                  AuditEvent.details)
                           .where(AuditEvent.instance_id == started.instance_id).order_by(AuditEvent.seq)).all()
        assert audit.verify_instance(s, s.get(ProcessInstance, started.instance_id)) == []
    ours = [e for e in events if e.action.startswith("enrolment_")]
    assert [e.action for e in ours] == ["enrolment_accommodations_changed", "enrolment_cancelled"]
    assert {(e.actor_id, e.actor_name, e.role) for e in ours} == {
        (school.system_user_id, oke_clients.DEFAULT_NAME, "examenbureau")}
    assert ours[0].details["after"] == ["aparte_ruimte"]
    assert ours[1].details["oke_client"] == school.client_id


def test_flow2_changes_without_a_process_are_logged_with_the_client(actor, enrolment_id, uow_factory, caplog):
    with caplog.at_level(logging.INFO, logger="processes.oke_in"):
        oke_in.put_association(actor, ASSOCIATION_ID, _with_needs(state="canceled"), uow_factory())
    assert any(actor.client_id in r.getMessage() and "enrolment_cancelled" in r.getMessage()
               for r in caplog.records)


def test_flow2_creations_are_logged_with_the_client(actor, uow_factory, caplog):
    with caplog.at_level(logging.INFO, logger="processes.oke_in"):
        oke_in.put_offering(actor, OFFERING_ID, future_offering(), uow_factory())
        oke_in.put_association(actor, ASSOCIATION_ID, association_for(), uow_factory())
    messages = [r.getMessage() for r in caplog.records if actor.client_id in r.getMessage()]
    assert any("created moment" in m for m in messages) and any("enrolled student" in m for m in messages)


def test_flow2_a_client_whose_account_lost_its_role_changes_nothing(actor, enrolment_id, uow_factory):
    from processes.models import RoleMembership

    with uow_factory() as uow:
        uow.session.execute(RoleMembership.__table__.delete().where(RoleMembership.user_id == actor.user_id))
        uow.commit()
    with pytest.raises(Forbidden, match="Examenbureau"):
        oke_in.put_association(actor, ASSOCIATION_ID, _with_needs(state="canceled"), uow_factory())
    with uow_factory() as uow:
        assert uow.session.get(Enrolment, enrolment_id).status == "ingeschreven"


def _cancelling(irregularities: str | None = None) -> dict:
    body = future_offering()
    entry = oke_in.oke.consumer_entry(body)
    entry["offeringState"] = "canceled"
    if irregularities is not None:
        entry["irregularities"] = irregularities
    return body


def test_flow2_a_cancellation_is_the_client_systems_and_logged_with_the_client(actor, enrolment_id, uow_factory,
                                                                              caplog):
    with caplog.at_level(logging.INFO):
        created, view = oke_in.put_offering(actor, OFFERING_ID, _cancelling("Examenzaal afgebrand."), uow_factory())
    assert not created and oke_in.oke.consumer_entry(view)["offeringState"] == "canceled"
    with uow_factory() as uow:
        moment = uow.session.scalar(select(ExamMoment).where(ExamMoment.external_id == OFFERING_ID))
        assert (moment.cancelled_by_id, moment.cancel_reason, moment.enrolled) == (
            actor.user_id, "Examenzaal afgebrand.", 0)
        assert uow.session.get(Enrolment, enrolment_id).status == "afgemeld"
        moment_id = moment.id
    messages = [r.getMessage() for r in caplog.records]
    assert any(actor.client_id in m and "cancelled moment" in m and "1 students unenrolled" in m for m in messages)
    assert any(f"moment {moment_id} cancelled by user {actor.user_id} (examenbureau)" in m for m in messages)


def test_flow2_a_client_whose_account_lost_its_role_cancels_nothing(actor, enrolment_id, uow_factory):
    from processes.models import RoleMembership

    with uow_factory() as uow:
        uow.session.execute(RoleMembership.__table__.delete().where(RoleMembership.user_id == actor.user_id))
        uow.commit()
    with pytest.raises(Forbidden, match="Examenbureau"):
        oke_in.put_offering(actor, OFFERING_ID, _cancelling(), uow_factory())
    with uow_factory() as uow:
        assert uow.session.get(Enrolment, enrolment_id).status == "ingeschreven"
        assert uow.session.scalar(select(ExamMoment.cancelled_at).where(ExamMoment.external_id == OFFERING_ID)) is None


def test_flow2_enroll_dates_are_the_enrolment_period_in_school_days(actor, uow_factory):
    from datetime import date, timedelta

    from handlers.calendar import to_amsterdam
    from processes.models import ExamMoment

    body = future_offering(days=30)
    first, last = date.today() + timedelta(days=1), date.today() + timedelta(days=10)
    body.update(enrollStartDate=first.isoformat(), enrollEndDate=last.isoformat())
    oke_in.put_offering(actor, OFFERING_ID, body, uow_factory())
    with uow_factory() as uow:
        m = uow.session.scalar(select(ExamMoment).where(ExamMoment.external_id == OFFERING_ID))
        period = (to_amsterdam(m.enrol_from), to_amsterdam(m.enrol_until))
    assert (period[0].date(), period[0].hour) == (first, 0)
    assert (period[1].date(), period[1].hour) == (last + timedelta(days=1), 0)
    body.update(enrollStartDate=last.isoformat(), enrollEndDate=first.isoformat())
    with pytest.raises(oke_in.OkeRefused, match="eindigt"):
        oke_in.put_offering(actor, OFFERING_ID, body, uow_factory())


def test_flow2_racing_associations_never_exceed_the_capacity(db_url, world, school, actor, uow_factory):
    """Eight planner requests at once for three seats: three enrolments, five 409s (R44)."""
    import threading
    import uuid

    from processes import accounts
    from processes import enrolment as enr
    from processes.db import UnitOfWork, make_engine, make_session_factory
    from processes.models import ExamMoment

    racers, seats = 8, 3
    oke_in.put_offering(actor, OFFERING_ID, future_offering(maxNumberStudents=seats), uow_factory())
    numbers = []
    for i in range(racers):
        uid = accounts.create_user(f"racer{i}@test.nl", f"Racer {i}", None, uow_factory())
        sid = accounts.create_student(uid, world.schools["a"], f"R{i:03d}", "2024", "25655", uow_factory())
        enr.give_go(school.exam_id, sid, world.users["begeleider_a"], uow_factory())
        numbers.append(f"R{i:03d}")
    engine = make_engine(db_url, pool_size=racers, max_overflow=0)
    factory = make_session_factory(engine)
    barrier = threading.Barrier(racers)
    outcomes: list[int] = []
    lock = threading.Lock()

    def run(number: str) -> None:
        association_id = str(uuid.uuid4())
        barrier.wait(timeout=60)
        try:
            oke_in.put_association(actor, association_id, association_for(number, association_id),
                                   UnitOfWork(factory))
            status = 201
        except Exception as exc:  # noqa: BLE001
            status = getattr(exc, "status", 0)
        with lock:
            outcomes.append(status)

    threads = [threading.Thread(target=run, args=(n,)) for n in numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    engine.dispose()
    assert sorted(outcomes) == [201] * seats + [409] * (racers - seats)
    with uow_factory() as uow:
        moment = uow.session.scalar(select(ExamMoment).where(ExamMoment.external_id == OFFERING_ID))
        rows = uow.session.scalars(select(Enrolment.id).where(Enrolment.moment_id == moment.id)).all()
        assert (moment.enrolled, len(rows)) == (seats, seats)
