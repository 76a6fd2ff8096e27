"""R26: a recorded assessment is what its assessor recorded, also after the parallel branches of step 8
join (SpiffWorkflow merges branch data into nested dicts in place)."""

from __future__ import annotations

from sqlalchemy import select

from processes import audit
from processes.models import Assessment, AuditEvent, ProcessInstance
from tests.support.walk import complete, open_tasks, start_and_walk_to, walk_to

PRAKTIJK = {"beoordeling": {"w1c1": {"oordeel": "voldaan", "toelichting": "Vroeg door naar de medicatie."},
                            "w1c2": {"oordeel": "onvoldoende", "toelichting": "Rapportage was onvolledig."},
                            "w2c1": {"oordeel": "voldaan"}, "w2c2": {"oordeel": "voldaan"}},
            "bevestiging": True}
ROC = {"beoordeling": {"w1c1": {"oordeel": "voldaan"},
                       "w1c2": {"oordeel": "onvoldoende", "toelichting": "Dossier niet bijgewerkt."},
                       "w2c1": {"oordeel": "voldaan"}},
       "onvolledig_bevestigd": True, "bevestiging": True}


def test_r26_the_second_assessor_keeps_his_own_judgements_when_the_branches_join(world, uow_factory):
    inst, _ = start_and_walk_to(world, uow_factory, "beoordelen_roc")
    for task in open_tasks(uow_factory, inst):
        if task.element_id == "beoordelen_praktijk":
            complete(world, uow_factory, task, data=PRAKTIJK)
    [roc_task] = [t for t in open_tasks(uow_factory, inst) if t.element_id == "beoordelen_roc"]
    complete(world, uow_factory, roc_task, data=ROC)
    walk_to(world, uow_factory, inst, "consensus_vastleggen")
    with uow_factory() as uow:
        s = uow.session
        rows = {a.role: a.judgements for a in s.scalars(select(Assessment).where(Assessment.instance_id == inst))}
        signed = s.scalar(select(AuditEvent).where(AuditEvent.instance_id == inst,
                                                   AuditEvent.task_guid == roc_task.task_guid))
        roc_data = signed.details["data"]["beoordeling"]
        # The audit chain still verifies: what is stored is what was hashed.
        assert audit.verify_instance(s, s.get(ProcessInstance, inst)) == []
    assert rows["roc_beoordelaar"] == {"w1c1": {"oordeel": "voldaan", "toelichting": ""},
                                       "w1c2": {"oordeel": "onvoldoende", "toelichting": "Dossier niet bijgewerkt."},
                                       "w2c1": {"oordeel": "voldaan", "toelichting": ""}}
    assert roc_data == rows["roc_beoordelaar"]
    assert rows["praktijkbeoordelaar"]["w1c1"]["toelichting"] == "Vroeg door naar de medicatie."
