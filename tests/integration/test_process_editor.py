"""Process owners change the PvB (issue 6): draft, validate, deploy a school variant, migrate."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from handlers.clock import use_clock
from processes import audit, migration, process_editor, runner
from processes.errors import Forbidden, ValidationFailed
from processes.models import AuditEvent, Deadline, ProcessChange, ProcessInstance
from processes.versions import SHIPPED_BPMN_DIR
from tests.support.walk import start_and_walk_to

ENDED = datetime.fromisoformat("2026-04-23T10:00:00+02:00")
FIVE_DAYS = datetime.fromisoformat("2026-05-01T10:00:00+02:00")  # Koningsdag in between
TEN_DAYS = datetime.fromisoformat("2026-05-08T10:00:00+02:00")


def pvb_xml() -> str:
    return (SHIPPED_BPMN_DIR / "pvb.bpmn").read_text()


def ten_days(xml: str) -> str:
    return xml.replace("add_working_days(uitvoering_einde, 5)", "add_working_days(uitvoering_einde, 10)")


def deadline_due(uow_factory, instance_id: int) -> datetime:
    with uow_factory() as uow:
        return uow.session.scalars(select(Deadline.due_at).where(Deadline.instance_id == instance_id,
                                                                 Deadline.kind == "beoordeling")).one()


def test_only_process_owners_edit(world, uow_factory):
    with pytest.raises(Forbidden):
        process_editor.open_draft(world.schools["a"], "pvb", world.users["begeleider_a"], uow_factory())
    with pytest.raises(Forbidden):  # the committee of school B owns B's processes, not A's
        process_editor.open_draft(world.schools["a"], "pvb", world.users["commissie_b"], uow_factory())
    view = process_editor.open_draft(world.schools["a"], "pvb", world.users["commissie_a"], uow_factory())
    assert view.base_version == 1 and "termijn_beoordeling" in view.bpmn_xml


def test_a_lane_with_an_unknown_role_is_reported_on_that_lane(world, uow_factory):
    xml = pvb_xml().replace('name="examencommissie"', 'name="examenraad"', 1)
    findings = process_editor.save_draft(world.schools["a"], "pvb", xml.encode(), world.users["commissie_a"],
                                         uow_factory())
    assert [f.element_id for f in findings] == ["baan_examencommissie"]
    assert "examenraad" in findings[0].message
    with pytest.raises(ValidationFailed) as exc:
        process_editor.deploy_draft(world.schools["a"], "pvb", world.users["commissie_a"], "rol", uow_factory())
    assert "baan_examencommissie" in exc.value.errors


def test_variant_with_ten_days_new_exams_get_it_running_keep_five_until_migrated(world, uow_factory):
    school, owner = world.schools["a"], world.users["commissie_a"]
    with use_clock(ENDED):
        running, _ = start_and_walk_to(world, uow_factory, "bewijsstukken_controleren")
    assert deadline_due(uow_factory, running) == FIVE_DAYS

    assert process_editor.save_draft(school, "pvb", ten_days(pvb_xml()).encode(), owner, uow_factory()) == []
    result = process_editor.deploy_draft(school, "pvb", owner, "Beoordelen binnen 10 werkdagen", uow_factory())
    assert not result.unchanged and result.version == 2

    with use_clock(ENDED):
        new, _ = start_and_walk_to(world, uow_factory, "bewijsstukken_controleren")
        other_school = runner.start_pvb(world.schools["b"], world.students["student_b"],
                                        world.users["begeleider_b"], uow_factory()).instance_id
    assert deadline_due(uow_factory, new) == TEN_DAYS
    assert deadline_due(uow_factory, running) == FIVE_DAYS
    with uow_factory() as uow:
        assert uow.session.get(ProcessInstance, other_school).version_id != result.version_id  # B keeps the default

    plans = migration.plan_migration(school, "pvb", result.version_id, owner, uow_factory())
    assert [p.instance_id for p in plans] == [running]
    assert plans[0].can_move and any("termijn_beoordeling" in e for e in plans[0].effects), plans[0].effects
    assert deadline_due(uow_factory, running) == FIVE_DAYS  # a dry run changes nothing

    with use_clock(ENDED):
        outcome = migration.apply_migration(school, "pvb", result.version_id, [running], owner, uow_factory())
    assert outcome.moved == [running]
    assert deadline_due(uow_factory, running) == TEN_DAYS
    with uow_factory() as uow:
        s = uow.session
        assert s.get(ProcessInstance, running).version_id == result.version_id
        event = s.scalars(select(AuditEvent).where(AuditEvent.instance_id == running)
                          .order_by(AuditEvent.seq.desc())).first()
        assert (event.action, event.actor_id, event.role) == ("instance_migrated", owner, "examencommissie")
        assert audit.verify_instance(s, s.get(ProcessInstance, running)) == []  # the chain holds
        actions = s.scalars(select(ProcessChange.action).order_by(ProcessChange.id)).all()
        assert actions[-2:] == ["version_deployed", "instances_migrated"]
    assert migration.plan_migration(school, "pvb", result.version_id, owner, uow_factory()) == []


def test_an_exam_whose_open_step_is_gone_cannot_move_and_stays_untouched(world, uow_factory):
    school, owner = world.schools["a"], world.users["commissie_a"]
    first = runner.start_pvb(school, world.students["student_a"], world.users["begeleider_a"],
                             uow_factory()).instance_id  # open at opdracht_aanmaken
    xml = without_first_step(pvb_xml())
    assert process_editor.save_draft(school, "pvb", xml.encode(), owner, uow_factory()) == []
    target = process_editor.deploy_draft(school, "pvb", owner, "Eerste stap geschrapt", uow_factory()).version_id
    with uow_factory() as uow:
        before = uow.session.get(ProcessInstance, first)
        seen = (before.version_id, before.revision, before.audit_count)

    (plan,) = migration.plan_migration(school, "pvb", target, owner, uow_factory())
    assert not plan.can_move and "opdracht_aanmaken" in plan.reasons[0]
    outcome = migration.apply_migration(school, "pvb", target, [first], owner, uow_factory())
    assert outcome.moved == [] and first in outcome.refused
    with uow_factory() as uow:
        after = uow.session.get(ProcessInstance, first)
        assert (after.version_id, after.revision, after.audit_count) == seen

    diff = process_editor.diff_versions(
        process_editor.version_for(school, "pvb", seen[0], owner, uow_factory()),
        process_editor.version_for(school, "pvb", target, owner, uow_factory()))
    assert diff.added == []
    assert [c.element_id for c in diff.removed] == ["flow_aanmaken_verwerven", "opdracht_aanmaken"]
    changed = {c.element_id for c in diff.changed}
    assert changed == {"flow_gestart_aanmaken", "opdracht_verwerven", "baan_roc_begeleider"}


def without_first_step(xml: str) -> str:
    """The PvB without its first step: the start leads straight to opdracht_verwerven."""
    from lxml import etree

    tree = etree.fromstring(xml.encode())
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
    for el in tree.xpath("//*[@id='opdracht_aanmaken' or @id='flow_aanmaken_verwerven' or "
                         "@bpmnElement='opdracht_aanmaken' or @bpmnElement='flow_aanmaken_verwerven']"):
        el.getparent().remove(el)
    for ref in tree.xpath("//bpmn:flowNodeRef[text()='opdracht_aanmaken']", namespaces=ns):
        ref.getparent().remove(ref)
    tree.xpath("//*[@id='flow_gestart_aanmaken']")[0].set("targetRef", "opdracht_verwerven")
    for incoming in tree.xpath("//bpmn:incoming[text()='flow_aanmaken_verwerven']", namespaces=ns):
        incoming.text = "flow_gestart_aanmaken"
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8").decode()
