"""End to end through bpmn/aanmelden.bpmn and the processes it calls: enrolment variants, attendance,
assessment variants 1 and 2, resits (R33, R36–R38, R40–R45, R50)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers.clock import use_clock
from processes import accounts, queries, registrations
from processes import enrolment as enr
from processes.errors import BadRequest, Conflict, Forbidden, ValidationFailed
from processes.models import ProcesVerbaal
from scheduler import sweep_once
from tests.support.moments import (
    AFTER,
    CLOSES,
    NOW,
    OPENS,
    STARTS,
    deliver_pending,
    do,
    enrolments_of,
    make_exam,
    messages_of,
    open_tasks,
    plan,
    record_attendance,
    register,
    registration,
    result_of,
    the_task,
)
from tests.support.walk import snapshot


@pytest.fixture
def scheduler_at(app, uow_factory):
    """Runs one scheduler sweep (timers and outbox) as if at the given time."""
    ext = app.extensions["examenflow"]
    return lambda at: sweep_once(uow_factory, ext.session_factory, at)


def test_manual_enrolment_then_variant_1_to_an_established_pass(world, uow_factory):
    setup = make_exam(world, uow_factory, enrolment_variant="handmatig", assessment_variant="1")
    reg_id, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    do(world, uow_factory, inst, "inschrijven_bureau", {"moment": setup.moment_id, "extra_tijd": True})
    [enrolment] = enrolments_of(uow_factory, reg_id)
    assert (enrolment.status, enrolment.accommodations, enrolment.attempt) == ("ingeschreven", ["extra_tijd"], 1)
    assert open_tasks(uow_factory, inst) == []

    record_attendance(world, uow_factory, setup.moment_id, {enrolment.id: True})
    do(world, uow_factory, inst, "v1_resultaat_invoeren", {"score": 70}, at=AFTER)
    result = result_of(uow_factory, enrolment.id)
    assert (result.score, result.passed, result.status, result.visible) == (70, True, "voorlopig", False)
    [provisional] = messages_of(uow_factory, inst)
    assert provisional.body["result"]["consumers"][0]["final"] is False

    assert deliver_pending(uow_factory, inst) == 1
    do(world, uow_factory, inst, "v1_uitwisseling_controleren", at=AFTER)
    assert result_of(uow_factory, enrolment.id).visible is True
    do(world, uow_factory, inst, "v1_vaststellen_commissie", at=AFTER)
    result = result_of(uow_factory, enrolment.id)
    assert (result.status, result.established_role) == ("definitief", "examencommissie")
    final = messages_of(uow_factory, inst)[-1]
    assert final.body["result"]["consumers"][0]["final"] is True
    assert final.body["result"]["pass"] == "passed"
    assert registration(uow_factory, reg_id).status == "behaald"
    assert open_tasks(uow_factory, inst) == []


# --------------------------------------------------------------------------- enrolment variants (R43)


def test_r43_self_enrolment_the_student_chooses_a_moment_within_the_period(world, uow_factory):
    setup = make_exam(world, uow_factory, enrolment_variant="zelf")
    later = plan(world, uow_factory, setup.version_id, starts_at=STARTS + timedelta(days=28),
                 enrol_from=OPENS + timedelta(days=20), enrol_until=CLOSES + timedelta(days=20))
    reg_id, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    task = the_task(uow_factory, inst, "examenmoment_kiezen")
    assert task.assignee_id == world.users["student_a"]
    # Only moments whose period is open are offered to the student; another one is refused, nothing changed.
    with use_clock(NOW):
        view = queries.get_task(task.id, world.users["student_a"], uow_factory())
    assert [c["value"] for c in view.choices["moment"]] == [setup.moment_id]
    before = snapshot(uow_factory, inst)
    with pytest.raises(ValidationFailed):
        do(world, uow_factory, inst, "examenmoment_kiezen", {"moment": later})
    assert snapshot(uow_factory, inst) == before
    do(world, uow_factory, inst, "examenmoment_kiezen", {"moment": setup.moment_id, "spellingcontrole": True})
    [enrolment] = enrolments_of(uow_factory, reg_id)
    assert (enrolment.moment_id, enrolment.accommodations) == (setup.moment_id, ["spellingcontrole"])
    assert open_tasks(uow_factory, inst) == []


def test_r43_when_the_self_enrolment_period_closes_the_examenbureau_enrols(world, uow_factory, scheduler_at):
    setup = make_exam(world, uow_factory, enrolment_variant="zelf")
    reg_id, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    the_task(uow_factory, inst, "examenmoment_kiezen")
    scheduler_at(CLOSES + timedelta(minutes=1))
    do(world, uow_factory, inst, "inschrijven_bureau", {"moment": setup.moment_id}, at=CLOSES + timedelta(hours=1))
    assert [e.moment_id for e in enrolments_of(uow_factory, reg_id)] == [setup.moment_id]


def test_r43_automatic_enrolment_takes_the_first_moment_with_a_seat(world, uow_factory):
    setup = make_exam(world, uow_factory, enrolment_variant="automatisch", capacity=1)
    second = plan(world, uow_factory, setup.version_id, starts_at=STARTS + timedelta(days=1))
    _, inst_a2 = register(world, uow_factory, setup, student="student_a2")
    do(world, uow_factory, inst_a2, "go_geven")
    reg_id, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    # The first moment was full (student_a2 took its only seat): the next one.
    assert [e.moment_id for e in enrolments_of(uow_factory, reg_id)] == [second]
    assert open_tasks(uow_factory, inst) == []


def test_r43_automatic_enrolment_without_a_free_seat_goes_to_the_examenbureau(world, uow_factory):
    setup = make_exam(world, uow_factory, enrolment_variant="automatisch", capacity=1)
    _, inst_a2 = register(world, uow_factory, setup, student="student_a2")
    do(world, uow_factory, inst_a2, "go_geven")
    reg_id, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    assert enrolments_of(uow_factory, reg_id) == []
    the_task(uow_factory, inst, "inschrijven_bureau")


def test_r43_the_variant_is_the_schools_setting_unless_the_exam_has_its_own(world, uow_factory):
    accounts.set_school_setting(world.schools["a"], "inschrijfvariant", "zelf", uow_factory())
    setup = make_exam(world, uow_factory, enrolment_variant=None)
    _, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    the_task(uow_factory, inst, "examenmoment_kiezen")


def test_r42_enrolment_waits_for_the_go_of_the_exams_teacher(world, uow_factory):
    setup = make_exam(world, uow_factory)
    reg_id, inst = register(world, uow_factory, setup)
    task = the_task(uow_factory, inst, "go_geven")
    assert task.assignee_id == world.users["begeleider_a"]
    with pytest.raises(Forbidden):
        do(world, uow_factory, inst, "go_geven", who="bureau_a")
    with pytest.raises(Forbidden, match="Go van de ROC-begeleider"):
        enr.enrol_student(setup.moment_id, world.students["student_a"], world.users["bureau_a"], uow_factory(),
                          now=NOW)
    assert enrolments_of(uow_factory, reg_id) == []


# --------------------------------------------------------------------------- attendance and resits (R36, R45)


def _enrolled(world, uow_factory, setup, student="student_a", moment_id=None):
    reg_id, inst = register(world, uow_factory, setup, student=student)
    do(world, uow_factory, inst, "go_geven")
    do(world, uow_factory, inst, "inschrijven_bureau", {"moment": moment_id or setup.moment_id})
    return reg_id, inst


def _second_moment(world, uow_factory, setup) -> int:
    return plan(world, uow_factory, setup.version_id, starts_at=STARTS + timedelta(days=14),
                enrol_from=OPENS, enrol_until=STARTS + timedelta(days=10))


LATER = AFTER + timedelta(days=1)


def test_r36_the_proces_verbaal_records_attendance_incidents_version_and_cesuur(world, uow_factory):
    setup = make_exam(world, uow_factory, cesuur=60)
    reg_a, inst_a = _enrolled(world, uow_factory, setup)
    reg_b, inst_b = _enrolled(world, uow_factory, setup, student="student_a2")
    [ea], [eb] = enrolments_of(uow_factory, reg_a), enrolments_of(uow_factory, reg_b)
    pv_id = record_attendance(world, uow_factory, setup.moment_id, {ea.id: True, eb.id: False},
                              incidents="Brandalarm om 10:15, 10 minuten extra tijd gegeven.")
    with uow_factory() as uow:
        pv = uow.session.get(ProcesVerbaal, pv_id)
        assert pv.attendance == {str(ea.id): "aanwezig", str(eb.id): "afwezig"}
        assert (pv.version_number, pv.cesuur, pv.surveillant_id) == (1, 60, world.users["surveillant_a"])
        assert "Brandalarm" in pv.incidents
    assert [e.status for e in enrolments_of(uow_factory, reg_a) + enrolments_of(uow_factory, reg_b)] == \
        ["afgerond", "afwezig"]
    the_task(uow_factory, inst_a, "v1_resultaat_invoeren")
    the_task(uow_factory, inst_b, "afwezigheid_beoordelen")


def test_r36_a_proces_verbaal_must_cover_every_enrolled_student_and_only_the_surveillant_records_it(
        world, uow_factory):
    setup = make_exam(world, uow_factory)
    reg_a, inst_a = _enrolled(world, uow_factory, setup)
    [ea] = enrolments_of(uow_factory, reg_a)
    before = snapshot(uow_factory, inst_a)
    with pytest.raises(ValidationFailed) as exc:
        record_attendance(world, uow_factory, setup.moment_id, {})
    assert "ontbreekt: inschrijving" in exc.value.errors["aanwezigheid"][0]
    with pytest.raises(ValidationFailed):
        record_attendance(world, uow_factory, setup.moment_id, {ea.id: "misschien"})
    with pytest.raises(Forbidden):
        registrations.record_proces_verbaal(setup.moment_id, world.users["bureau_a"], {str(ea.id): True}, "",
                                            uow_factory(), now=AFTER)
    with pytest.raises(BadRequest, match="begint pas"):
        record_attendance(world, uow_factory, setup.moment_id, {ea.id: True}, at=NOW)
    assert snapshot(uow_factory, inst_a) == before
    record_attendance(world, uow_factory, setup.moment_id, {ea.id: True})
    with pytest.raises(Conflict, match="al vastgelegd"):
        record_attendance(world, uow_factory, setup.moment_id, {ea.id: True})


def test_r45_an_excused_absence_uses_no_attempt_and_the_student_enrols_again(world, uow_factory):
    setup = make_exam(world, uow_factory, max_attempts=1)
    second = _second_moment(world, uow_factory, setup)
    reg_id, inst = _enrolled(world, uow_factory, setup)
    [first] = enrolments_of(uow_factory, reg_id)
    record_attendance(world, uow_factory, setup.moment_id, {first.id: False})
    do(world, uow_factory, inst, "afwezigheid_beoordelen", {"besluit": "verschoond", "toelichting": "Ziek gemeld."},
       at=LATER)
    do(world, uow_factory, inst, "inschrijven_bureau", {"moment": second}, at=LATER)
    first, again = enrolments_of(uow_factory, reg_id)
    assert (first.excused, again.attempt, again.previous_id) == (True, 1, first.id)


def test_r45_an_absence_not_excused_uses_the_last_attempt(world, uow_factory):
    accounts.set_school_setting(world.schools["a"], "extra_poging_aanvragen", False, uow_factory())
    setup = make_exam(world, uow_factory, max_attempts=1)
    reg_id, inst = _enrolled(world, uow_factory, setup)
    [first] = enrolments_of(uow_factory, reg_id)
    record_attendance(world, uow_factory, setup.moment_id, {first.id: False})
    do(world, uow_factory, inst, "afwezigheid_beoordelen",
       {"besluit": "niet_verschoond", "toelichting": "Geen bericht."}, at=LATER)
    # No attempt left and extra attempts are blocked at this school: the exam is closed, not passed.
    assert open_tasks(uow_factory, inst) == []
    assert registration(uow_factory, reg_id).status == "niet_behaald"


def test_r45_a_resit_after_a_fail_is_a_new_enrolment_linked_to_the_first(world, uow_factory):
    setup = make_exam(world, uow_factory, max_attempts=2, cesuur=55)
    second = _second_moment(world, uow_factory, setup)
    reg_id, inst = _enrolled(world, uow_factory, setup)
    [first] = enrolments_of(uow_factory, reg_id)
    record_attendance(world, uow_factory, setup.moment_id, {first.id: True})
    _assess_v1(world, uow_factory, inst, score=40)
    assert result_of(uow_factory, first.id).passed is False
    # Not passed, one attempt left: straight back to enrolment.
    do(world, uow_factory, inst, "inschrijven_bureau", {"moment": second}, at=LATER)
    first, again = enrolments_of(uow_factory, reg_id)
    assert (again.attempt, again.previous_id, again.moment_id) == (2, first.id, second)
    record_attendance(world, uow_factory, second, {again.id: True}, at=STARTS + timedelta(days=14, hours=3))
    _assess_v1(world, uow_factory, inst, score=80, at=STARTS + timedelta(days=14, hours=4))
    assert registration(uow_factory, reg_id).status == "behaald"


def test_r45_no_attempt_left_the_committee_may_grant_an_extra_one(world, uow_factory):
    setup = make_exam(world, uow_factory, max_attempts=1, cesuur=55)
    second = _second_moment(world, uow_factory, setup)
    reg_id, inst = _enrolled(world, uow_factory, setup)
    [first] = enrolments_of(uow_factory, reg_id)
    record_attendance(world, uow_factory, setup.moment_id, {first.id: True})
    _assess_v1(world, uow_factory, inst, score=30)
    with pytest.raises(Forbidden, match="Geen pogingen meer"):
        enr.enrol_student(second, world.students["student_a"], world.users["bureau_a"], uow_factory(), now=LATER)
    do(world, uow_factory, inst, "extra_poging_aanvragen", {"aanvraag": "ja", "motivatie": "Mantelzorg."}, at=LATER)
    do(world, uow_factory, inst, "extra_poging_beoordelen", {"besluit": "toegestaan", "toelichting": "Akkoord."},
       at=LATER)
    assert registration(uow_factory, reg_id).extra_attempts == 1
    do(world, uow_factory, inst, "inschrijven_bureau", {"moment": second}, at=LATER)
    assert enrolments_of(uow_factory, reg_id)[-1].attempt == 2


def test_r45_an_extra_attempt_refused_closes_the_exam(world, uow_factory):
    setup = make_exam(world, uow_factory, max_attempts=1, cesuur=55)
    reg_id, inst = _enrolled(world, uow_factory, setup)
    [first] = enrolments_of(uow_factory, reg_id)
    record_attendance(world, uow_factory, setup.moment_id, {first.id: True})
    _assess_v1(world, uow_factory, inst, score=30)
    do(world, uow_factory, inst, "extra_poging_aanvragen", {"aanvraag": "ja", "motivatie": "Graag."}, at=LATER)
    do(world, uow_factory, inst, "extra_poging_beoordelen", {"besluit": "afgewezen", "toelichting": "Nee."}, at=LATER)
    assert registration(uow_factory, reg_id).status == "niet_behaald"
    assert open_tasks(uow_factory, inst) == []


def _assess_v1(world, uow_factory, inst, score: int, at=AFTER):
    do(world, uow_factory, inst, "v1_resultaat_invoeren", {"score": score}, at=at)
    assert deliver_pending(uow_factory, inst, at) >= 1
    do(world, uow_factory, inst, "v1_uitwisseling_controleren", at=at)
    do(world, uow_factory, inst, "v1_vaststellen_commissie", at=at)
