"""The engine wrapper: compiling diagrams, running a PvB as a server would, and what it refuses."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.exceptions import WorkflowException

import handlers.registry as handler_registry
from forms import load_form_dir, shipped_forms_dir
from handlers.calendar import nu
from handlers.clock import use_clock
from handlers.registry import HandlerContext
from processes.bpmn_validation import missing_flow_nodes
from processes.engine import (
    DiagramError,
    ElementError,
    Engine,
    TaskNotReady,
    default_engine,
    serializer_config,
)
from processes.expressions import SafeScriptEnvironment

ROOT = Path(__file__).resolve().parents[2]
PVB = (ROOT / "bpmn" / "pvb.bpmn").read_bytes()
PVB_ROLES = {
    "roc_begeleider",
    "student",
    "praktijkbegeleider",
    "praktijkbeoordelaar",
    "roc_beoordelaar",
    "examencommissie",
    "examenbureau",
}
PVB_FORMS = set(load_form_dir(shipped_forms_dir()))
PVB_HANDLERS = {
    "check_assessors",
    "lock_assignment",
    "unlock_assignment",
    "establish_assignment",
    "check_appointments",
    "record_execution_end",
    "lock_evidence",
    "remind_assessors",
    "record_result",
    "start_follow_up",
    "archive_exam",
}
# The school settings the server puts into the start task (processes/runner.py, SETTING_DEFAULTS).
SETTINGS = {"bewijsstukken_gebruiken": True, "een_beoordelaar_toegestaan": False}

JUDGED = {"c1": {"oordeel": "voldaan", "toelichting": ""}}
# Plausible form data per user task, as the form validation would leave it; `uitslag` is what the
# server adds when a form with criteria is completed.
FORM_DATA = {
    "opdracht_aanmaken": {"titel": "Onderhoud installaties", "gewenste_einddatum": "2026-06-30"},
    "opdracht_verwerven": {"examenlocatie": "Installatiebedrijf De Vries", "context": "Storingsdienst"},
    "deelnemers_vastleggen": {
        "praktijkbegeleider": 11,
        "praktijkbeoordelaar": 12,
        "roc_beoordelaar": 13,
        "vaststeller": 14,
    },
    "goedkeuren_student": {"informatie_gelezen": True, "goedkeuring": True},
    "goedkeuren_roc_begeleider": {"goedkeuring": True},
    "goedkeuren_praktijkbegeleider": {"goedkeuring": True},
    "opdracht_vaststellen": {"opdracht_besluit": "vastgesteld", "bevestiging": True},
    "opdracht_herzien": {"titel": "Onderhoud installaties (herzien)", "herziening_toelichting": "Context erbij"},
    "afspraken_plannen": {"uitvoeringsdatum": "2026-05-11", "beoordelingsdatum": "2026-05-15"},
    "bewijsstukken_uploaden": {"bewijs_beschrijving": "Foto's van de storing", "uitvoering_afgerond": True},
    "bewijsstukken_aanvullen": {"bewijs_beschrijving": "Foto's en de video", "uitvoering_afgerond": True},
    "bewijsstukken_controleren": {"bewijs_besluit": "compleet", "bevestiging": True},
    "uitvoering_afronden": {"uitvoering_afgerond": True},
    "beoordelen_roc": {"beoordeling": JUDGED, "bevestiging": True, "uitslag": "voldaan"},
    "beoordelen_praktijk": {"beoordeling": JUDGED, "bevestiging": True, "uitslag": "voldaan"},
    "beoordelen_alleen": {"beoordeling": JUDGED, "bevestiging": True, "uitslag": "voldaan"},
    "consensus_vastleggen": {"beoordeling": JUDGED, "bevestiging": True, "uitslag": "voldaan"},
    "consensus_bevestigen": {"consensus_akkoord": "akkoord", "bevestiging": True},
    "eindbeoordeling_vaststellen": {"eind_besluit": "vastgesteld", "bevestiging": True},
    "escalatie_beoordeling": {"escalatie_actie": "Beoordelaars gebeld", "bevestiging": True},
    "escalatie_uitwisseling": {"escalatie_actie": "Studentenadministratie gebeld", "bevestiging": True},
    "afsluiten": {"bevestiging": True},
    "vervolg_bepalen": {"vervolg_toelichting": "Werkproces 2 opnieuw", "bevestiging": True},
}
SERVER_ADDED = {"uitslag"}


def _stub(result: dict):
    def handler(data: dict, ctx: HandlerContext) -> dict:
        return dict(result)

    return handler


def _stamp(key: str):
    """A stand-in that records the clock's now, as the shipped handler does, for a timer to count from."""

    def handler(data: dict, ctx: HandlerContext) -> dict:
        return {key: nu()}

    return handler


def _check_assessors(data: dict, ctx: HandlerContext) -> dict:
    return {"tweede_beoordelaar": bool(data.get("praktijkbeoordelaar"))}


@pytest.fixture(autouse=True)
def stub_pvb_handlers(monkeypatch):
    """The shipped PvB handlers need an exam (ctx.exam); these stand-ins only shape the data."""
    handler_registry.service_handler_names()  # loads the shipped ones first, or they would replace these
    for name in PVB_HANDLERS:
        monkeypatch.setitem(handler_registry._SERVICE_HANDLERS, name, _stub({}))
    monkeypatch.setitem(handler_registry._SERVICE_HANDLERS, "check_assessors", _check_assessors)
    # Like the shipped one: whether the assignment is established in the bank (R16; here it is not).
    monkeypatch.setitem(handler_registry._SERVICE_HANDLERS, "lock_assignment",
                        _stub({"opdracht_vastgesteld_in_bank": False}))
    # The deadlines' timers count from these (R48).
    monkeypatch.setitem(handler_registry._SERVICE_HANDLERS, "record_execution_end", _stamp("uitvoering_einde"))
    monkeypatch.setitem(handler_registry._SERVICE_HANDLERS, "record_result", _stamp("resultaat_vastgesteld_op"))


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture(scope="module")
def pvb(engine: Engine):
    return engine.compile({"pvb.bpmn": PVB}, "pvb", known_roles=PVB_ROLES, known_forms=PVB_FORMS)


def ctx_for(calls: list[str] | None = None):
    def make(element_id: str) -> HandlerContext:
        if calls is not None:
            calls.append(element_id)
        return HandlerContext(instance_id=7, school_id=1, element_id=element_id)

    return make


# ----------------------------------------------------------------------------- small test diagrams

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="proef_definities" '
    'targetNamespace="https://examenflow.nl/test">\n'
)


def diagram(body: str, lanes: dict[str, list[str]] | None = None, prolog: str = "") -> bytes:
    lane_xml = ""
    if lanes:
        lane_xml = (
            '<bpmn:laneSet id="banen">'
            + "".join(
                f'<bpmn:lane id="baan_{i}" name="{name}">'
                + "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in nodes)
                + "</bpmn:lane>"
                for i, (name, nodes) in enumerate(lanes.items())
            )
            + "</bpmn:laneSet>"
        )
    head = _HEAD if not prolog else _HEAD.replace("<bpmn:definitions", prolog + "<bpmn:definitions", 1)
    return (
        f'{head}<bpmn:process id="proef" isExecutable="true">{lane_xml}{body}</bpmn:process></bpmn:definitions>'
    ).encode()


def linear(*nodes: str) -> str:
    """A start event, the given flow nodes in a row, an end event, and the flows between them."""
    ids = ["proef_gestart"] + [re.search(r'id="([^"]+)"', n).group(1) for n in nodes] + ["proef_klaar"]
    flows = "".join(
        f'<bpmn:sequenceFlow id="stroom_{i}" sourceRef="{a}" targetRef="{b}" />'
        for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False))
    )
    return '<bpmn:startEvent id="proef_gestart" />' + "".join(nodes) + '<bpmn:endEvent id="proef_klaar" />' + flows


def user_task(element_id: str, form: str = "opdracht_aanmaken", inner: str = "") -> str:
    return f'<bpmn:userTask id="{element_id}" name="Taak {element_id}" camunda:formKey="{form}">{inner}</bpmn:userTask>'


def service_task(element_id: str, handler: str) -> str:
    return (
        f'<bpmn:serviceTask id="{element_id}"><bpmn:extensionElements><camunda:properties>'
        f'<camunda:property name="handler" value="{handler}" /></camunda:properties>'
        "</bpmn:extensionElements></bpmn:serviceTask>"
    )


def gateway_diagram(condition: str) -> bytes:
    body = (
        '<bpmn:startEvent id="proef_gestart" />'
        '<bpmn:exclusiveGateway id="keuze" default="anders" />'
        + user_task("taak_a")
        + user_task("taak_b")
        + '<bpmn:endEvent id="proef_klaar" />'
        '<bpmn:sequenceFlow id="naar_keuze" sourceRef="proef_gestart" targetRef="keuze" />'
        '<bpmn:sequenceFlow id="naar_a" sourceRef="keuze" targetRef="taak_a">'
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="anders" sourceRef="keuze" targetRef="taak_b" />'
        '<bpmn:sequenceFlow id="a_klaar" sourceRef="taak_a" targetRef="proef_klaar" />'
        '<bpmn:sequenceFlow id="b_klaar" sourceRef="taak_b" targetRef="proef_klaar" />'
    )
    return diagram(body, lanes={"student": ["taak_a", "taak_b"]})


def refused(engine: Engine, xml: bytes, **kwargs) -> list[ElementError]:
    with pytest.raises(DiagramError) as info:
        engine.compile({"proef.bpmn": xml}, "proef", **kwargs)
    return info.value.errors


# ----------------------------------------------------------------------------- the PvB


def start_pvb(engine: Engine, pvb, settings: dict | None = None, calls: list[str] | None = None):
    """A new PvB as the server starts it: the school settings in the start task, then run."""
    wf = engine.new_workflow("pvb:1", pvb.spec_json)
    engine.set_start_data(wf, SETTINGS if settings is None else settings)
    engine.run(wf, ctx_for(calls))
    return wf


def walk_pvb(engine: Engine, pvb, answers: dict[str, list[dict]] | None = None, settings: dict | None = None):
    """Walks a PvB to its end as the server does, one user task per step: load, complete, run, dump.

    ``answers`` overrides FORM_DATA per element id, one dict per visit (the last one repeats).
    Parallel tasks are done in alphabetical order. When no task is open but the exam waits for the
    delivery of its result, the outbox delivers it (``resultaat_afgeleverd`` in the walk). Returns
    the done element ids, the sets of tasks that were open at once (when more than one), the handler
    calls, the ready tasks by element id and the final workflow.
    """
    answers = {k: list(v) for k, v in (answers or {}).items()}
    calls: list[str] = []
    state = engine.dump(start_pvb(engine, pvb, settings, calls))
    walked: list[str] = []
    parallel: list[tuple[str, ...]] = []
    seen = {}
    while True:
        wf = engine.load("pvb:1", pvb.spec_json, state)
        ready = sorted(engine.ready_user_tasks(wf), key=lambda t: t.element_id)
        if not ready and engine.deliver_message(wf, "resultaat_afgeleverd"):
            engine.run(wf, ctx_for(calls))
            state = engine.dump(wf)
            walked.append("resultaat_afgeleverd")
            continue
        if not ready:
            return walked, parallel, calls, seen, wf
        if len(ready) > 1:
            parallel.append(tuple(t.element_id for t in ready))
        task = ready[0]
        seen.setdefault(task.element_id, task)
        queue = answers.get(task.element_id)
        data = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else FORM_DATA[task.element_id]
        engine.complete_user_task(wf, task.guid, data)
        engine.run(wf, ctx_for(calls))
        state = engine.dump(wf)
        assert len(walked) < 200, "the walk does not end"
        walked.append(task.element_id)


APPROVALS = ["goedkeuren_praktijkbegeleider", "goedkeuren_roc_begeleider", "goedkeuren_student"]


def test_compiled_pvb_lists_its_user_tasks_lanes_handlers_and_properties(pvb):
    assert pvb.process_id == "pvb"
    assert {(t.element_id, t.lane, t.form_key) for t in pvb.user_tasks} == {
        ("opdracht_aanmaken", "roc_begeleider", "opdracht_aanmaken"),
        ("opdracht_verwerven", "student", "opdracht_verwerven"),
        ("deelnemers_vastleggen", "roc_begeleider", "deelnemers_vastleggen"),
        ("goedkeuren_student", "student", "opdracht_goedkeuren_student"),
        ("goedkeuren_roc_begeleider", "roc_begeleider", "opdracht_goedkeuren"),
        ("goedkeuren_praktijkbegeleider", "praktijkbegeleider", "opdracht_goedkeuren"),
        ("opdracht_vaststellen", "examencommissie", "opdracht_vaststellen"),
        ("opdracht_herzien", "roc_begeleider", "opdracht_herzien"),
        ("afspraken_plannen", "student", "afspraken_plannen"),
        ("bewijsstukken_uploaden", "student", "bewijsstukken_uploaden"),
        ("bewijsstukken_controleren", "roc_beoordelaar", "bewijsstukken_controleren"),
        ("bewijsstukken_aanvullen", "student", "bewijsstukken_uploaden"),
        ("uitvoering_afronden", "student", "uitvoering_afronden"),
        ("beoordelen_roc", "roc_beoordelaar", "beoordelen"),
        ("beoordelen_praktijk", "praktijkbeoordelaar", "beoordelen"),
        ("beoordelen_alleen", "roc_beoordelaar", "beoordelen"),
        ("consensus_vastleggen", "roc_beoordelaar", "consensus"),
        ("consensus_bevestigen", "praktijkbeoordelaar", "consensus_bevestigen"),
        ("eindbeoordeling_vaststellen", "examencommissie", "eindbeoordeling_vaststellen"),
        ("escalatie_beoordeling", "examenbureau", "termijn_escalatie"),
        ("escalatie_uitwisseling", "examenbureau", "termijn_escalatie"),
        ("afsluiten", "roc_begeleider", "afsluiten"),
        ("vervolg_bepalen", "roc_begeleider", "vervolg_bepalen"),
    }
    by_id = {t.element_id: t for t in pvb.user_tasks}
    assert by_id["opdracht_aanmaken"].name == "Opdracht aanmaken"
    # R7: established only when every role is recorded; R31: never by someone who assessed.
    assert by_id["opdracht_vaststellen"].properties == {
        "requires_participants": "praktijkbegeleider,roc_beoordelaar,examencommissie"
    }
    assert by_id["eindbeoordeling_vaststellen"].properties == {"not_by": "praktijkbeoordelaar,roc_beoordelaar"}
    assert {t.element_id for t in pvb.user_tasks if t.properties} == {
        "opdracht_vaststellen",
        "eindbeoordeling_vaststellen",
    }
    assert pvb.lanes == PVB_ROLES
    assert pvb.service_handlers == PVB_HANDLERS
    assert set(json.loads(pvb.spec_json)) == {"serializer_version", "spec", "subprocess_specs"}


def test_every_form_of_the_pvb_is_shipped(pvb):
    assert {t.form_key for t in pvb.user_tasks} <= PVB_FORMS


def test_walk_with_two_assessors_through_every_loop(engine, pvb):
    """R14, R15, R23, R29, R31: a rejected assignment is approved anew by all three, incomplete
    evidence goes back to the student, a disagreement and the committee send it back to consensus."""
    walked, parallel, calls, seen, wf = walk_pvb(
        engine,
        pvb,
        answers={
            "opdracht_vaststellen": [
                {"opdracht_besluit": "afgewezen", "opdracht_reden": "Te smal", "bevestiging": True},
                FORM_DATA["opdracht_vaststellen"],
            ],
            "bewijsstukken_controleren": [
                {"bewijs_besluit": "onvolledig", "bewijs_reden": "Video ontbreekt", "bevestiging": True},
                FORM_DATA["bewijsstukken_controleren"],
            ],
            "consensus_bevestigen": [
                {"consensus_akkoord": "niet_akkoord", "consensus_reden": "c1 anders", "bevestiging": True},
                FORM_DATA["consensus_bevestigen"],
            ],
            "eindbeoordeling_vaststellen": [
                {"eind_besluit": "terug_naar_consensus", "eind_reden": "Toelichting ontbreekt", "bevestiging": True},
                FORM_DATA["eindbeoordeling_vaststellen"],
            ],
        },
    )
    consensus = ["consensus_vastleggen", "consensus_bevestigen"]
    assert walked == [
        "opdracht_aanmaken",
        "opdracht_verwerven",
        "deelnemers_vastleggen",
        *APPROVALS,
        "opdracht_vaststellen",  # afgewezen
        "opdracht_herzien",
        *APPROVALS,  # all three again
        "opdracht_vaststellen",
        "afspraken_plannen",
        "bewijsstukken_uploaden",  # the end of execution
        "bewijsstukken_controleren",  # onvolledig
        "bewijsstukken_aanvullen",
        "bewijsstukken_controleren",
        "beoordelen_praktijk",
        "beoordelen_roc",
        *consensus,  # niet akkoord
        *consensus,
        "eindbeoordeling_vaststellen",  # terug naar consensus
        *consensus,
        "eindbeoordeling_vaststellen",
        "resultaat_afgeleverd",
        "afsluiten",
    ]
    # The three approvals, and both assessments, are open at the same time.
    assert parallel == [
        tuple(APPROVALS),
        tuple(APPROVALS[1:]),
        tuple(APPROVALS),
        tuple(APPROVALS[1:]),
        ("beoordelen_praktijk", "beoordelen_roc"),
    ]
    assert calls == [
        "beoordelaars_controleren",
        "opdracht_vergrendelen",
        "opdracht_ontgrendelen",
        "opdracht_vergrendelen",
        "vaststelling_vastleggen",
        "afspraken_controleren",
        "uitvoering_einde_vastleggen",
        "bewijs_vergrendelen",
        "resultaat_vastleggen",
        "examen_archiveren",
    ]
    assert {t: (r.lane, r.form_key) for t, r in seen.items() if t.startswith("goedkeuren")} == {
        "goedkeuren_student": ("student", "opdracht_goedkeuren_student"),
        "goedkeuren_roc_begeleider": ("roc_begeleider", "opdracht_goedkeuren"),
        "goedkeuren_praktijkbegeleider": ("praktijkbegeleider", "opdracht_goedkeuren"),
    }
    assert seen["opdracht_vaststellen"].properties["requires_participants"].split(",") == [
        "praktijkbegeleider",
        "roc_beoordelaar",
        "examencommissie",
    ]
    assert seen["eindbeoordeling_vaststellen"].properties == {"not_by": "praktijkbeoordelaar,roc_beoordelaar"}
    assert seen["afspraken_plannen"].properties == {}
    assert engine.is_completed(wf)
    final = engine.data(wf)
    assert final["tweede_beoordelaar"] is True
    assert final["opdracht_besluit"] == "vastgesteld"
    assert final["titel"] == "Onderhoud installaties (herzien)"
    assert final["eind_besluit"] == "vastgesteld"
    assert final["examenlocatie"] == "Installatiebedrijf De Vries"


def test_walk_with_one_assessor_and_no_evidence_that_is_not_passed(engine, pvb):
    """R8, R24, R30: one assessor where the school allows it, no uploads, and a follow-up."""
    one_assessor = {k: v for k, v in FORM_DATA["deelnemers_vastleggen"].items() if k != "praktijkbeoordelaar"}
    failed = {"beoordeling": JUDGED, "bevestiging": True, "uitslag": "onvoldoende"}
    walked, parallel, calls, seen, wf = walk_pvb(
        engine,
        pvb,
        answers={
            "deelnemers_vastleggen": [one_assessor],
            "beoordelen_alleen": [failed],
            "consensus_vastleggen": [failed],
        },
        settings={"bewijsstukken_gebruiken": False, "een_beoordelaar_toegestaan": True},
    )
    assert walked == [
        "opdracht_aanmaken",
        "opdracht_verwerven",
        "deelnemers_vastleggen",
        *APPROVALS,
        "opdracht_vaststellen",
        "afspraken_plannen",
        "uitvoering_afronden",
        "beoordelen_alleen",
        "consensus_vastleggen",  # no second assessor to confirm it
        "eindbeoordeling_vaststellen",
        "resultaat_afgeleverd",
        "vervolg_bepalen",
    ]
    assert parallel == [tuple(APPROVALS), tuple(APPROVALS[1:])]
    assert calls[-3:] == ["resultaat_vastleggen", "vervolg_starten", "examen_archiveren"]
    assert seen["beoordelen_alleen"].lane == "roc_beoordelaar"
    assert engine.is_completed(wf)
    final = engine.data(wf)
    assert final["tweede_beoordelaar"] is False
    assert final["uitslag"] == "onvoldoende"
    assert final["vervolg_toelichting"] == "Werkproces 2 opnieuw"


def test_a_gateway_without_its_setting_fails_loudly(engine, pvb):
    """The diagram reads the school settings; a start without them is the server's bug, not a silent path."""
    with pytest.raises(WorkflowException, match="bewijsstukken_gebruiken"):
        walk_pvb(engine, pvb, settings={})


def test_the_walks_use_data_the_shipped_forms_accept():
    from forms import load_form_file, validate

    people = {
        "praktijkbegeleider": [{"value": 11, "label": "P"}],
        "praktijkbeoordelaar": [{"value": 12, "label": "B"}],
        "roc_beoordelaar": [{"value": 13, "label": "R"}],
        "vaststeller": [{"value": 14, "label": "V"}],
    }
    model = {"werkprocessen": [{"code": "W1", "title": "W", "criteria": [{"id": "c1", "text": "K"}]}]}
    form_of = {t.element_id: t.form_key for t in Engine().compile({"pvb.bpmn": PVB}, "pvb").user_tasks}
    for element_id, data in FORM_DATA.items():
        form = load_form_file(shipped_forms_dir() / f"{form_of[element_id]}.json")
        posted = {k: v for k, v in data.items() if k not in SERVER_ADDED}
        kwargs = {"choices": people} if element_id == "deelnemers_vastleggen" else {}
        if any(f.type == "criteria" for f in form.fields):
            kwargs["criteria_model"] = model
        clean = validate(form, posted, **kwargs)
        assert {k: v for k, v in clean.items() if k in posted} == posted, element_id


def test_the_state_leaves_out_the_spec_and_is_smaller_than_the_full_serialization(engine, pvb):
    wf = start_pvb(engine, pvb)
    state = engine.dump(wf)
    assert "spec" not in json.loads(state)
    assert "subprocess_specs" not in json.loads(state)
    full = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(serializer_config(embed_specs=True)))
    full_json = full.serialize_json(wf)
    assert {"spec", "subprocess_specs"} <= set(json.loads(full_json))
    assert len(state) < len(full_json) / 2


def test_one_version_is_restored_once_and_shared_with_its_extensions(pvb):
    engine = Engine()  # a cold cache, as in a fresh worker
    first = engine.load("pvb:1", pvb.spec_json, _state_after_start(engine, pvb))
    second = engine.load("pvb:1", pvb.spec_json, _state_after_start(engine, pvb))
    assert first.spec is second.spec
    # from_dict pops keys in place: a second restore from one dict would have lost these.
    assert second.spec.task_specs["beoordelaars_controleren"].extensions == {"handler": "check_assessors"}
    assert second.spec.task_specs["eindbeoordeling_vaststellen"].extensions == {
        "not_by": "praktijkbeoordelaar,roc_beoordelaar"
    }
    assert isinstance(first.script_engine.environment, SafeScriptEnvironment)
    assert isinstance(second.script_engine.environment, SafeScriptEnvironment)


def test_a_ready_task_gets_a_copy_of_its_properties(engine, pvb):
    wf = engine.load("pvb:1", pvb.spec_json, _state_after_start(engine, pvb))
    (task,) = engine.ready_user_tasks(wf)
    assert task.properties == {}
    task.properties["not_by"] = "student"
    assert wf.spec.task_specs["opdracht_aanmaken"].extensions == {}


def test_a_state_loads_in_another_engine(engine, pvb):
    """Another worker, with its own cache, continues where this one saved."""
    state = _state_after_start(engine, pvb)
    other = Engine()
    wf = other.load("pvb:1", pvb.spec_json, state)
    (task,) = other.ready_user_tasks(wf)
    other.complete_user_task(wf, task.guid, FORM_DATA["opdracht_aanmaken"])
    other.run(wf, ctx_for())
    assert [t.element_id for t in other.ready_user_tasks(engine.load("pvb:1", pvb.spec_json, other.dump(wf)))] == [
        "opdracht_verwerven"
    ]


def test_datetimes_in_task_data_survive_a_dump(engine, pvb):
    wf = engine.load("pvb:1", pvb.spec_json, _state_after_start(engine, pvb))
    (task,) = engine.ready_user_tasks(wf)
    moment = datetime(2026, 5, 11, 9, 30, tzinfo=UTC)
    engine.complete_user_task(wf, task.guid, {**FORM_DATA["opdracht_aanmaken"], "vastgelegd_op": moment})
    engine.run(wf, ctx_for())
    (next_task,) = engine.ready_user_tasks(engine.load("pvb:1", pvb.spec_json, engine.dump(wf)))
    assert next_task.data["vastgelegd_op"] == moment


def test_workers_share_one_engine_and_its_cached_specs(pvb):
    """Gunicorn threads: one engine, one cached spec per version, many instances at once."""
    engine = Engine()

    def walk(_: int) -> list[str]:
        return walk_pvb(engine, pvb)[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        walks = list(pool.map(walk, range(32)))
    assert all(w == walks[0] for w in walks)
    assert walks[0][-1] == "afsluiten"
    assert len(walks[0]) == 17


def test_a_task_can_be_completed_only_while_it_is_ready(engine, pvb):
    wf = engine.load("pvb:1", pvb.spec_json, _state_after_start(engine, pvb))
    (task,) = engine.ready_user_tasks(wf)
    engine.complete_user_task(wf, task.guid, FORM_DATA["opdracht_aanmaken"])
    with pytest.raises(TaskNotReady):
        engine.complete_user_task(wf, task.guid, FORM_DATA["opdracht_aanmaken"])
    with pytest.raises(TaskNotReady):
        engine.complete_user_task(wf, "geen-guid", {})
    with pytest.raises(TaskNotReady):
        engine.complete_user_task(wf, "00000000-0000-0000-0000-000000000000", {})


def test_a_handler_that_raises_propagates_out_of_run(engine, monkeypatch):
    def exploding(data: dict, ctx: HandlerContext) -> dict:
        raise ConnectionError("OKE niet bereikbaar")

    # The registry has no way to unregister; monkeypatch restores it after the test.
    monkeypatch.setitem(handler_registry._SERVICE_HANDLERS, "proef_ontploft", exploding)
    compiled = engine.compile({"proef.bpmn": diagram(linear(service_task("versturen", "proef_ontploft")))}, "proef")
    wf = engine.new_workflow("proef:ontploft", compiled.spec_json)
    with pytest.raises(ConnectionError, match="OKE niet bereikbaar"):
        engine.run(wf, ctx_for())


def test_a_service_task_does_not_pass_without_its_handler(engine):
    """A plain do_engine_steps (not Engine.run) must not skip the handler silently."""
    compiled = engine.compile(
        {"proef.bpmn": diagram(linear(service_task("gereed", "record_assignment_ready")))}, "proef"
    )
    wf = engine.new_workflow("proef:kaal", compiled.spec_json)
    with pytest.raises(RuntimeError, match="without its handler"):
        wf.do_engine_steps()


def test_the_default_engine_is_one_engine():
    assert default_engine() is default_engine()


# ----------------------------------------------------------------------------- timers


def _timer_diagram() -> bytes:
    body = (
        '<bpmn:startEvent id="proef_gestart" />'
        + user_task("wachten")
        + '<bpmn:boundaryEvent id="termijn_verlopen" attachedToRef="wachten" cancelActivity="false">'
        "<bpmn:timerEventDefinition><bpmn:timeDuration>P5D</bpmn:timeDuration></bpmn:timerEventDefinition>"
        "</bpmn:boundaryEvent>"
        '<bpmn:intermediateCatchEvent id="tot_de_afspraak"><bpmn:timerEventDefinition>'
        '<bpmn:timeDate>"2031-03-03T09:00:00+01:00"</bpmn:timeDate></bpmn:timerEventDefinition>'
        "</bpmn:intermediateCatchEvent>"
        + user_task("na_de_afspraak")
        + '<bpmn:endEvent id="proef_klaar" /><bpmn:endEvent id="herinnerd" />'
        '<bpmn:sequenceFlow id="s1" sourceRef="proef_gestart" targetRef="tot_de_afspraak" />'
        '<bpmn:sequenceFlow id="s2" sourceRef="tot_de_afspraak" targetRef="wachten" />'
        '<bpmn:sequenceFlow id="s3" sourceRef="wachten" targetRef="na_de_afspraak" />'
        '<bpmn:sequenceFlow id="s4" sourceRef="na_de_afspraak" targetRef="proef_klaar" />'
        '<bpmn:sequenceFlow id="s5" sourceRef="termijn_verlopen" targetRef="herinnerd" />'
    )
    return diagram(body, lanes={"student": ["wachten", "na_de_afspraak"]})


def test_waiting_timers_report_their_due_time_and_fire_after_a_refresh(engine):
    compiled = engine.compile({"proef.bpmn": _timer_diagram()}, "proef")
    wf = engine.new_workflow("proef:timer", compiled.spec_json)
    engine.run(wf, ctx_for())
    (timer,) = engine.waiting_timers(wf)
    assert timer.element_id == "tot_de_afspraak"
    assert timer.due_at == datetime(2031, 3, 3, 8, 0, tzinfo=UTC)
    assert timer.due_at.utcoffset() == timedelta(0)
    assert engine.ready_user_tasks(wf) == []

    with use_clock(datetime(2031, 3, 3, 8, 0, 1, tzinfo=UTC)):
        wf = engine.load("proef:timer", compiled.spec_json, engine.dump(wf))
        engine.refresh_timers(wf)
        engine.run(wf, ctx_for())
    assert [t.element_id for t in engine.ready_user_tasks(wf)] == ["wachten"]
    # A bare ISO duration from Camunda Modeler counts from when the boundary timer started waiting.
    (boundary,) = engine.waiting_timers(engine.load("proef:timer", compiled.spec_json, engine.dump(wf)))
    assert boundary.element_id == "termijn_verlopen"
    assert boundary.due_at == datetime(2031, 3, 8, 8, 0, 1, tzinfo=UTC)


def test_a_deadline_around_several_steps_runs_from_the_cached_subprocess_spec(engine):
    """Design decision 7's shape: a non-interrupting boundary timer on an embedded subprocess."""
    body = (
        '<bpmn:startEvent id="proef_gestart" /><bpmn:subProcess id="beoordeling">'
        '<bpmn:startEvent id="beoordeling_gestart" />'
        + user_task("beoordelen")
        + service_task("gereed", "record_assignment_ready")
        + '<bpmn:endEvent id="beoordeling_klaar" />'
        '<bpmn:sequenceFlow id="b1" sourceRef="beoordeling_gestart" targetRef="beoordelen" />'
        '<bpmn:sequenceFlow id="b2" sourceRef="beoordelen" targetRef="gereed" />'
        '<bpmn:sequenceFlow id="b3" sourceRef="gereed" targetRef="beoordeling_klaar" />'
        "</bpmn:subProcess>"
        '<bpmn:boundaryEvent id="vijf_werkdagen" attachedToRef="beoordeling" cancelActivity="false">'
        '<bpmn:timerEventDefinition><bpmn:timeDate>"2031-01-01T00:00:00+00:00"</bpmn:timeDate>'
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        '<bpmn:endEvent id="proef_klaar" /><bpmn:endEvent id="te_laat" />'
        '<bpmn:sequenceFlow id="s1" sourceRef="proef_gestart" targetRef="beoordeling" />'
        '<bpmn:sequenceFlow id="s2" sourceRef="beoordeling" targetRef="proef_klaar" />'
        '<bpmn:sequenceFlow id="s3" sourceRef="vijf_werkdagen" targetRef="te_laat" />'
    )
    # bpmn-js lists only the subprocess in the lane; the task inside takes that lane.
    xml = diagram(body, lanes={"praktijkbeoordelaar": ["beoordeling"]})
    compiled = engine.compile({"proef.bpmn": xml}, "proef", known_roles=PVB_ROLES, known_forms=PVB_FORMS)
    assert [(t.element_id, t.lane) for t in compiled.user_tasks] == [("beoordelen", "praktijkbeoordelaar")]
    wf = engine.new_workflow("proef:deelproces", compiled.spec_json)
    engine.run(wf, ctx_for())
    state = engine.dump(wf)
    assert [t.element_id for t in engine.waiting_timers(wf)] == ["vijf_werkdagen"]
    engine.load("proef:deelproces", compiled.spec_json, state)  # a first restore must not spoil the cache
    wf = engine.load("proef:deelproces", compiled.spec_json, state)
    (task,) = engine.ready_user_tasks(wf)
    engine.complete_user_task(wf, task.guid, {"oordeel": "voldaan"})
    engine.run(wf, ctx_for())
    wf = engine.load("proef:deelproces", compiled.spec_json, engine.dump(wf))
    assert engine.is_completed(wf)
    assert engine.data(wf) == {"oordeel": "voldaan", "opdracht_gereed": True}
    assert engine.waiting_timers(wf) == []


# ----------------------------------------------------------------------------- what compile refuses


def test_a_gateway_condition_that_escapes_the_sandbox_is_refused_with_its_element_id(engine):
    errors = refused(engine, gateway_diagram("__import__('os').system('true')"))
    assert [e.element_id for e in errors] == ["naar_a"]
    assert "voorwaarde" in errors[0].message


def test_a_harmless_gateway_condition_compiles(engine):
    engine.compile({"proef.bpmn": gateway_diagram('besluit == "vastgesteld"')}, "proef")


def test_an_unknown_handler_is_refused(engine):
    errors = refused(engine, diagram(linear(service_task("versturen", "bestaat_niet"))))
    assert errors == [ElementError("versturen", "Onbekende handler 'bestaat_niet'.")]


def test_a_service_task_without_a_handler_is_refused(engine):
    errors = refused(engine, diagram(linear('<bpmn:serviceTask id="versturen" camunda:class="nl.Iets" />')))
    assert {e.element_id for e in errors} == {"versturen"}
    assert any("camunda:class" in e.message for e in errors)
    assert any("zonder handler" in e.message for e in errors)


def test_a_lane_that_is_no_known_role_is_refused(engine):
    xml = diagram(linear(user_task("taak")), lanes={"directeur": ["taak"]})
    errors = refused(engine, xml, known_roles=PVB_ROLES)
    assert [e.element_id for e in errors] == ["baan_0"]
    assert "Onbekende rol 'directeur'" in errors[0].message


def test_a_user_task_outside_every_lane_or_with_an_unknown_form_is_refused(engine):
    xml = diagram(linear(user_task("taak", form="bestaat_niet")))
    errors = refused(engine, xml, known_roles=PVB_ROLES, known_forms=PVB_FORMS)
    assert {e.element_id for e in errors} == {"taak"}
    assert {e.message for e in errors} == {
        "Onbekend formulier 'bestaat_niet'.",
        "Gebruikerstaak staat in geen enkele baan; wie mag hem uitvoeren?",
    }


def test_malformed_xml_is_refused_with_its_line(engine):
    broken = diagram(linear(user_task("taak"))).replace(b"</bpmn:process>", b"<oeps></bpmn:process>")
    errors = refused(engine, broken)
    assert len(errors) == 1
    assert errors[0].element_id is None
    assert "regel 3" in errors[0].message


def test_an_external_entity_is_refused_without_reading_the_file(engine, tmp_path):
    secret = tmp_path / "geheim.txt"
    secret.write_text("WACHTWOORD-123")
    prolog = f'<!DOCTYPE bpmn:definitions [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
    xml = diagram(linear(user_task("taak", inner="<bpmn:documentation>&xxe;</bpmn:documentation>")), prolog=prolog)
    # The payload is live: a careless parser would have read the file.
    careless = etree.XMLParser(resolve_entities=True, load_dtd=True, no_network=True)
    assert "WACHTWOORD-123" in etree.tostring(etree.fromstring(xml, careless)).decode()

    errors = refused(engine, xml)
    assert len(errors) == 1
    assert "DOCTYPE" in errors[0].message
    assert "WACHTWOORD" not in str(errors)


def test_an_entity_expansion_bomb_is_refused(engine):
    prolog = '<!DOCTYPE bpmn:definitions [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>\n'
    errors = refused(
        engine, diagram(linear(user_task("taak", inner="<bpmn:documentation>&b;</bpmn:documentation>")), prolog=prolog)
    )
    assert "DOCTYPE" in errors[0].message


def test_xml_that_breaks_the_bpmn_schema_is_refused_with_the_element_id(engine):
    errors = refused(engine, diagram(linear('<bpmn:userTask id="taak" onzin="ja" />')))
    assert [e.element_id for e in errors] == ["taak"]
    assert "BPMN-schema" in errors[0].message


@pytest.mark.parametrize("reserved", ["Start", "End"])
def test_a_flow_node_with_a_reserved_id_is_refused(engine, reserved):
    errors = refused(engine, diagram(linear(user_task(reserved))))
    assert [e.element_id for e in errors] == [reserved]
    assert "gereserveerd" in errors[0].message


def test_the_parser_really_drops_what_follows_a_task_with_id_end():
    """Why the check exists (style.md convention 6): the parser swaps the task for its own End."""
    parser = CamundaParser()
    tree = etree.ElementTree(etree.fromstring(diagram(linear(user_task("End"), user_task("daarna")))))
    parser.add_bpmn_xml(tree)
    spec = parser.get_spec("proef")  # no complaint from the parser
    assert type(spec.task_specs["End"]).__name__ == "SimpleBpmnTask"
    assert "daarna" not in spec.task_specs
    # 'End' itself is left to the reserved-id check, which has the better message.
    assert [e.element_id for e in missing_flow_nodes([tree], {"proef": spec})] == ["daarna", "proef_klaar"]


def test_an_unreachable_flow_node_is_refused(engine):
    body = linear(user_task("taak")) + user_task("vergeten")
    errors = refused(engine, diagram(body))
    assert [e.element_id for e in errors] == ["vergeten"]
    assert "ontbreekt" in errors[0].message


def test_juel_in_a_timer_is_refused_with_the_python_form(engine):
    timer = (
        '<bpmn:intermediateCatchEvent id="wachten"><bpmn:timerEventDefinition>'
        "<bpmn:timeDate>${dueDate}</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )
    errors = refused(engine, diagram(linear(timer)))
    assert [e.element_id for e in errors] == ["wachten"]
    assert "dueDate" in errors[0].message and "JUEL" in errors[0].message


def test_a_script_that_imports_is_refused(engine):
    script = '<bpmn:scriptTask id="rekenen"><bpmn:script>import os\nos.system("true")</bpmn:script></bpmn:scriptTask>'
    errors = refused(engine, diagram(linear(script)))
    assert [e.element_id for e in errors] == ["rekenen"]


def test_every_finding_of_a_diagram_is_reported_at_once(engine):
    xml = diagram(
        linear(service_task("versturen", "bestaat_niet"), user_task("taak", form="bestaat_niet")),
        lanes={"directeur": ["taak"]},
    )
    errors = refused(engine, xml, known_roles=PVB_ROLES, known_forms=PVB_FORMS)
    assert {e.element_id for e in errors} == {"versturen", "taak", "baan_0"}


def test_a_missing_process_is_refused(engine):
    errors = refused(engine, diagram(linear(user_task("taak"))).replace(b'id="proef"', b'id="anders"'))
    assert errors[0].element_id is None
    assert "'proef' niet gevonden" in errors[0].message


def _state_after_start(engine: Engine, pvb) -> str:
    wf = engine.new_workflow("pvb:1", pvb.spec_json)
    engine.run(wf, ctx_for())
    return engine.dump(wf)
