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
from processes.versions import called_files_for

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
        {path.name: path.read_bytes(), **called_files_for(path)},
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


def _bounds(tree) -> dict[str, tuple[float, float, float, float]]:
    ns = {"bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI", "dc": "http://www.omg.org/spec/DD/20100524/DC"}
    out = {}
    for shape in tree.xpath("//bpmndi:BPMNShape", namespaces=ns):
        (b,) = shape.xpath("dc:Bounds", namespaces=ns)
        x, y, w, h = (float(b.get(k)) for k in ("x", "y", "width", "height"))
        out[shape.get("bpmnElement")] = (x, y, x + w, y + h)
    return out


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_subprocesses_are_drawn_around_their_nodes_with_boundary_events_on_their_border(path):
    """Design decision 7 draws a deadline as a timer on the border of an expanded subprocess."""
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    bounds = _bounds(tree)
    for sub in tree.getroot().iter(f"{{{BPMN}}}subProcess"):
        x0, y0, x1, y1 = bounds[sub.get("id")]
        for node in sub.iter(*FLOW_NODE_TAGS):
            if node is sub:
                continue
            nx0, ny0, nx1, ny1 = bounds[node.get("id")]
            assert x0 < nx0 and nx1 < x1 and y0 < ny0 and ny1 < y1, f"{node.get('id')} outside {sub.get('id')}"
    for event in tree.getroot().iter(f"{{{BPMN}}}boundaryEvent"):
        x0, y0, x1, y1 = bounds[event.get("attachedToRef")]
        ex0, ey0, ex1, ey1 = bounds[event.get("id")]
        cx, cy = (ex0 + ex1) / 2, (ey0 + ey1) / 2
        on_side = (x0 <= cx <= x1 and cy in (y0, y1)) or (y0 <= cy <= y1 and cx in (x0, x1))
        assert on_side, f"{event.get('id')} is not on the border of {event.get('attachedToRef')}"


def test_every_shipped_form_is_used_by_a_shipped_diagram(engine):
    used = set()
    for path in DIAGRAMS:
        compiled = engine.compile({path.name: path.read_bytes(), **called_files_for(path)}, path.stem,
                                  known_roles=set(ROLES), known_forms=set(load_form_dir(shipped_forms_dir())))
        used |= {t.form_key for t in compiled.user_tasks}
    assert used == set(load_form_dir(shipped_forms_dir()))
