"""End to end through bpmn/aanmelden.bpmn and the processes it calls: enrolment variants, attendance,
assessment variants 1 and 2, resits (R33, R36–R38, R40–R45, R50)."""

from __future__ import annotations

from tests.support.moments import (
    AFTER,
    deliver_pending,
    do,
    enrolments_of,
    make_exam,
    messages_of,
    open_tasks,
    record_attendance,
    register,
    registration,
    result_of,
)


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
