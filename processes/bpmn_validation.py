"""Checks a BPMN bundle before it may become a deployed version (design decisions 8, 8b and 10).

Everything here reads the XML, not the parsed spec, for two reasons: every finding can name the
element id a process owner sees in the modeler, and elements the SpiffWorkflow parser silently
drops (unreachable nodes, reserved ids) are checked too. The one spec-level check, that every
flow node made it into the spec (style.md convention 6), is `missing_flow_nodes`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.bpmn_spec_mixin import BpmnSpecMixin
from SpiffWorkflow.camunda.parser.CamundaParser import NSMAP, CamundaParser

from processes.expressions import UnsafeExpression, check_expression, iso_literal

NS = NSMAP
BPMN = NS["bpmn"]
CAMUNDA = NS["camunda"]

# Names the parser gives its own control task specs: a diagram element with one of these ids is
# silently swapped for the control task (style.md convention 6).
RESERVED_IDS = frozenset({"Start", "End", "Root", "StartEventSplit", "StartEventJoin"})
_RESERVED_SUFFIXES = (".EndJoin", ".BoundaryEventSplit", ".BoundaryEventJoin", " [child]")

# Everything the parser turns into a task spec, plus BPMN flow nodes it cannot parse at all.
FLOW_NODE_TAGS = (
    frozenset(BpmnParser.PARSER_CLASSES)
    | frozenset(CamundaParser.OVERRIDE_PARSER_CLASSES)
    | {full_tag("complexGateway")}
)
_CONTAINER_TAGS = frozenset(full_tag(t) for t in ("subProcess", "transaction", "adHocSubProcess"))

# Element types refused outright, with the reason a process owner can act on.
_UNSUPPORTED = {
    full_tag("businessRuleTask"): "Beslistabellen (DMN) worden niet ondersteund; gebruik een gateway.",
    full_tag("manualTask"): "Een handmatige taak blijft altijd open; gebruik een gebruikerstaak.",
    full_tag("complexGateway"): "Een complexe gateway wordt niet ondersteund.",
}
# Camunda's multi-instance tasks rewrite their own task spec while running: with specs cached and
# shared between instances and threads (design decision 3) one exam would change another's.
_MULTI_INSTANCE_MESSAGE = "Meervoudige uitvoering (multi-instance) wordt niet ondersteund."

_XML_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True)
class ElementError:
    """One finding about a diagram; ``element_id`` is None when it concerns the file as a whole."""

    element_id: str | None
    message: str


class DiagramError(Exception):
    """A diagram was refused; ``errors`` lists every finding, in Dutch, for the process owner."""

    def __init__(self, errors: list[ElementError]):
        self.errors = list(errors)
        super().__init__("; ".join(f"{e.element_id or 'diagram'}: {e.message}" for e in self.errors))


# ----------------------------------------------------------------------------- XML and XSD


def parse_xml(filename: str, data: bytes) -> etree._ElementTree:
    """Parses one file with entities, DTDs and the network off; a DOCTYPE is refused outright.

    BPMN never needs a DOCTYPE, and refusing it means no entity (external or a billion laughs)
    is ever even considered.
    """
    parser = etree.XMLParser(**_XML_PARSER_OPTIONS)
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno is not None else "?"
        raise DiagramError([ElementError(None, f"{filename}, regel {line}: geen geldige XML ({exc.msg}).")]) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise DiagramError(
            [ElementError(None, f"{filename}: een DOCTYPE (met entiteiten) is niet toegestaan in BPMN.")]
        )
    return tree


_validator: BpmnValidator | None = None
# One XMLSchema keeps the error log of its last run only: validate and read the log under a lock.
_validator_lock = threading.Lock()


def xsd_errors(tree: etree._ElementTree, filename: str) -> list[ElementError]:
    """Validates against the BPMN 2.0 XSD that SpiffWorkflow ships, reporting every violation."""
    global _validator
    with _validator_lock:
        if _validator is None:
            _validator = BpmnValidator()  # parses the XSD set: once per process, not per deploy
        _validator.preprocess(tree)
        schema = _validator.validator
        entries = [] if schema.validate(tree) else list(schema.error_log)
    return [
        ElementError(
            _element_id_at(tree, entry.path, entry.line),
            f"{filename}, regel {entry.line}: voldoet niet aan het BPMN-schema ({entry.message}).",
        )
        for entry in entries
    ]


def _element_id_at(tree: etree._ElementTree, path: str | None, line: int) -> str | None:
    element = None
    if path:
        try:
            found = tree.xpath(path, namespaces={k: v for k, v in tree.getroot().nsmap.items() if k})
            element = found[0] if found else None
        except etree.XPathError:
            element = None
    if element is None:
        element = next((el for el in tree.iter() if el.sourceline == line), None)
    while element is not None and element.get("id") is None:
        element = element.getparent()
    return None if element is None else element.get("id")


# ----------------------------------------------------------------------------- element checks


@dataclass(frozen=True)
class BundleFacts:
    """What the element checks learned that the compiled process reports back."""

    lanes: set[str]
    service_handlers: set[str]


def element_errors(
    trees: Iterable[etree._ElementTree],
    process_ids: set[str],
    *,
    handler_names: set[str],
    helper_names: set[str],
    known_roles: set[str] | None,
    known_forms: set[str] | None,
) -> tuple[list[ElementError], BundleFacts]:
    """All checks that need only the XML of the processes in the bundle."""
    errors: list[ElementError] = []
    facts = BundleFacts(lanes=set(), service_handlers=set())
    for tree in trees:
        for process in tree.getroot().iterfind(f"{{{BPMN}}}process"):
            if process.get("id") not in process_ids:
                continue
            errors += _lane_errors(process, known_roles, facts)
            for node in process.iter(etree.Element):
                errors += _node_errors(node, handler_names, helper_names, known_roles, known_forms, facts)
    return errors, facts


def _lane_errors(process: etree._Element, known_roles: set[str] | None, facts: BundleFacts) -> list[ElementError]:
    errors = []
    for lane in process.iter(f"{{{BPMN}}}lane"):
        name = (lane.get("name") or "").strip()
        if name:
            facts.lanes.add(name)
        if known_roles is None:
            continue
        if not name:
            errors.append(ElementError(lane.get("id"), "Baan zonder naam; de naam van een baan is een rol."))
        elif name not in known_roles:
            roles = ", ".join(sorted(known_roles))
            message = f"Onbekende rol '{name}' als baan; bekende rollen: {roles}."
            errors.append(ElementError(lane.get("id"), message))
    return errors


def _node_errors(
    node: etree._Element,
    handler_names: set[str],
    helper_names: set[str],
    known_roles: set[str] | None,
    known_forms: set[str] | None,
    facts: BundleFacts,
) -> Iterator[ElementError]:
    node_id = node.get("id")
    tag = node.tag
    if tag in FLOW_NODE_TAGS and node_id is not None and is_reserved_id(node_id):
        yield ElementError(
            node_id,
            f"De id '{node_id}' is gereserveerd door de procesmotor; kies een "
            "beschrijvende id (bijvoorbeeld 'pvb_gestart').",
        )
    if tag in _UNSUPPORTED:
        yield ElementError(node_id, _UNSUPPORTED[tag])
    if tag == full_tag("multiInstanceLoopCharacteristics"):
        yield ElementError(_owner_id(node), _MULTI_INSTANCE_MESSAGE)
    if tag == full_tag("serviceTask"):
        yield from _service_task_errors(node, handler_names, facts)
    if tag == full_tag("userTask"):
        yield from _user_task_errors(node, known_roles, known_forms)
    yield from _expression_errors(node, helper_names)


def is_reserved_id(node_id: str) -> bool:
    return node_id in RESERVED_IDS or node_id.endswith(_RESERVED_SUFFIXES)


def _owner_id(node: etree._Element) -> str | None:
    while node is not None and node.get("id") is None:
        node = node.getparent()
    return None if node is None else node.get("id")


def _service_task_errors(node: etree._Element, handler_names: set[str], facts: BundleFacts) -> Iterator[ElementError]:
    node_id = node.get("id")
    # Camunda's own implementations would be ignored silently by SpiffWorkflow: say so instead.
    for attribute in ("class", "expression", "delegateExpression", "type", "topic"):
        if node.get(f"{{{CAMUNDA}}}{attribute}") is not None:
            yield ElementError(
                node_id,
                f"camunda:{attribute} wordt niet ondersteund; noem de handler in de eigenschappen (handler=...).",
            )
    handler = service_handler_name(node)
    if handler is None:
        yield ElementError(node_id, "Servicetaak zonder handler; voeg de eigenschap handler=<naam> toe.")
    elif handler not in handler_names:
        yield ElementError(node_id, f"Onbekende handler '{handler}'.")
    else:
        facts.service_handlers.add(handler)


def service_handler_name(node: etree._Element) -> str | None:
    values = node.xpath(
        "./bpmn:extensionElements/camunda:properties/camunda:property[@name='handler']/@value", namespaces=NS
    )
    return values[0].strip() or None if values else None


def _user_task_errors(
    node: etree._Element, known_roles: set[str] | None, known_forms: set[str] | None
) -> Iterator[ElementError]:
    node_id = node.get("id")
    if known_forms is not None:
        form_key = node.get(f"{{{CAMUNDA}}}formKey")
        if not form_key:
            yield ElementError(node_id, "Gebruikerstaak zonder formulier (camunda:formKey).")
        elif form_key not in known_forms:
            yield ElementError(node_id, f"Onbekend formulier '{form_key}'.")
    if known_roles is not None and not _in_a_lane(node):
        yield ElementError(node_id, "Gebruikerstaak staat in geen enkele baan; wie mag hem uitvoeren?")


def _in_a_lane(node: etree._Element) -> bool:
    # A task inside an embedded subprocess takes the lane of the subprocess (as the parser does):
    # bpmn-js lists only the subprocess itself in the lane.
    referenced = {(ref.text or "").strip() for ref in node.getroottree().getroot().iter(f"{{{BPMN}}}flowNodeRef")}
    while node is not None and node.tag != full_tag("process"):
        if node.get("id") in referenced:
            return True
        node = node.getparent()
    return False


# Where expressions live: (xpath relative to the node, mode, the id to report, what it is).
def _expression_sites(node: etree._Element) -> Iterator[tuple[str, str, str | None, str]]:
    tag = node.tag
    node_id = node.get("id")
    if tag == full_tag("sequenceFlow"):
        for el in node.iterfind(f"{{{BPMN}}}conditionExpression"):
            yield el.text or "", "eval", node_id, "voorwaarde"
    elif tag == full_tag("scriptTask"):
        for el in node.iterfind(f"{{{BPMN}}}script"):
            yield el.text or "", "exec", node_id, "script"
    elif tag == full_tag("timerEventDefinition"):
        for child in node:
            if child.tag in {full_tag("timeDate"), full_tag("timeDuration"), full_tag("timeCycle")}:
                yield child.text or "", "timer", _owner_id(node.getparent()), "timer"
    elif tag == full_tag("conditionalEventDefinition"):
        for el in node.iterfind(f"{{{BPMN}}}condition"):
            yield el.text or "", "eval", _owner_id(node.getparent()), "voorwaarde"
    elif tag == full_tag("standardLoopCharacteristics"):
        for el in node.iterfind(f"{{{BPMN}}}loopCondition"):
            yield el.text or "", "eval", _owner_id(node), "lusvoorwaarde"
    elif tag == full_tag("adHocSubProcess"):
        for el in node.iterfind(f"{{{BPMN}}}completionCondition"):
            yield el.text or "", "eval", node_id, "voltooiingsvoorwaarde"
    elif tag == full_tag("messageEventDefinition") and node.get(f"{{{CAMUNDA}}}expression") is not None:
        yield node.get(f"{{{CAMUNDA}}}expression") or "", "eval", _owner_id(node.getparent()), "berichtinhoud"


def _expression_errors(node: etree._Element, helper_names: set[str]) -> Iterator[ElementError]:
    if node.tag == full_tag("scriptTask"):
        script_format = (node.get("scriptFormat") or "python").strip().lower()
        if script_format not in {"python", "py"}:
            message = f"Scripttaal '{script_format}' wordt niet ondersteund; schrijf Python."
            yield ElementError(node.get("id"), message)
    for source, mode, element_id, what in _expression_sites(node):
        message = expression_problem(source, mode, helper_names)
        if message is not None:
            yield ElementError(element_id, f"Ongeldige {what}: {message}")


def expression_problem(source: str, mode: str, helper_names: set[str]) -> str | None:
    """Why an expression from a diagram may not run, or None when it is acceptable (decision 8).

    ``mode`` "timer" accepts a bare ISO 8601 literal (``P5D``), as Camunda Modeler users write it;
    the safe environment returns such text as the literal at run time.
    """
    if mode == "timer":
        if iso_literal(source) is not None:
            return None
        mode = "eval"
    try:
        check_expression(source, mode=mode, allowed_calls=helper_names)
    except UnsafeExpression as exc:
        return str(exc)
    return None


# ----------------------------------------------------------------------------- the parsed spec


def missing_flow_nodes(
    trees: Iterable[etree._ElementTree], bundle: Mapping[str, BpmnProcessSpec]
) -> list[ElementError]:
    """Style.md convention 6: every flow node of every process in the bundle is in its spec.

    The parser builds specs by walking from the start events, so it drops what it cannot reach,
    and it swaps an element whose id collides with a control task ('Start', 'End') for that task.
    """
    errors: list[ElementError] = []
    for tree in trees:
        for process in tree.getroot().iterfind(f"{{{BPMN}}}process"):
            spec = bundle.get(process.get("id"))
            if spec is not None:
                errors += _missing_in(process, spec, bundle)
    return errors


def _missing_in(
    container: etree._Element, spec: BpmnProcessSpec, bundle: Mapping[str, BpmnProcessSpec]
) -> list[ElementError]:
    errors = []
    for node in container:
        if node.tag not in FLOW_NODE_TAGS:
            continue
        node_id = node.get("id")
        if node_id is not None and is_reserved_id(node_id):
            continue  # already reported, with the better message, by the element checks
        task_spec = spec.task_specs.get(node_id)
        if not isinstance(task_spec, BpmnSpecMixin) or task_spec.bpmn_id != node_id:
            errors.append(
                ElementError(
                    node_id,
                    "Dit element ontbreekt in het uitvoerbare proces: het is niet bereikbaar vanaf een "
                    "startgebeurtenis, of de id botst met een naam van de procesmotor.",
                )
            )
        elif node.tag in _CONTAINER_TAGS and node_id in bundle:
            errors += _missing_in(node, bundle[node_id], bundle)
    return errors
