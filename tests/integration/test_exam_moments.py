"""End to end through bpmn/aanmelden.bpmn and the processes it calls: enrolment variants, attendance,
assessment variants 1 and 2, resits (R33, R36–R38, R40–R45, R50)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from handlers.calendar import to_amsterdam
from handlers.clock import use_clock
from processes import accounts, audit, moments, queries, registrations
from processes import enrolment as enr
from processes.errors import BadRequest, Conflict, Forbidden, ValidationFailed
from processes.models import (
    AuditEvent,
    Deadline,
    ExamMoment,
    ExamRegistration,
    ExamVersion,
    ExamWarning,
    HumanTask,
    OutboxMessage,
    ProcessInstance,
    ProcesVerbaal,
)
from scheduler import daily_once, sweep_once
from tests.conftest import run_cli
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
        # Kept with the exam and sent as OKE flow 4 through the outbox (valid against the spec).
        report = uow.session.get(OutboxMessage, pv.outbox_message_id)
        assert (report.kind, report.method, report.status) == ("session_report", "PATCH", "pending")
        assert report.path.startswith("/offerings/")
        [consumer] = report.body["consumers"]
        assert consumer["irregularities"].startswith("Brandalarm") and "Aanwezig: 1, afwezig: 1" in \
            consumer["irregularities"]
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
        moments.record_proces_verbaal(setup.moment_id, world.users["bureau_a"], {str(ea.id): True}, "",
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


# --------------------------------------------------------------------------- assessment variants (R33, R38, R40, R50)


def _taken(world, uow_factory, setup, student="student_a"):
    reg_id, inst = _enrolled(world, uow_factory, setup, student=student)
    [enrolment] = enrolments_of(uow_factory, reg_id)
    record_attendance(world, uow_factory, setup.moment_id, {enrolment.id: True})
    return reg_id, inst, enrolment


def test_r50_variant_2_the_result_stays_provisional_until_the_cesuur_is_known(world, uow_factory):
    setup = make_exam(world, uow_factory, assessment_variant="2", cesuur=None)
    reg_id, inst, enrolment = _taken(world, uow_factory, setup)
    do(world, uow_factory, inst, "v2_resultaat_invoeren", {"score": 62}, at=AFTER)
    result = result_of(uow_factory, enrolment.id)
    # Variant 2: the provisional result is visible at once; pass or fail waits for the cut-off score.
    assert (result.status, result.visible, result.passed, result.cesuur) == ("voorlopig", True, None, None)
    [provisional] = messages_of(uow_factory, inst)
    assert provisional.body["result"]["pass"] == "unknown"
    assert provisional.body["result"]["consumers"][0]["final"] is False
    deliver_pending(uow_factory, inst)
    # Waiting for the cesuur: nobody can establish it yet.
    assert open_tasks(uow_factory, inst) == []
    assert registration(uow_factory, reg_id).status == "open"

    with use_clock(LATER):
        moved = registrations.set_cesuur(setup.version_id, 60, world.users["commissie_a"], uow_factory())
    assert moved == 1
    result = result_of(uow_factory, enrolment.id)
    assert (result.passed, result.cesuur, result.status) == (True, 60, "voorlopig")
    do(world, uow_factory, inst, "v2_vaststellen_commissie", at=LATER)
    result = result_of(uow_factory, enrolment.id)
    assert result.status == "definitief"
    final = messages_of(uow_factory, inst)[-1]
    assert (final.body["result"]["pass"], final.body["result"]["consumers"][0]["final"]) == ("passed", True)
    assert registration(uow_factory, reg_id).status == "behaald"


def test_r38_variant_2_with_a_known_cesuur_goes_straight_to_establishing(world, uow_factory):
    setup = make_exam(world, uow_factory, assessment_variant="2", cesuur=70)
    reg_id, inst, enrolment = _taken(world, uow_factory, setup)
    do(world, uow_factory, inst, "v2_resultaat_invoeren", {"score": 62}, at=AFTER)
    deliver_pending(uow_factory, inst)
    do(world, uow_factory, inst, "v2_vaststellen_commissie", at=AFTER)
    assert result_of(uow_factory, enrolment.id).passed is False
    # Not passed with an attempt left: back to enrolment.
    the_task(uow_factory, inst, "inschrijven_bureau")


def test_r38_the_cesuur_is_set_once(world, uow_factory):
    setup = make_exam(world, uow_factory, assessment_variant="2", cesuur=None)
    registrations.set_cesuur(setup.version_id, 60, world.users["bureau_a"], uow_factory())
    with pytest.raises(Conflict, match="al vastgesteld"):
        registrations.set_cesuur(setup.version_id, 50, world.users["commissie_a"], uow_factory())
    with pytest.raises(ValidationFailed):
        registrations.set_cesuur(setup.version_id, -1, world.users["commissie_a"], uow_factory())
    with pytest.raises(Forbidden):
        registrations.set_cesuur(setup.version_id, 50, world.users["student_a"], uow_factory())


def test_r33_under_a_recorded_mandate_the_examenbureau_establishes(world, uow_factory):
    setup = make_exam(world, uow_factory, assessment_variant="1", cesuur=55)
    with pytest.raises(Forbidden):
        registrations.grant_mandate(world.schools["a"], world.users["bureau_a"], "", uow_factory())
    mandate_id = registrations.grant_mandate(world.schools["a"], world.users["commissie_a"],
                                             "Besluit examencommissie 12-01-2027", uow_factory())
    reg_id, inst, enrolment = _taken(world, uow_factory, setup)
    do(world, uow_factory, inst, "v1_resultaat_invoeren", {"score": 90}, at=AFTER)
    deliver_pending(uow_factory, inst)
    do(world, uow_factory, inst, "v1_uitwisseling_controleren", at=AFTER)
    do(world, uow_factory, inst, "v1_vaststellen_bureau", at=AFTER)
    result = result_of(uow_factory, enrolment.id)
    assert (result.status, result.established_role, result.mandate_id) == ("definitief", "examenbureau", mandate_id)
    with uow_factory() as uow:
        summaries = [e.summary for e in uow.session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == inst).order_by(AuditEvent.seq))]
    assert any("onder mandaat van de examencommissie" in s for s in summaries)


def test_r33_without_a_mandate_the_examencommissie_establishes(world, uow_factory):
    setup = make_exam(world, uow_factory)
    registrations.grant_mandate(world.schools["a"], world.users["commissie_a"], "", uow_factory())
    registrations.revoke_mandate(world.schools["a"], world.users["commissie_a"], uow_factory())
    reg_id, inst, enrolment = _taken(world, uow_factory, setup)
    do(world, uow_factory, inst, "v1_resultaat_invoeren", {"score": 90}, at=AFTER)
    deliver_pending(uow_factory, inst)
    do(world, uow_factory, inst, "v1_uitwisseling_controleren", at=AFTER)
    task = the_task(uow_factory, inst, "v1_vaststellen_commissie")
    assert task.lane_role == "examencommissie"


def test_the_assessor_may_not_establish_his_own_result(world, uow_factory):
    accounts.grant_role(world.users["rocbeoordelaar_a"], world.schools["a"], "examencommissie", uow_factory())
    setup = make_exam(world, uow_factory)
    reg_id, inst, enrolment = _taken(world, uow_factory, setup)
    do(world, uow_factory, inst, "v1_resultaat_invoeren", {"score": 90}, at=AFTER)
    deliver_pending(uow_factory, inst)
    do(world, uow_factory, inst, "v1_uitwisseling_controleren", at=AFTER)
    before = snapshot(uow_factory, inst)
    with pytest.raises(Forbidden, match="beoordeeld"):
        do(world, uow_factory, inst, "v1_vaststellen_commissie", at=AFTER, who="rocbeoordelaar_a")
    assert snapshot(uow_factory, inst) == before


def test_r40_a_result_is_linked_to_the_version_its_model_and_cesuur(world, uow_factory):
    model = {"werkprocessen": [{"code": "W1", "title": "Lezen", "rule": "all",
                                "criteria": [{"id": "c1", "text": "Begrijpt de tekst", "crucial": True}]}]}
    exam_id = enr.create_exam(world.schools["a"], "NED-3F", "Nederlands 3F", "25655", world.users["bureau_a"],
                              uow_factory(), teacher_id=world.users["begeleider_a"],
                              assessor_id=world.users["rocbeoordelaar_a"])
    version_id = enr.add_version(exam_id, world.users["bureau_a"], uow_factory(), cesuur=58, assessment_model=model)
    enr.establish_version(version_id, world.users["commissie_a"], uow_factory())
    moment_id = plan(world, uow_factory, version_id)
    setup = type("S", (), {"exam_id": exam_id, "version_id": version_id, "moment_id": moment_id})()
    reg_id, inst, enrolment = _taken(world, uow_factory, setup)
    do(world, uow_factory, inst, "v1_resultaat_invoeren", {"score": 58}, at=AFTER)
    result = result_of(uow_factory, enrolment.id)
    assert (result.exam_version_id, result.cesuur, result.assessment_model, result.passed) == \
        (version_id, 58, model, True)


def test_r48_the_5_and_2_working_day_deadlines_are_visible_to_the_committee(world, uow_factory, scheduler_at):
    setup = make_exam(world, uow_factory)
    reg_id, inst, enrolment = _taken(world, uow_factory, setup)
    with uow_factory() as uow:
        [window] = uow.session.scalars(select(Deadline).where(Deadline.instance_id == inst)).all()
        # Monday 25 January 2027, 10:00 Amsterdam + 5 working days.
        assert (window.kind, to_amsterdam(window.due_at).date().isoformat()) == ("beoordeling", "2027-02-01")
    scheduler_at(datetime(2027, 2, 2, 9, 0, tzinfo=UTC))
    with uow_factory() as uow:
        [window] = uow.session.scalars(select(Deadline).where(Deadline.instance_id == inst)).all()
        assert window.overdue_at is not None and window.closed_at is None
        warnings = uow.session.scalars(select(ExamWarning.code).where(ExamWarning.instance_id == inst)).all()
        assert warnings == ["beoordeling_te_laat"]
    do(world, uow_factory, inst, "v1_resultaat_invoeren", {"score": 90}, at=datetime(2027, 2, 2, 10, 0, tzinfo=UTC))
    with uow_factory() as uow:
        kinds = {d.kind: d for d in uow.session.scalars(select(Deadline).where(Deadline.instance_id == inst))}
        assert kinds["beoordeling"].closed_at is not None
        assert kinds["uitwisseling"].closed_at is None and kinds["uitwisseling"].overdue_at is None


# --------------------------------------------------------------------------- exam versions (R35)


def test_r35_a_version_outside_the_bank_is_approved_by_the_committee_as_a_task(world, uow_factory):
    exam_id = enr.create_exam(world.schools["a"], "ENG-B1", "Engels B1", "25655", world.users["bureau_a"],
                              uow_factory())
    version_id = enr.add_version(exam_id, world.users["bureau_a"], uow_factory(), in_bank=False, cesuur=55)
    with pytest.raises(Conflict, match="Examenversie goedkeuren"):
        enr.establish_version(version_id, world.users["commissie_a"], uow_factory())
    with pytest.raises(BadRequest, match="niet vastgesteld"):
        plan(world, uow_factory, version_id)
    with uow_factory() as uow:
        task = uow.session.scalar(select(HumanTask).where(HumanTask.element_id == "examenversie_goedkeuren",
                                                          HumanTask.status == "open"))
        assert (task.lane_role, task.school_id, task.assignee_id) == ("examencommissie", world.schools["a"], None)
        inst = task.instance_id
    with pytest.raises(Forbidden):
        do(world, uow_factory, inst, "examenversie_goedkeuren", {"besluit": "goedgekeurd"}, who="bureau_a")
    do(world, uow_factory, inst, "examenversie_goedkeuren", {"besluit": "goedgekeurd"}, who="commissie_a")
    with uow_factory() as uow:
        assert uow.session.get(ExamVersion, version_id).established is True
    assert plan(world, uow_factory, version_id)


def test_r35_a_refused_version_stays_unestablished(world, uow_factory):
    exam_id = enr.create_exam(world.schools["a"], "ENG-B1", "Engels B1", "25655", world.users["bureau_a"],
                              uow_factory())
    version_id = enr.add_version(exam_id, world.users["bureau_a"], uow_factory(), in_bank=False)
    with uow_factory() as uow:
        inst = uow.session.scalar(select(HumanTask.instance_id).where(
            HumanTask.element_id == "examenversie_goedkeuren"))
    with pytest.raises(ValidationFailed):
        do(world, uow_factory, inst, "examenversie_goedkeuren", {"besluit": "afgewezen"}, who="commissie_a")
    do(world, uow_factory, inst, "examenversie_goedkeuren", {"besluit": "afgewezen", "toelichting": "Verouderd."},
       who="commissie_a")
    with uow_factory() as uow:
        assert uow.session.get(ExamVersion, version_id).established is False


# --------------------------------------------------------------------------- automatic registration (R41)


def test_r41_a_cohort_is_registered_for_the_exams_of_its_programme_once(world, uow_factory):
    setup = make_exam(world, uow_factory)
    other = enr.create_exam(world.schools["a"], "ZORG-1", "Zorg", "99999", world.users["bureau_a"], uow_factory())
    only_2023 = enr.create_exam(world.schools["a"], "NED-OUD", "Nederlands (oud)", "25655", world.users["bureau_a"],
                                uow_factory(), cohort="2023")
    with use_clock(NOW):
        first = registrations.register_cohort(world.schools["a"], world.users["bureau_a"], uow_factory())
        again = registrations.register_cohort(world.schools["a"], None, uow_factory())
    # Both students of school a (crebo 25655, cohort 2024): NED-2F only.
    assert (first.created, first.already, again.created, again.already) == (2, 0, 0, 2)
    with uow_factory() as uow:
        rows = uow.session.execute(select(ExamRegistration.exam_id, ExamRegistration.student_id,
                                          ExamRegistration.school_year)).all()
        tasks = uow.session.scalars(select(HumanTask.assignee_id).where(HumanTask.element_id == "go_geven")).all()
    assert {r.exam_id for r in rows} == {setup.exam_id} and other not in {r.exam_id for r in rows}
    assert only_2023 not in {r.exam_id for r in rows}
    assert {r.school_year for r in rows} == {"2026-2027"}
    assert tasks == [world.users["begeleider_a"]] * 2
    with pytest.raises(Forbidden):
        registrations.register_cohort(world.schools["a"], world.users["student_a"], uow_factory())


def test_r41_untaken_exams_move_to_the_next_school_year_in_the_audit_trail(world, uow_factory):
    setup = make_exam(world, uow_factory)
    reg_open, inst = register(world, uow_factory, setup)
    reg_done, _ = register(world, uow_factory, setup, student="student_a2")
    with uow_factory() as uow:
        uow.session.get(ExamRegistration, reg_done).status = "behaald"
        uow.commit()
    with use_clock(datetime(2027, 8, 1, 3, 0, tzinfo=UTC)):
        report = daily_once(uow_factory)
    assert report.carried_over == 1
    assert registration(uow_factory, reg_open).school_year == "2027-2028"
    assert registration(uow_factory, reg_done).school_year == "2026-2027"
    with uow_factory() as uow:
        last = uow.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == inst)
                                   .order_by(AuditEvent.seq.desc())).first()
        assert (last.action, last.role) == ("registration_carried_over", "systeem")
        assert "doorgeschoven naar 2027-2028" in last.summary
    # The untaken exam keeps its process: the Go is still waiting.
    the_task(uow_factory, inst, "go_geven")


def test_r41_register_and_carry_over_from_the_cli(app, world, uow_factory):
    make_exam(world, uow_factory)
    result = run_cli(app, "exam", "register-cohort", "roc-a", "--cohort", "2024", "--school-year", "2026-2027")
    assert result.exit_code == 0, result.output
    assert "2 registraties aangemaakt" in result.output
    result = run_cli(app, "exam", "carry-over", "roc-a", "--from", "2026-2027")
    assert result.exit_code == 0 and "2 examens doorgeschoven naar 2027-2028" in result.output
    result = run_cli(app, "exam", "carry-over", "roc-a", "--from", "2026")
    assert result.exit_code == 1 and "geen schooljaar" in result.output
    result = run_cli(app, "scheduler", "--once", "--daily", "--now", "2027-08-01T03:00+02:00")
    assert result.exit_code == 0 and "0 registraties aangemaakt" in result.output


def test_r37_accommodations_travel_with_the_enrolment_to_every_attempt(world, uow_factory):
    setup = make_exam(world, uow_factory)
    reg_id, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    do(world, uow_factory, inst, "inschrijven_bureau",
       {"moment": setup.moment_id, "extra_tijd": True, "voorleessoftware": True, "spellingcontrole": False})
    [enrolment] = enrolments_of(uow_factory, reg_id)
    assert enrolment.accommodations == ["extra_tijd", "voorleessoftware"]
    with uow_factory() as uow:
        enrolled = uow.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == inst,
                                                                AuditEvent.action == "student_enrolled")).one()
        assert "faciliteiten: extra_tijd, voorleessoftware" in enrolled.summary


def test_an_enrolment_from_outside_the_process_completes_the_waiting_enrolment_task(world, uow_factory):
    """The examenbureau (or the SIS through OKE flow 2) enrols directly: the student's process moves on."""
    setup = make_exam(world, uow_factory)
    reg_id, inst = register(world, uow_factory, setup)
    do(world, uow_factory, inst, "go_geven")
    the_task(uow_factory, inst, "inschrijven_bureau")
    enrolment_id = enr.enrol_student(setup.moment_id, world.students["student_a"], world.users["bureau_a"],
                                     uow_factory(), accommodations=["extra_tijd"], now=NOW,
                                     external_id="6f0c8a4e-31b5-4d43-9a57-3d0a1c1f2b11")
    assert open_tasks(uow_factory, inst) == []
    [enrolment] = enrolments_of(uow_factory, reg_id)
    assert (enrolment.id, enrolment.registration_id, enrolment.accommodations) == (enrolment_id, reg_id, ["extra_tijd"])
    with uow_factory() as uow:
        actions = uow.session.scalars(select(AuditEvent.action).where(AuditEvent.instance_id == inst)
                                      .order_by(AuditEvent.seq)).all()
    assert actions[-2:] == ["task_completed", "enrolment_adopted"], actions
    # The result of this attempt goes to the SIS under the association id it came with.
    record_attendance(world, uow_factory, setup.moment_id, {enrolment_id: True})
    do(world, uow_factory, inst, "v1_resultaat_invoeren", {"score": 70}, at=AFTER)
    assert messages_of(uow_factory, inst)[0].path == "/associations/6f0c8a4e-31b5-4d43-9a57-3d0a1c1f2b11"


def test_an_enrolment_outside_the_process_is_in_the_audit_trail_even_when_nothing_waits_for_it(world, uow_factory):
    setup = make_exam(world, uow_factory)
    second = _second_moment(world, uow_factory, setup)
    reg_id, inst = _enrolled(world, uow_factory, setup)
    [first] = enrolments_of(uow_factory, reg_id)
    record_attendance(world, uow_factory, setup.moment_id, {first.id: True})
    # The result is being assessed; the SIS already enrols him for a resit moment.
    enr.enrol_student(second, world.students["student_a"], world.users["bureau_a"], uow_factory(), now=LATER)
    with uow_factory() as uow:
        last = uow.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == inst)
                                   .order_by(AuditEvent.seq.desc())).first()
        assert (last.action, last.actor_name) == ("student_enrolled", "Bea Bureau")
    the_task(uow_factory, inst, "v1_resultaat_invoeren")
    with uow_factory() as uow:
        assert audit.verify_instance(uow.session, uow.session.get(ProcessInstance, inst)) == []


def test_r45_an_unenrolment_frees_the_seat_uses_no_attempt_and_sends_the_process_back_to_enrolment(
        world, uow_factory):
    setup = make_exam(world, uow_factory, max_attempts=1)
    reg_id, inst = _enrolled(world, uow_factory, setup)
    [first] = enrolments_of(uow_factory, reg_id)
    with pytest.raises(Forbidden):
        registrations.unenrol(first.id, world.users["student_a2"], uow_factory(), now=NOW)
    with pytest.raises(Conflict, match="al begonnen"):
        registrations.unenrol(first.id, world.users["student_a"], uow_factory(), now=AFTER)
    registrations.unenrol(first.id, world.users["student_a"], uow_factory(), now=NOW)
    with pytest.raises(Conflict, match="al afgemeld"):
        registrations.unenrol(first.id, world.users["bureau_a"], uow_factory(), now=NOW)
    with uow_factory() as uow:
        assert uow.session.get(ExamMoment, setup.moment_id).enrolled == 0
    # Back at enrolment; the one attempt is still there.
    do(world, uow_factory, inst, "inschrijven_bureau", {"moment": setup.moment_id, "extra_tijd": True})
    # The same moment again: his row there (one per student and moment) is his again.
    [again] = enrolments_of(uow_factory, reg_id)
    assert (again.id, again.status, again.attempt, again.accommodations) == \
        (first.id, "ingeschreven", 1, ["extra_tijd"])
