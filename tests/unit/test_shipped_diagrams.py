"""Every shipped diagram compiles with the shipped handlers, roles and forms (style.md convention 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.bpmn_spec_mixin import BpmnSpecMixin

from forms import load_form_dir, shipped_forms_dir
from processes.bpmn_validation import BPMN, FLOW_NODE_TAGS
from processes.engine import Engine
from processes.models import ROLES

ROOT = Path(__file__).resolve().parents[2]
DIAGRAMS = sorted((ROOT / "bpmn").glob("*.bpmn"))


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def test_there_are_shipped_diagrams():
    assert any(path.stem == "pvb" for path in DIAGRAMS)


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_a_shipped_diagram_compiles_and_keeps_every_flow_node(engine, path):
    # Deploying uses the file name as the process id (processes/versions.py).
    compiled = engine.compile(
        {path.name: path.read_bytes()},
        path.stem,
        known_roles=set(ROLES),
        known_forms=set(load_form_dir(shipped_forms_dir())),
    )
    # Checked here on the restored spec, independently of the check inside compile: what a
    # deployed version runs is what comes back out of spec_json.
    wf = engine.new_workflow(f"test:{path.stem}", compiled.spec_json)
    specs = {wf.spec.name: wf.spec, **wf.subprocess_specs}
    in_spec = {
        ts.bpmn_id for spec in specs.values() for ts in spec.task_specs.values() if isinstance(ts, BpmnSpecMixin)
    }
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    flow_nodes = {
        node.get("id")
        for process in tree.getroot().iterfind(f"{{{BPMN}}}process")
        if process.get("id") in specs
        for node in process.iter(*FLOW_NODE_TAGS)
    }
    assert flow_nodes, "no flow nodes found: wrong namespace?"
    assert flow_nodes - in_spec == set()


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_a_shipped_diagram_can_be_drawn(path):
    """bpmn-js needs diagram interchange: a shape for every flow node and lane, an edge per flow."""
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    ns = {"bpmn": BPMN, "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
    drawn = set(tree.xpath("//bpmndi:BPMNShape/@bpmnElement | //bpmndi:BPMNEdge/@bpmnElement", namespaces=ns))
    elements = {
        node.get("id") for node in tree.getroot().iter(*FLOW_NODE_TAGS, f"{{{BPMN}}}lane", f"{{{BPMN}}}sequenceFlow")
    }
    assert elements - drawn == set()
