"""Cancelling an exam moment (a sitting) before it starts: every enrolled student is unenrolled, his seat
freed and his ``aanmelden`` process sent back to choosing a moment, without using an attempt (R44, R45)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from handlers.clock import use_clock
from processes import accounts, audit, exam_queries, moments, queries, registrations
from processes import enrolment as enr
from processes.errors import Conflict, ExamflowError, Forbidden, NotFound, ValidationFailed
from processes.models import AuditEvent, Enrolment, ExamMoment, ProcessInstance
from tests.conftest import PASSWORD
from tests.support.moments import (
    AFTER,
    CLOSES,
    NOW,
    OPENS,
    STARTS,
    do,
    enrolments_of,
    make_exam,
    open_tasks,
    plan,
    register,
    the_task,
)
from tests.support.walk import snapshot

REASON = "Lokaal 1.01 staat onder water"


def _chosen(world, uow_factory, setup, student: str, moment_id: int | None = None) -> tuple[int, int]:
    """A student of a self-enrolment exam who chose the moment: (registration id, instance id)."""
    reg_id, inst = register(world, uow_factory, setup, student=student)
    do(world, uow_factory, inst, "go_geven")
    do(world, uow_factory, inst, "examenmoment_kiezen", {"moment": moment_id or setup.moment_id}, student=student)
    return reg_id, inst


@pytest.fixture
def sitting(world, uow_factory):
    """A self-enrolment exam with two moments; student_a and student_a2 enrolled at the first."""
    setup = make_exam(world, uow_factory, enrolment_variant="zelf", max_attempts=1)
    other = plan(world, uow_factory, setup.version_id, starts_at=STARTS + timedelta(days=14), enrol_from=OPENS,
                 enrol_until=CLOSES + timedelta(days=7))
    enrolled = [_chosen(world, uow_factory, setup, student) for student in ("student_a", "student_a2")]
    return setup, other, enrolled


def _moment(uow_factory, moment_id: int) -> ExamMoment:
    with uow_factory() as uow:
        moment = uow.session.get(ExamMoment, moment_id)
        uow.session.expunge(moment)
        return moment


def _state(uow_factory, setup, enrolled) -> tuple:
    """Everything a refused cancellation must leave as it was."""
    m = _moment(uow_factory, setup.moment_id)
    return ((m.enrolled, m.cancelled_at, m.cancelled_by_id, m.cancel_reason),
            [[(e.status, e.attempt) for e in enrolments_of(uow_factory, reg)] for reg, _ in enrolled],
            [snapshot(uow_factory, inst) for _, inst in enrolled])


def test_r45_cancelling_unenrols_everyone_frees_the_seats_and_sends_each_process_back_to_choosing(
        world, uow_factory, sitting):
    setup, other, enrolled = sitting
    assert _moment(uow_factory, setup.moment_id).enrolled == 2
    done = moments.cancel_moment(setup.moment_id, world.users["bureau_a"], f"  {REASON} ", uow_factory(),
                                       now=NOW)
    assert (done.moment_id, done.unenrolled, done.reason, done.cancelled_at) == (setup.moment_id, 2, REASON, NOW)
    moment = _moment(uow_factory, setup.moment_id)
    assert (moment.enrolled, moment.cancelled_at, moment.cancelled_by_id, moment.cancel_reason) == (
        0, NOW, world.users["bureau_a"], REASON)
    for (reg_id, inst), student in zip(enrolled, ("student_a", "student_a2"), strict=True):
        [e] = enrolments_of(uow_factory, reg_id)
        assert e.status == "afgemeld"
        # R45: an unenrolment uses no attempt; his task to choose a moment is there again.
        with uow_factory() as uow:
            exam = uow.session.get(enr.Exam, setup.exam_id)
            assert enr.attempts_used(uow.session, setup.exam_id, world.students[student]) == 0
            assert enr.attempts_allowed(uow.session, exam, world.students[student]) == 1
            events = uow.session.execute(select(AuditEvent.summary, AuditEvent.actor_name, AuditEvent.role)
                                         .where(AuditEvent.instance_id == inst).order_by(AuditEvent.seq)).all()
            assert audit.verify_instance(uow.session, uow.session.get(ProcessInstance, inst)) == []
        task = the_task(uow_factory, inst, "examenmoment_kiezen")
        assert task.assignee_id == world.users[student]
        cancelled = [ev for ev in events if REASON in ev.summary]
        assert cancelled and cancelled[0].actor_name == "Bea Bureau" and cancelled[0].role == "examenbureau"
        assert "geannuleerd" in cancelled[0].summary
        # The cancelled moment is no longer offered; the other one is, and he takes it with his one attempt.
        with use_clock(NOW):
            view = queries.get_task(task.id, world.users[student], uow_factory())
        assert [c["value"] for c in view.choices["moment"]] == [other]
        do(world, uow_factory, inst, "examenmoment_kiezen", {"moment": other}, student=student)
        assert [(x.moment_id, x.status, x.attempt) for x in enrolments_of(uow_factory, reg_id)][-1] == (
            other, "ingeschreven", 1)


def test_a_cancelled_moment_takes_no_enrolment(world, uow_factory, sitting):
    setup, _, [(_, inst_a), _] = sitting
    moments.cancel_moment(setup.moment_id, world.users["bureau_a"], REASON, uow_factory(), now=NOW)
    with pytest.raises(Conflict, match="geannuleerd"):
        enr.enrol_student(setup.moment_id, world.students["student_a"], world.users["bureau_a"], uow_factory(),
                          now=NOW)
    # Nor through the student's task, should he post its id anyway.
    before = snapshot(uow_factory, inst_a)
    with pytest.raises(ExamflowError):
        do(world, uow_factory, inst_a, "examenmoment_kiezen", {"moment": setup.moment_id})
    assert snapshot(uow_factory, inst_a) == before
    assert _moment(uow_factory, setup.moment_id).enrolled == 0


def test_automatic_enrolment_skips_a_cancelled_moment(world, uow_factory):
    setup = make_exam(world, uow_factory, enrolment_variant="automatisch")
    later = plan(world, uow_factory, setup.version_id, starts_at=STARTS + timedelta(days=14), enrol_from=OPENS,
                 enrol_until=CLOSES + timedelta(days=7))
    moments.cancel_moment(setup.moment_id, world.users["bureau_a"], REASON, uow_factory(), now=NOW)
    reg_id, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    assert [(e.moment_id, e.status) for e in enrolments_of(uow_factory, reg_id)] == [(later, "ingeschreven")]


def test_after_the_start_cancelling_is_refused_and_changes_nothing(world, uow_factory, sitting):
    setup, _, enrolled = sitting
    before = _state(uow_factory, setup, enrolled)
    with pytest.raises(Conflict, match="al begonnen.*proces-verbaal"):
        moments.cancel_moment(setup.moment_id, world.users["bureau_a"], REASON, uow_factory(), now=STARTS)
    assert _state(uow_factory, setup, enrolled) == before


def test_cancelling_twice_is_a_409_and_no_second_round(world, uow_factory, sitting):
    setup, _, enrolled = sitting
    moments.cancel_moment(setup.moment_id, world.users["bureau_a"], REASON, uow_factory(), now=NOW)
    before = _state(uow_factory, setup, enrolled)
    with pytest.raises(moments.MomentAlreadyCancelled, match="al geannuleerd") as exc:
        moments.cancel_moment(setup.moment_id, world.users["bureau_a"], "Nog een keer", uow_factory(),
                                    now=NOW + timedelta(hours=1))
    assert exc.value.status == 409
    assert _state(uow_factory, setup, enrolled) == before


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 2001, "a\x00b"])
def test_a_reason_is_required_and_nothing_changes_without_one(world, uow_factory, sitting, reason):
    setup, _, enrolled = sitting
    before = _state(uow_factory, setup, enrolled)
    with pytest.raises(ValidationFailed) as exc:
        moments.cancel_moment(setup.moment_id, world.users["bureau_a"], reason, uow_factory(), now=NOW)
    assert "reden" in exc.value.errors and exc.value.status == 422
    assert _state(uow_factory, setup, enrolled) == before


@pytest.mark.parametrize("who", ["commissie_a", "student_a", "surveillant_a", "bureau_b", "commissie_b"])
def test_only_the_examenbureau_of_the_moments_school_cancels(world, uow_factory, sitting, who):
    if who == "bureau_b":
        uid = accounts.create_user("bureau_b@test.nl", "Bram Bureau", PASSWORD, uow_factory())
        accounts.grant_role(uid, world.schools["b"], "examenbureau", uow_factory())
        world.users[who] = uid
    setup, _, enrolled = sitting
    before = _state(uow_factory, setup, enrolled)
    with pytest.raises(Forbidden):
        moments.cancel_moment(setup.moment_id, world.users[who], REASON, uow_factory(), now=NOW)
    assert _state(uow_factory, setup, enrolled) == before


def test_an_unknown_moment_is_a_404(world, uow_factory):
    with pytest.raises(NotFound):
        moments.cancel_moment(999999, world.users["bureau_a"], REASON, uow_factory(), now=NOW)


def test_a_cancelled_moment_awaits_no_proces_verbaal(world, uow_factory, sitting):
    setup, _, _ = sitting
    moments.cancel_moment(setup.moment_id, world.users["bureau_a"], REASON, uow_factory(), now=NOW)
    assert exam_queries.surveillance_moments(world.users["surveillant_a"], uow_factory(), AFTER) == []
    with pytest.raises(Conflict, match="geannuleerd"):
        moments.record_proces_verbaal(setup.moment_id, world.users["surveillant_a"], {}, "", uow_factory(),
                                            now=AFTER)
    with pytest.raises(Conflict, match="geannuleerd"):
        exam_queries.moment_for_surveillant(setup.moment_id, world.users["surveillant_a"], uow_factory())


def test_the_cancelled_moment_is_shown_with_reason_who_and_when(world, uow_factory, sitting):
    setup, other, _ = sitting
    moments.cancel_moment(setup.moment_id, world.users["bureau_a"], REASON, uow_factory(), now=NOW)
    bank = exam_queries.exam_bank(world.schools["a"], world.users["commissie_a"], uow_factory())
    rows = {m.id: m for m in bank.exams[0].versions[0].moments}
    assert (rows[setup.moment_id].cancellation.reason, rows[setup.moment_id].cancellation.by) == (
        REASON, "Bea Bureau")
    assert rows[setup.moment_id].cancellation.at == NOW and rows[other].cancellation is None
    view = exam_queries.moment_enrolments(setup.moment_id, world.users["bureau_a"], uow_factory())
    assert (view.cancellation.reason, view.enrolled) == (REASON, 0)
    assert {st.status for st in view.students} == {"afgemeld"} and len(view.students) == 2
    [mine] = registrations.my_exams(world.users["student_a"], uow_factory())
    assert mine.moment is None and REASON in mine.cancelled_moment and "25-01-2027 10:00" in mine.cancelled_moment
    assert (mine.open_task, mine.attempts_used) == ("Examenmoment kiezen", 0)


def test_a_student_who_unenrolled_himself_before_is_left_alone(world, uow_factory, sitting):
    setup, _, enrolled = sitting
    [(reg_a, _), (reg_b, _)] = enrolled
    [first] = enrolments_of(uow_factory, reg_a)
    registrations.unenrol(first.id, world.users["student_a"], uow_factory(), now=NOW)
    done = moments.cancel_moment(setup.moment_id, world.users["bureau_a"], REASON, uow_factory(),
                                       now=NOW + timedelta(hours=1))
    assert done.unenrolled == 1
    with uow_factory() as uow:
        statuses = uow.session.scalars(select(Enrolment.status).where(Enrolment.moment_id == setup.moment_id)).all()
    assert sorted(statuses) == ["afgemeld", "afgemeld"]
    assert open_tasks(uow_factory, enrolled[1][1])[0].element_id == "examenmoment_kiezen"


def test_a_seat_is_not_taken_at_a_moment_cancelled_while_the_enrolment_waited(world, uow_factory):
    """The seat's conditional UPDATE checks the cancellation too: a request that read the moment before a
    cancellation committed (it waited for the row lock) gets no seat there."""
    from sqlalchemy import update

    from processes.models import ExamGo, Student

    setup = make_exam(world, uow_factory)
    enr.give_go(setup.exam_id, world.students["student_a"], world.users["begeleider_a"], uow_factory())
    with uow_factory() as uow:
        s = uow.session
        moment = s.get(ExamMoment, setup.moment_id)  # read before the cancellation: stale from here on
        assert moment.cancelled_at is None
        s.execute(update(ExamMoment).where(ExamMoment.id == moment.id)
                  .values(cancelled_at=NOW, cancelled_by_id=world.users["bureau_a"], cancel_reason=REASON)
                  .execution_options(synchronize_session=False))
        assert s.scalar(select(ExamGo.id)) is not None
        with pytest.raises(Conflict, match="geannuleerd"):
            enr.take_seat(s, moment, s.get(Student, world.students["student_a"]), [], NOW, by_student=False)
        assert s.scalar(select(ExamMoment.enrolled).where(ExamMoment.id == moment.id)) == 0
