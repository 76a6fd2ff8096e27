"""Deploying versions: unsafe diagrams refused, form changes reach new tasks with no code change."""

from __future__ import annotations

import json
import shutil

import pytest

import forms as formlib
from processes import queries, runner
from processes.errors import BadRequest, ValidationFailed
from processes.versions import SHIPPED_BPMN_DIR, deploy_process, deploy_shipped
from tests.conftest import run_cli
from tests.support.walk import open_task


def _pvb_xml() -> str:
    return (SHIPPED_BPMN_DIR / "pvb.bpmn").read_text()


def _evil_xml() -> str:
    return (
        _pvb_xml()
        .replace('besluit == "vastgesteld"', "__import__('os').system('true')")
        .replace("besluit == &quot;vastgesteld&quot;", "__import__(&apos;os&apos;).system(&apos;true&apos;)")
    )


def test_diagram_with_a_dangerous_condition_is_refused_at_deploy(world, uow_factory):
    xml = _pvb_xml()
    assert 'besluit == "vastgesteld"' in xml or "besluit == &quot;vastgesteld&quot;" in xml
    evil = _evil_xml()
    with pytest.raises(BadRequest) as exc:
        deploy_process(evil.encode(), "pvb", formlib.load_form_dir(formlib.shipped_forms_dir()), None,
                       uow_factory())
    assert "__import__" in exc.value.message
    # The error names the element it concerns: the sequence flow carrying the condition.
    assert "flow" in exc.value.message.lower() or "_" in exc.value.message.split(":")[0]


def test_cli_deploy_refuses_the_dangerous_diagram(app, world, tmp_path):
    evil = tmp_path / "pvb.bpmn"
    evil.write_text(_evil_xml())
    result = run_cli(app, "deploy", str(evil))
    assert result.exit_code == 1
    assert "afgekeurd" in result.output


def test_redeploying_the_same_bundle_keeps_the_version(world, uow_factory):
    again = deploy_shipped(uow_factory())
    assert {r.process_id for r in again} == {"pvb", "aanmelden", "versie_goedkeuren", "inzage_bezwaar"}
    assert all(r.unchanged and r.version == 1 for r in again)


def test_a_new_required_field_reaches_new_tasks_after_deploy(world, uow_factory, tmp_path):
    old = runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"],
                           uow_factory())
    forms_dir = tmp_path / "forms"
    shutil.copytree(formlib.shipped_forms_dir(), forms_dir, ignore=shutil.ignore_patterns("*.py", "*.md",
                                                                                           "__pycache__"))
    path = forms_dir / "opdracht_aanmaken.json"
    raw = json.loads(path.read_text())
    raw["fields"].append({"name": "werkproces", "label": "Werkproces", "type": "text", "required": True})
    path.write_text(json.dumps(raw))
    results = {r.process_id: r for r in deploy_shipped(uow_factory(), forms_dir=forms_dir)}
    assert results["pvb"].version == 2 and not results["pvb"].unchanged
    # The enrolment bundle does not use that form: it stays as it was.
    assert results["aanmelden"].unchanged

    new = runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"],
                           uow_factory())
    new_task = open_task(uow_factory, new.instance_id)
    view = queries.get_task(new_task.id, world.users["begeleider_a"], uow_factory())
    rendered = [f["name"] for f in formlib.render_description(view.form)]
    assert "werkproces" in rendered
    data = {"titel": "T", "opdrachttekst": "Tekst", "gewenste_einddatum": "2027-01-01"}
    with pytest.raises(ValidationFailed) as exc:
        runner.complete_task(new_task.id, world.users["begeleider_a"], data, uow_factory())
    assert exc.value.errors == {"werkproces": ["Dit veld is verplicht."]}
    runner.complete_task(new_task.id, world.users["begeleider_a"], {**data, "werkproces": "B1-K1-W1"},
                         uow_factory())

    # The exam that started on version 1 keeps its own form.
    old_task = open_task(uow_factory, old.instance_id)
    old_view = queries.get_task(old_task.id, world.users["begeleider_a"], uow_factory())
    assert "werkproces" not in [f.name for f in old_view.form.fields]
    runner.complete_task(old_task.id, world.users["begeleider_a"], data, uow_factory())
