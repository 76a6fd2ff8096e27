"""Behaviour of the safe expression evaluator and its SpiffWorkflow script environment."""

from __future__ import annotations

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.util.task import TaskState

from processes.expressions import (
    SafeScriptEnvironment,
    UnsafeExpression,
    check_expression,
    evaluate,
    execute,
    iso_literal,
    make_script_engine,
)

DATA = {"oordeel": "voldaan", "cijfer": 7.5, "pogingen": [6.0, 7.5], "student": {"naam": "Sanne"}}


def double(value):
    return 2 * value


HELPERS = {"verdubbel": double}


# --- normal expressions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('oordeel == "voldaan"', True),
        ('oordeel != "voldaan" or cijfer < 5.5', False),
        ("cijfer >= 5.5 and len(pogingen) <= 2", True),
        ("max(pogingen) - min(pogingen)", 1.5),
        ("round(sum(pogingen) / len(pogingen), 1)", 6.8),
        ('"goed" if cijfer >= 7 else "voldoende"', "goed"),
        ('student["naam"]', "Sanne"),
        ("pogingen[-1]", 7.5),
        ('f"{student[\'naam\']} heeft een {cijfer:.1f}"', "Sanne heeft een 7.5"),
        ("not (1 < cijfer < 5)", True),
        ("2 ** 10", 1024),
        ('"-" * 3', "---"),
        ('{"a": [1, 2], "b": (3,)}', {"a": [1, 2], "b": (3,)}),
        ("sorted(pogingen, reverse=True)", [7.5, 6.0]),
        ("   cijfer > 5\n", True),
    ],
)
def test_conditions_evaluate_against_task_data(source, expected):
    assert evaluate(source, dict(DATA), HELPERS) == expected


def test_helpers_can_be_called():
    assert evaluate("verdubbel(cijfer)", dict(DATA), HELPERS) == 15.0
    assert evaluate("verdubbel(value=2) + 1", {}, HELPERS) == 5


def test_unknown_name_is_a_name_error():
    with pytest.raises(NameError):
        evaluate("onbekend > 1", {}, HELPERS)


def test_helpers_win_over_task_data_of_the_same_name():
    assert evaluate("len(pogingen)", {"len": "geen functie", "pogingen": [1]}, HELPERS) == 1


def test_attribute_reads_of_data_are_allowed_but_methods_are_not():
    class Deadline:
        year = 2026

    assert evaluate("termijn.year", {"termijn": Deadline()}, HELPERS) == 2026
    with pytest.raises(UnsafeExpression, match="keys"):
        evaluate("student.keys", dict(DATA), HELPERS)
    with pytest.raises(UnsafeExpression, match="aanroep"):
        evaluate('"{0}".format(student)', dict(DATA), HELPERS)


# --- attacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("__import__('os').system('true')", "aanroep van '__import__'"),
        ("().__class__.__base__.__subclasses__()", "__class__"),
        ("x.__class__", "__class__"),
        ("[x for x in y]", "comprehensie"),
        ("{x: 1 for x in y}", "comprehensie"),
        ("sum(x for x in y)", "generator"),
        ("lambda: 1", "lambda"),
        ("9**9**9", "exponent"),
        ("'a'*10**9", "herhaling"),
        ("[0] * 10**7", "herhaling"),
        ("[[0] * 10**6] * 10**6", "herhaling"),
        ("open('/etc/passwd')", "aanroep van 'open'"),
        ("eval('1')", "aanroep van 'eval'"),
        ("getattr(x, '__class__')", "aanroep van 'getattr'"),
        ("range(10)", "aanroep van 'range'"),
        ("(y := 1)", ":="),
        ("x.y.z()", "aanroep van 'x.y.z'"),
        ("1 << 10**6", "getal te groot"),
        ("big * big * big", "getal te groot"),
        ("'%999999999d' % 1", "breedte"),
        ("f'{x:>999999999}'", "opmaak"),
        ("f'{x:{y}}'", "opmaak"),
        ("round(1, -10**9)", "afronden"),
        ("x @ y", "@"),
        ("_geheim", "_geheim"),
    ],
)
def test_attacks_are_refused(source, named):
    names = {"x": 1, "y": [1, 2], "big": 10**2000}
    with pytest.raises(UnsafeExpression, match="Niet toegestaan") as caught:
        evaluate(source, names, HELPERS)
    assert named in str(caught.value)
    assert caught.value.expression == source


def test_refusal_happens_before_anything_runs():
    calls = []
    with pytest.raises(UnsafeExpression):
        evaluate("spion(1) + __import__('os')", {}, {"spion": calls.append})
    assert calls == []


def test_syntax_error_is_reported_in_dutch_with_position():
    with pytest.raises(UnsafeExpression, match=r"Ongeldige expressie \(regel 1, kolom \d+\)"):
        check_expression("cijfer >", allowed_calls=set())


def test_juel_is_refused_with_the_python_form():
    with pytest.raises(UnsafeExpression, match="JUEL") as caught:
        check_expression("${a > 1}", allowed_calls=set())
    assert "a > 1" in str(caught.value)
    with pytest.raises(UnsafeExpression) as caught:
        check_expression('${oordeel eq "voldaan" && !herkansing}', allowed_calls=set())
    assert 'oordeel == "voldaan" and not herkansing' in str(caught.value)


def test_check_expression_uses_the_allowed_calls():
    check_expression("verdubbel(1)", allowed_calls={"verdubbel"})
    with pytest.raises(UnsafeExpression, match="verdubbel"):
        check_expression("verdubbel(1)", allowed_calls=set())


# --- ISO 8601 literals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "literal",
    ["P5D", "PT10S", "P1Y2M3DT4H5M6S", "P2W", "R3/PT1H", "R/P1D", "2026-01-05T10:00:00+01:00",
     "2026-01-05T09:00:00Z", "R2/2026-01-05T10:00:00+01:00/P1D"],
)
def test_iso_literal_recognises_iso_8601(literal):
    assert iso_literal(f"  {literal}\n") == literal


@pytest.mark.parametrize(
    "source",
    ["add_working_days(x, 5)", "2026-01-05T10:00:00", "2026-01-05", "P", "PT", "P5", "deadline"],
)
def test_iso_literal_refuses_other_text(source):
    assert iso_literal(source) is None


def test_naive_date_gets_a_dutch_hint():
    with pytest.raises(UnsafeExpression, match="tijdzone"):
        check_expression("2026-01-05", allowed_calls=set())


# --- scripts (exec mode) -----------------------------------------------------------------------


def test_script_assignments_update_the_names():
    data = {"cijfer": 7.5, "lijst": [1, 2], "weg": True}
    execute(
        """
        verdubbeld = verdubbel(cijfer)
        lijst[0] += 10
        teller = 1
        teller *= 3
        if cijfer >= 5.5:
            uitslag = "voldaan"
        elif cijfer >= 4:
            uitslag = "herkansing"
        else:
            uitslag = "niet voldaan"
        del weg
        """,
        data,
        HELPERS,
    )
    assert data == {"cijfer": 7.5, "lijst": [11, 2], "verdubbeld": 15.0, "teller": 3, "uitslag": "voldaan"}


@pytest.mark.parametrize(
    ("script", "named"),
    [
        ("import os", "import"),
        ("from os import system", "import"),
        ("for x in y:\n    z = x", "lus"),
        ("while True:\n    z = 1", "lus"),
        ("def f():\n    return 1", "def"),
        ("x.attr = 1", "attribuut"),
        ("len = 3", "len"),
        ("verdubbel(1)", "losse expressie"),
        ("s = 'a' * 1000\ns *= 10**6", "herhaling"),
        ("del _x", "_x"),
    ],
)
def test_script_statements_are_refused(script, named):
    with pytest.raises(UnsafeExpression, match="Niet toegestaan in een script") as caught:
        execute(script, {"x": 1, "y": [1]}, HELPERS)
    assert named in str(caught.value)


# --- SpiffWorkflow -----------------------------------------------------------------------------

GATEWAY_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="beoordeling" isExecutable="true">
    <bpmn:startEvent id="begin">
      <bpmn:outgoing>flow_begin</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="beoordelen" name="Beoordelen">
      <bpmn:incoming>flow_begin</bpmn:incoming>
      <bpmn:outgoing>flow_oordeel</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="oordeel_gateway" default="flow_anders">
      <bpmn:incoming>flow_oordeel</bpmn:incoming>
      <bpmn:outgoing>flow_voldaan</bpmn:outgoing>
      <bpmn:outgoing>flow_anders</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:scriptTask id="vastleggen_voldaan" scriptFormat="python">
      <bpmn:incoming>flow_voldaan</bpmn:incoming>
      <bpmn:outgoing>flow_na_voldaan</bpmn:outgoing>
      <bpmn:script>route = "voldaan"
punten = cijfer * 10</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="vastleggen_herkansing" scriptFormat="python">
      <bpmn:incoming>flow_anders</bpmn:incoming>
      <bpmn:outgoing>flow_na_herkansing</bpmn:outgoing>
      <bpmn:script>route = "herkansing"</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="einde_voldaan">
      <bpmn:incoming>flow_na_voldaan</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:endEvent id="einde_herkansing">
      <bpmn:incoming>flow_na_herkansing</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="flow_begin" sourceRef="begin" targetRef="beoordelen" />
    <bpmn:sequenceFlow id="flow_oordeel" sourceRef="beoordelen" targetRef="oordeel_gateway" />
    <bpmn:sequenceFlow id="flow_voldaan" sourceRef="oordeel_gateway" targetRef="vastleggen_voldaan">
      <bpmn:conditionExpression xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
          xsi:type="bpmn:tFormalExpression">oordeel == "voldaan"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="flow_anders" sourceRef="oordeel_gateway" targetRef="vastleggen_herkansing" />
    <bpmn:sequenceFlow id="flow_na_voldaan" sourceRef="vastleggen_voldaan" targetRef="einde_voldaan" />
    <bpmn:sequenceFlow id="flow_na_herkansing" sourceRef="vastleggen_herkansing"
        targetRef="einde_herkansing" />
  </bpmn:process>
</bpmn:definitions>
"""

TIMER_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                  id="Definitions_2" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="wachten" isExecutable="true">
    <bpmn:startEvent id="begin">
      <bpmn:outgoing>flow_0</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:scriptTask id="jaar_kiezen" scriptFormat="python">
      <bpmn:incoming>flow_0</bpmn:incoming>
      <bpmn:outgoing>flow_1</bpmn:outgoing>
      <bpmn:script>jaar = 2021</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:intermediateCatchEvent id="letterlijke_termijn">
      <bpmn:incoming>flow_1</bpmn:incoming>
      <bpmn:outgoing>flow_2</bpmn:outgoing>
      <bpmn:timerEventDefinition>
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">2020-01-06T09:00:00+01:00</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="berekende_termijn">
      <bpmn:incoming>flow_2</bpmn:incoming>
      <bpmn:outgoing>flow_3</bpmn:outgoing>
      <bpmn:timerEventDefinition>
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">verleden(jaar)</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="einde">
      <bpmn:incoming>flow_3</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="flow_0" sourceRef="begin" targetRef="jaar_kiezen" />
    <bpmn:sequenceFlow id="flow_1" sourceRef="jaar_kiezen" targetRef="letterlijke_termijn" />
    <bpmn:sequenceFlow id="flow_2" sourceRef="letterlijke_termijn" targetRef="berekende_termijn" />
    <bpmn:sequenceFlow id="flow_3" sourceRef="berekende_termijn" targetRef="einde" />
  </bpmn:process>
</bpmn:definitions>
"""


def _workflow(bpmn: str, process_id: str, engine) -> BpmnWorkflow:
    parser = CamundaParser()
    parser.add_bpmn_str(bpmn.encode(), filename=f"{process_id}.bpmn")
    workflow = BpmnWorkflow(parser.get_spec(process_id), script_engine=engine)
    workflow.do_engine_steps()
    return workflow


@pytest.mark.parametrize(("oordeel", "route"), [("voldaan", "voldaan"), ("niet voldaan", "herkansing")])
def test_spiffworkflow_gateway_takes_the_right_branch(oordeel, route):
    workflow = _workflow(GATEWAY_BPMN, "beoordeling", make_script_engine())
    [task] = workflow.get_tasks(state=TaskState.READY)
    assert task.task_spec.bpmn_id == "beoordelen"
    task.data.update(oordeel=oordeel, cijfer=8)
    task.run()
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert workflow.data["route"] == route
    assert ("punten" in workflow.data) == (route == "voldaan")
    ended = {t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED)}
    assert f"einde_{route}" in ended


def test_spiffworkflow_refuses_an_unsafe_condition():
    unsafe = GATEWAY_BPMN.replace('oordeel == "voldaan"', "oordeel.__class__")
    workflow = _workflow(unsafe, "beoordeling", make_script_engine())
    [task] = workflow.get_tasks(state=TaskState.READY)
    task.data.update(oordeel="voldaan", cijfer=8)
    task.run()
    with pytest.raises(Exception, match="oordeel.__class__") as caught:
        workflow.do_engine_steps()
    # SpiffWorkflow wraps it; the Dutch refusal is the exception's context.
    assert isinstance(caught.value.__context__, UnsafeExpression)


def test_spiffworkflow_timers_go_through_the_environment():
    seen = []

    def verleden(jaar):
        seen.append(jaar)
        return f"{jaar}-01-05T10:00:00+01:00"

    # Both timers lie in the past: the bare ISO literal (a NameError in SpiffWorkflow's own
    # environment) and the helper call with task data are due at once.
    workflow = _workflow(TIMER_BPMN, "wachten", make_script_engine({"verleden": verleden}))
    workflow.refresh_timers()
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert seen == [2021]


def test_environment_keeps_data_objects_out_of_task_data():
    environment = SafeScriptEnvironment(HELPERS)
    context = {"a": 1}
    environment.execute("b = a + extern", context, {"extern": 10})
    assert context == {"a": 1, "b": 11}
    assert environment.evaluate("a < extern", context, {"extern": 10}) is True
    assert environment.evaluate(" PT10S ", context) == " PT10S ".strip()
    assert environment.evaluate("P5D", {"P5D": "van de taak"}) == "van de taak"
