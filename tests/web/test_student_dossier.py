"""R49: the student sees his assessment with his result, not an assessor's form before the assessors agree."""

from __future__ import annotations

from processes import runner
from tests.conftest import login
from tests.support.walk import full_data, start_and_walk_to, walk_to

JUSTIFICATION = "Niet laten zien tijdens de uitvoering."


def _page(app, world, key, inst):
    client = app.test_client()
    login(client, world.email(key))
    return client.get(f"/examens/{inst}").get_data(as_text=True)


def test_the_student_sees_the_assessments_only_once_his_provisional_result_is_there(app, world, uow_factory):
    inst, _ = start_and_walk_to(world, uow_factory, "beoordelen_praktijk")
    task = walk_to(world, uow_factory, inst, "beoordelen_praktijk")
    runner.complete_task(task, world.users["beoordelaar_a"],
                         full_data(world, "beoordelen_praktijk", fail={"w1c2"}), uow_factory())
    # One assessor has recorded his form: the other assessor and the committee see it, the student not yet.
    assert JUSTIFICATION in _page(app, world, "commissie_a", inst)
    student_view = _page(app, world, "student_a", inst)
    assert JUSTIFICATION not in student_view and "<h2>Beoordelingen</h2>" not in student_view
    assert "Beoordelen (praktijkbeoordelaar)" in student_view  # that the step was done is no secret
    assert "Beoordelingsformulier" not in student_view
    client = app.test_client()
    login(client, world.email("student_a"))
    with uow_factory() as uow:
        from sqlalchemy import select

        from processes.models import Assessment

        first = uow.session.scalar(select(Assessment.id).where(Assessment.instance_id == inst))
    early = client.get(f"/examens/{inst}/documenten/beoordeling/{first}.pdf")
    assert early.status_code == 404 and "R49" in early.get_data(as_text=True)
    # Once the assessors agree and the vaststeller has it, the provisional result and its forms are his.
    walk_to(world, uow_factory, inst, "eindbeoordeling_vaststellen", fail={"w1c2"})
    student_view = _page(app, world, "student_a", inst)
    assert JUSTIFICATION in student_view and "<h2>Beoordelingen</h2>" in student_view
    assert "Beoordelingsformulier" in student_view
    with client.get(f"/examens/{inst}/documenten/beoordeling/{first}.pdf") as pdf:
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
