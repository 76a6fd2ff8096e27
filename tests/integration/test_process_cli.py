"""`examenflow process validate|deploy`: every shipped diagram passes; a broken one names its element."""

from __future__ import annotations

import pytest

from processes.versions import SHIPPED_BPMN_DIR, called_files_for
from tests.conftest import run_cli

SHIPPED = sorted(p.name for p in SHIPPED_BPMN_DIR.glob("*.bpmn"))


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_diagram_passes_validate(app, name):
    result = run_cli(app, "process", "validate", str(SHIPPED_BPMN_DIR / name))
    assert result.exit_code == 0, result.output
    assert "in orde" in result.output


def _broken(tmp_path, old: str, new: str, name: str = "pvb.bpmn"):
    path = tmp_path / name
    text = (SHIPPED_BPMN_DIR / name).read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    for called, xml in called_files_for(SHIPPED_BPMN_DIR / name).items():
        (tmp_path / called).write_bytes(xml)
    return path


@pytest.mark.parametrize(("old", "new", "element", "reason"), [
    ('name="examencommissie"', 'name="examenraad"', "baan_examencommissie", "Onbekende rol 'examenraad'"),
    ("add_working_days(uitvoering_einde, 5)", "__import__('os').system('id')", "termijn_beoordeling", "__import__"),
    ('camunda:formKey="termijn_escalatie"', 'camunda:formKey="bestaat_niet"', "escalatie_beoordeling",
     "Onbekend formulier"),
    ('<bpmn:userTask id="escalatie_beoordeling"', '<bpmn:userTask id="End"', "End", "gereserveerd"),
    ("add_working_days(uitvoering_einde, 5)", "add_working_days(uitvoering_einde)", "termijn_beoordeling",
     "voorbeeldgegevens"),
    ("add_working_days(uitvoering_einde, 5)", "5 * 2", "termijn_beoordeling", "geen ISO 8601"),
])
def test_a_broken_diagram_fails_with_the_element_id(app, tmp_path, old, new, element, reason):
    path = _broken(tmp_path, old, new)
    result = run_cli(app, "process", "validate", str(path))
    assert result.exit_code == 1
    assert f"pvb.bpmn: {element}: " in result.output and reason in result.output, result.output
    assert "Traceback" not in result.output


def test_xml_that_does_not_parse_fails_without_a_traceback(app, tmp_path):
    path = tmp_path / "pvb.bpmn"
    path.write_text("<bpmn:definitions><oeps")
    result = run_cli(app, "process", "validate", str(path))
    assert result.exit_code == 1 and "geen geldige XML" in result.output and "Traceback" not in result.output


def test_process_deploy_refuses_then_deploys_a_school_variant(app, world, tmp_path):
    broken = _broken(tmp_path, 'name="examencommissie"', 'name="examenraad"')
    result = run_cli(app, "process", "deploy", str(broken), "--school", "roc-a")
    assert result.exit_code == 1 and "baan_examencommissie" in result.output
    good = _broken(tmp_path, "add_working_days(uitvoering_einde, 5)", "add_working_days(uitvoering_einde, 10)")
    result = run_cli(app, "process", "deploy", str(good), "--school", "roc-a", "--note", "10 werkdagen")
    assert result.exit_code == 0, result.output
    assert "pvb: versie 2 (nieuw) voor roc-a" in result.output
