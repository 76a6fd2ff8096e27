"""The PvB's rules of shared/domain.md, each tried the forbidden or warned way, on the server."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from processes import accounts, assignments, queries, runner
from processes.assessment import EXAMPLE_MODEL
from processes.errors import Conflict, Forbidden, ValidationFailed
from processes.models import AuditEvent, ExamAssignment, ExamWarning
from tests.support.walk import (
    complete,
    full_data,
    judgements,
    open_tasks,
    revision,
    start_and_walk_to,
    walk_to,
)

APPROVALS = ("goedkeuren_student", "goedkeuren_roc_begeleider", "goedkeuren_praktijkbegeleider")


def _task(uow_factory, instance_id: int, element_id: str):
    (task,) = [t for t in open_tasks(uow_factory, instance_id) if t.element_id == element_id]
    return task


def _audit_actions(uow_factory, instance_id: int) -> list[str]:
    with uow_factory() as uow:
        return uow.session.scalars(select(AuditEvent.action).where(AuditEvent.instance_id == instance_id)
                                   .order_by(AuditEvent.seq)).all()


def _assignment(uow_factory, instance_id: int) -> ExamAssignment:
    with uow_factory() as uow:
        ea = uow.session.get(ExamAssignment, instance_id)
        uow.session.expunge(ea)
        return ea


# --- R14: approvals in any order lock the assignment after the third ----------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations(APPROVALS)))
def test_r14_approvals_in_any_order_lock_the_assignment_after_the_third(world, uow_factory, order):
    instance_id, _ = start_and_walk_to(world, uow_factory, "goedkeuren_student")
    for i, element_id in enumerate(order):
        assert _assignment(uow_factory, instance_id).locked_at is None, f"locked after {i} approvals"
        complete(world, uow_factory, _task(uow_factory, instance_id, element_id))
    assert _assignment(uow_factory, instance_id).locked_at is not None
    before = revision(uow_factory, instance_id)
    with pytest.raises(Conflict, match="ligt vast"):
        assignments.edit_exam_assignment(instance_id, world.users["begeleider_a"], {"text": "Nieuwe tekst"},
                                         uow_factory())
    assert revision(uow_factory, instance_id) == before
    assert _assignment(uow_factory, instance_id).text != "Nieuwe tekst"


def test_r14_edit_before_the_approvals_is_recorded(world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "goedkeuren_student")
    version = assignments.edit_exam_assignment(instance_id, world.users["begeleider_a"],
                                               {"text": "Verbeterde tekst"}, uow_factory())
    assert _assignment(uow_factory, instance_id).text == "Verbeterde tekst"
    assert version >= 2
    assert "assignment_changed" in _audit_actions(uow_factory, instance_id)


def test_r14_student_approval_states_he_read_the_exam_information(world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "goedkeuren_student")
    task = _task(uow_factory, instance_id, "goedkeuren_student")
    before = revision(uow_factory, instance_id)
    with pytest.raises(ValidationFailed) as exc:
        complete(world, uow_factory, task, data={"goedkeuring": True})
    assert "informatie_gelezen" in exc.value.errors
    assert revision(uow_factory, instance_id) == before


def test_r14_after_a_rejection_in_step_3_all_three_approve_again(world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "opdracht_vaststellen")
    task = _task(uow_factory, instance_id, "opdracht_vaststellen")
    complete(world, uow_factory, task, data={"opdracht_besluit": "afgewezen", "opdracht_reden": "Te vaag.",
                                             "bevestiging": True})
    assert _assignment(uow_factory, instance_id).locked_at is None
    herzien = _task(uow_factory, instance_id, "opdracht_herzien")
    complete(world, uow_factory, herzien)
    assert {t.element_id for t in open_tasks(uow_factory, instance_id)} == set(APPROVALS)
    for element_id in APPROVALS:
        complete(world, uow_factory, _task(uow_factory, instance_id, element_id))
    assert _assignment(uow_factory, instance_id).locked_at is not None
    assert [t.element_id for t in open_tasks(uow_factory, instance_id)] == ["opdracht_vaststellen"]


# --- R7, R15: participants and establishing the assignment ---------------------------------------


def test_r7_roc_begeleider_changes_an_assessor_and_the_open_task_follows(world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "goedkeuren_student")
    assignments.change_participant(instance_id, "praktijkbegeleider", world.users["praktijkbegeleider"],
                                   world.users["begeleider_a"], uow_factory())
    other = accounts.create_user("pb2@test.nl", "Paula Praktijk", "geheim-wachtwoord", uow_factory())
    accounts.grant_role(other, world.schools["a"], "praktijkbegeleider", uow_factory())
    assignments.change_participant(instance_id, "praktijkbegeleider", other, world.users["begeleider_a"],
                                   uow_factory())
    task = _task(uow_factory, instance_id, "goedkeuren_praktijkbegeleider")
    assert task.assignee_id == other
    assert task.id in {r.task_id for r in queries.list_my_tasks(other, uow_factory()).items}
    assert task.id not in {r.task_id for r in queries.list_my_tasks(world.users["praktijkbegeleider"],
                                                                    uow_factory()).items}


def test_r7_after_establishment_the_roc_begeleider_may_not_change_participants(world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "afspraken_plannen")
    assert _assignment(uow_factory, instance_id).established_at is not None
    before = revision(uow_factory, instance_id)
    with pytest.raises(Forbidden, match="beheerder"):
        assignments.change_participant(instance_id, "praktijkbeoordelaar", world.users["beoordelaar_a2"],
                                       world.users["begeleider_a"], uow_factory())
    assert revision(uow_factory, instance_id) == before


def test_r7_assignment_cannot_be_established_before_every_role_is_recorded(world, uow_factory):
    from processes.models import Participant

    instance_id, task_id = start_and_walk_to(world, uow_factory, "opdracht_vaststellen")
    with uow_factory() as uow:
        uow.session.query(Participant).filter_by(instance_id=instance_id, role="roc_beoordelaar").delete()
        uow.commit()
    before = revision(uow_factory, instance_id)
    with pytest.raises(Conflict, match="ontbreekt: ROC-beoordelaar"):
        complete(world, uow_factory, _task(uow_factory, instance_id, "opdracht_vaststellen"))
    assert revision(uow_factory, instance_id) == before


def test_r15_only_the_exams_vaststeller_establishes(world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "opdracht_vaststellen")
    before = revision(uow_factory, instance_id)
    for other in ("commissie_a2", "commissie_b", "begeleider_a"):
        with pytest.raises(Forbidden):
            runner.complete_task(task_id, world.users[other], full_data(world, "opdracht_vaststellen"),
                                 uow_factory())
    assert revision(uow_factory, instance_id) == before


# --- R8: one assessor --------------------------------------------------------------------------


def _deelnemers_without_second_assessor(world) -> dict:
    data = full_data(world, "deelnemers_vastleggen")
    del data["praktijkbeoordelaar"]
    return data


def test_r8_one_assessor_is_refused_where_the_school_does_not_allow_it(world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "deelnemers_vastleggen")
    before = revision(uow_factory, instance_id)
    with pytest.raises(ValidationFailed) as exc:
        runner.complete_task(task_id, world.users["begeleider_a"], _deelnemers_without_second_assessor(world),
                             uow_factory())
    assert "praktijkbeoordelaar" in exc.value.errors
    assert revision(uow_factory, instance_id) == before


def test_r8_one_assessor_allowed_warns_in_ui_and_audit_and_goes_on(app, world, uow_factory):
    from tests.conftest import csrf_from, login

    accounts.set_school_setting(world.schools["a"], "een_beoordelaar_toegestaan", True, uow_factory())
    instance_id, task_id = start_and_walk_to(world, uow_factory, "deelnemers_vastleggen")
    client = app.test_client()
    login(client, "begeleider_a@test.nl")
    token = csrf_from(client, f"/taken/{task_id}")
    form = {k: str(v) for k, v in _deelnemers_without_second_assessor(world).items()}
    resp = client.post(f"/taken/{task_id}", data={**form, "csrf_token": token}, follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert "Let op: Er is maar één beoordelaar vastgelegd" in page
    assert "warning_recorded" in _audit_actions(uow_factory, instance_id)
    assert "maar één beoordelaar" in client.get(f"/examens/{instance_id}").get_data(as_text=True)
    # The exam goes on with one assessor: a single assessment, no consensus confirmation.
    walk_to(world, uow_factory, instance_id, "beoordelen_alleen")
    complete(world, uow_factory, _task(uow_factory, instance_id, "beoordelen_alleen"))
    assert [t.element_id for t in open_tasks(uow_factory, instance_id)] == ["consensus_vastleggen"]
    complete(world, uow_factory, _task(uow_factory, instance_id, "consensus_vastleggen"))
    assert [t.element_id for t in open_tasks(uow_factory, instance_id)] == ["eindbeoordeling_vaststellen"]


# --- R21: appointments after the desired end date ----------------------------------------------


def test_r21_late_appointment_warns_and_does_not_block(world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "afspraken_plannen")
    result = runner.complete_task(task_id, world.users["student_a"],
                                  {"uitvoeringsdatum": "2027-02-20", "beoordelingsdatum": "2027-04-01"},
                                  uow_factory())
    assert any("na de gewenste einddatum" in w for w in result.warnings)
    with uow_factory() as uow:
        codes = uow.session.scalars(select(ExamWarning.code).where(ExamWarning.instance_id == instance_id)).all()
    assert codes == ["afspraak_na_einddatum"]
    assert "warning_recorded" in _audit_actions(uow_factory, instance_id)
    assert open_tasks(uow_factory, instance_id)[0].element_id == "bewijsstukken_uploaden"


def test_r21_appointment_before_the_end_date_gives_no_warning(world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "afspraken_plannen")
    result = runner.complete_task(task_id, world.users["student_a"], full_data(world, "afspraken_plannen"),
                                  uow_factory())
    assert result.warnings == []


# --- R13, R25, R26, R29: assessing --------------------------------------------------------------


def test_r13_an_exam_document_needs_its_signature_and_records_who_role_when(world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "bewijsstukken_controleren")
    before = revision(uow_factory, instance_id)
    with pytest.raises(ValidationFailed) as exc:
        runner.complete_task(task_id, world.users["rocbeoordelaar_a"], {"bewijs_besluit": "compleet"},
                             uow_factory())
    assert "bevestiging" in exc.value.errors
    assert revision(uow_factory, instance_id) == before
    complete(world, uow_factory, _task(uow_factory, instance_id, "bewijsstukken_controleren"))
    view = queries.get_instance(instance_id, world.users["student_a"], uow_factory())
    doc = [d for d in view.documents if d.element_id == "bewijsstukken_controleren"][0]
    assert (doc.actor, doc.role) == ("Rik ROC", "roc_beoordelaar") and doc.at is not None


def test_r25_onvoldoende_needs_a_justification_voldaan_does_not(world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "beoordelen_roc")
    data = {"beoordeling": judgements(EXAMPLE_MODEL), "bevestiging": True}
    data["beoordeling"]["w1c2"] = {"oordeel": "onvoldoende"}
    before = revision(uow_factory, instance_id)
    with pytest.raises(ValidationFailed) as exc:
        runner.complete_task(task_id, world.users["rocbeoordelaar_a"], data, uow_factory())
    assert "Een toelichting is verplicht bij onvoldoende." in str(exc.value.errors)
    assert revision(uow_factory, instance_id) == before
    data["beoordeling"]["w1c2"]["toelichting"] = "Gegevens onvolledig vastgelegd."
    runner.complete_task(task_id, world.users["rocbeoordelaar_a"], data, uow_factory())


def test_r26_incomplete_assessment_needs_explicit_confirmation(world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "beoordelen_praktijk")
    partial = judgements(EXAMPLE_MODEL)
    del partial["w2c2"]
    before = revision(uow_factory, instance_id)
    with pytest.raises(ValidationFailed) as exc:
        runner.complete_task(task_id, world.users["beoordelaar_a"], {"beoordeling": partial, "bevestiging": True},
                             uow_factory())
    assert "onvolledige beoordeling" in str(exc.value.errors)
    assert revision(uow_factory, instance_id) == before
    runner.complete_task(task_id, world.users["beoordelaar_a"],
                         {"beoordeling": partial, "onvolledig_bevestigd": True, "bevestiging": True}, uow_factory())
    view = queries.get_instance(instance_id, world.users["beoordelaar_a"], uow_factory())
    assert [a["complete"] for a in view.assessments] == [False]


def test_r26_a_recorded_assessment_never_changes(world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "beoordelen_roc")
    complete(world, uow_factory, _task(uow_factory, instance_id, "beoordelen_roc"))
    before = revision(uow_factory, instance_id)
    changed = {"beoordeling": judgements(EXAMPLE_MODEL, fail={"w1c1"}), "bevestiging": True}
    with pytest.raises(Conflict, match="al afgerond"):
        runner.complete_task(task_id, world.users["rocbeoordelaar_a"], changed, uow_factory())
    assert revision(uow_factory, instance_id) == before
    view = queries.get_instance(instance_id, world.users["rocbeoordelaar_a"], uow_factory())
    assert view.assessments[0]["result"]["uitslag"] == "voldaan"


def test_r29_both_assessors_assess_in_parallel_then_consensus(world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, "beoordelen_roc")
    assert {t.element_id for t in open_tasks(uow_factory, instance_id)} == {"beoordelen_roc", "beoordelen_praktijk"}
    complete(world, uow_factory, _task(uow_factory, instance_id, "beoordelen_praktijk"))
    assert [t.element_id for t in open_tasks(uow_factory, instance_id)] == ["beoordelen_roc"]
    complete(world, uow_factory, _task(uow_factory, instance_id, "beoordelen_roc"))
    assert [t.element_id for t in open_tasks(uow_factory, instance_id)] == ["consensus_vastleggen"]


# --- R31: nobody establishes an exam he assessed -------------------------------------------------


def test_r31_vaststeller_may_not_be_an_assessor(world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "deelnemers_vastleggen")
    accounts.grant_role(world.users["commissie_a"], world.schools["a"], "praktijkbeoordelaar", uow_factory())
    data = {**full_data(world, "deelnemers_vastleggen"), "praktijkbeoordelaar": world.users["commissie_a"]}
    before = revision(uow_factory, instance_id)
    with pytest.raises(ValidationFailed) as exc:
        runner.complete_task(task_id, world.users["begeleider_a"], data, uow_factory())
    assert exc.value.errors == {"vaststeller": ["De vaststeller mag niet ook beoordelaar zijn (R31)."]}
    assert revision(uow_factory, instance_id) == before


def test_r31_who_assessed_may_not_establish_the_result(world, uow_factory):
    from processes.models import HumanTask

    instance_id, task_id = start_and_walk_to(world, uow_factory, "eindbeoordeling_vaststellen")
    # Make the praktijkbeoordelaar hold the establishing task (e.g. a wrong reassignment).
    with uow_factory() as uow:
        uow.session.query(HumanTask).filter_by(id=task_id).update({"assignee_id": world.users["beoordelaar_a"]})
        uow.commit()
    before = revision(uow_factory, instance_id)
    with pytest.raises(Forbidden, match="R31"):
        runner.complete_task(task_id, world.users["beoordelaar_a"], full_data(world, "eindbeoordeling_vaststellen"),
                             uow_factory())
    assert revision(uow_factory, instance_id) == before


def test_r31_established_result_can_go_back_to_consensus(world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "eindbeoordeling_vaststellen")
    complete(world, uow_factory, _task(uow_factory, instance_id, "eindbeoordeling_vaststellen"),
             data={"eind_besluit": "terug_naar_consensus", "eind_reden": "Criterium 3 onduidelijk.",
                   "bevestiging": True})
    assert [t.element_id for t in open_tasks(uow_factory, instance_id)] == ["consensus_vastleggen"]


# --- R30 and the pass rule ----------------------------------------------------------------------


@pytest.mark.parametrize(("fail", "passed"), [(set(), True), ({"w1c2"}, True), ({"w2c1"}, False),
                                              ({"w1c1", "w2c2"}, False)])
def test_pass_rule_crucial_fails_the_werkproces_and_the_pvb(world, uow_factory, fail, passed):
    instance_id, _ = start_and_walk_to(world, uow_factory, None, fail=fail)
    ea = _assignment(uow_factory, instance_id)
    assert ea.result == ("voldaan" if passed else "onvoldoende")
    crucial = {c["id"] for wp in EXAMPLE_MODEL["werkprocessen"] for c in wp["criteria"] if c["crucial"]}
    for wp in EXAMPLE_MODEL["werkprocessen"]:
        ids = {c["id"] for c in wp["criteria"]}
        expected = "onvoldoende" if ids & fail & crucial else "voldaan"
        assert ea.result_details["werkprocessen"][wp["code"]] == expected


def test_r30_not_passed_starts_a_linked_follow_up(world, uow_factory):
    instance_id, _ = start_and_walk_to(world, uow_factory, None, fail={"w1c1"})
    view = queries.get_instance(instance_id, world.users["begeleider_a"], uow_factory())
    (follow_up,) = view.follow_ups
    assert "follow_up_started" in _audit_actions(uow_factory, instance_id)
    new = queries.get_instance(follow_up, world.users["begeleider_a"], uow_factory())
    assert new.assignment["follow_up_of"] == instance_id
    assert new.open_tasks[0]["element_id"] == "opdracht_aanmaken"


def test_a_posted_result_is_ignored_the_server_computes_it(world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "beoordelen_roc")
    data = {"beoordeling": judgements(EXAMPLE_MODEL, fail={"w1c1"}), "bevestiging": True, "uitslag": "voldaan"}
    with pytest.raises(ValidationFailed) as exc:
        runner.complete_task(task_id, world.users["rocbeoordelaar_a"], data, uow_factory())
    assert "uitslag" in exc.value.errors


# --- Assessment models per assignment (R40) -----------------------------------------------------


def test_criteria_of_two_assignments_show_on_their_own_forms(app, world, uow_factory):
    from tests.conftest import login

    other_model = {"werkprocessen": [{"code": "B1-K2-W1", "title": "Begeleidt een groep", "criteria": [
        {"id": "g1", "text": "Stemt de activiteit af op de groep", "crucial": True}]}]}
    first = assignments.create_assignment(world.schools["a"], "ZORG", "Zorg", "Tekst", EXAMPLE_MODEL, uow_factory())
    second = assignments.create_assignment(world.schools["a"], "GROEP", "Groep", "Tekst", other_model,
                                           uow_factory())
    _, task_a = start_and_walk_to(world, uow_factory, "beoordelen_roc", assignment_id=first)
    _, task_b = start_and_walk_to(world, uow_factory, "beoordelen_roc", student="student_a2",
                                  assignment_id=second)
    client = app.test_client()
    login(client, "rocbeoordelaar_a@test.nl")
    page_a = client.get(f"/taken/{task_a}").get_data(as_text=True)
    page_b = client.get(f"/taken/{task_b}").get_data(as_text=True)
    assert "Verzamelt de relevante gegevens" in page_a and "Stemt de activiteit af" not in page_a
    assert "Stemt de activiteit af op de groep" in page_b and "Verzamelt de relevante gegevens" not in page_b


# --- R24: evidence is optional where the school decides so ----------------------------------------


def test_r24_school_without_evidence_goes_from_planning_to_assessment(world, uow_factory):
    accounts.set_school_setting(world.schools["a"], "bewijsstukken_gebruiken", "nee", uow_factory())
    instance_id, task_id = start_and_walk_to(world, uow_factory, "afspraken_plannen")
    complete(world, uow_factory, _task(uow_factory, instance_id, "afspraken_plannen"))
    assert [t.element_id for t in open_tasks(uow_factory, instance_id)] == ["uitvoering_afronden"]
    complete(world, uow_factory, _task(uow_factory, instance_id, "uitvoering_afronden"))
    assert {t.element_id for t in open_tasks(uow_factory, instance_id)} == {"beoordelen_roc", "beoordelen_praktijk"}


def test_r24_incomplete_evidence_goes_back_to_the_student_with_the_reason(world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "bewijsstukken_controleren")
    complete(world, uow_factory, _task(uow_factory, instance_id, "bewijsstukken_controleren"),
             data={"bewijs_besluit": "onvolledig", "bewijs_reden": "Foto's ontbreken.", "bevestiging": True})
    assert [t.element_id for t in open_tasks(uow_factory, instance_id)] == ["bewijsstukken_aanvullen"]
    view = queries.get_instance(instance_id, world.users["student_a"], uow_factory())
    assert any(value == "Foto's ontbreken." for _label, value in view.documents[-1].fields)
