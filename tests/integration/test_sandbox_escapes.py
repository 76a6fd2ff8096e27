"""Known ways out of a Python sandbox, tried as gateway conditions, timer expressions and scripts in a
diagram a process owner deploys (issue 6, design 8). Each is refused at validation (with the element it
is in) or stopped at run time; nothing escapes, nothing runs long, and the server keeps answering."""

from __future__ import annotations

import time
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from processes.engine import default_engine
from processes.expressions import UnsafeExpression
from processes.process_editor import validate_bundle
from tests.conftest import csrf_from, login

CANARY = Path("/tmp/examenflow-sandbox-canary")

# (expression, what it tries)
EXPRESSIONS = [
    ("().__class__.__base__.__subclasses__()", "object's subclasses"),
    ("__import__('os').system('touch /tmp/examenflow-sandbox-canary')", "import os"),
    ("open('/etc/passwd').read()", "read a file"),
    ("(x for x in [1]).gi_frame.f_back.f_globals", "generator frames"),
    ("'{0.__class__.__mro__}'.format(1)", "format-string attribute access"),
    ("f'{pogingen.__class__}'", "f-string attribute access"),
    ("10**10**9", "huge power"),
    ("'a'*10**10", "huge repetition"),
    ("(lambda: 1)()", "a lambda"),
    ("[x for x in pogingen]", "a comprehension"),
    ("globals()['__builtins__']", "globals"),
    ("getattr(1, '__class__')", "getattr"),
    ("eval('1+1')", "eval"),
    ("compile('1', 'x', 'eval')", "compile"),
    ("type(1).__subclasses__(int)", "type"),
    ("pogingen.append(1)", "a method call"),
    ("nu.__globals__", "a helper's globals"),
    ("__builtins__", "the builtins"),
    ("(y := 1)", "walrus"),
    ("'%9999999999s' % 'a'", "huge %-format width"),
    ("vars()", "vars"),
    ("breakpoint()", "breakpoint"),
    ("len.__self__.open", "a builtin's module"),
    ("[1] * 10**8", "huge list repetition (stopped at run time)"),
    ("str(cijfer * 10**4000 * 10**4000)", "a number too large to print (stopped at run time)"),
    ("pogingen * 10**7", "repetition of data (stopped at run time)"),
]
SCRIPTS = [
    ("import os\nos.system('touch /tmp/examenflow-sandbox-canary')", "import"),
    ("while True:\n    x = 1", "an endless loop"),
    ("for i in pogingen:\n    x = i", "a loop"),
    ("def f():\n    return f()\nx = f()", "recursion"),
    ("class A:\n    pass", "a class"),
    ("x = ().__class__.__bases__[0].__subclasses__()", "subclasses"),
    ("try:\n    x = 1\nexcept Exception:\n    pass", "try"),
    ("with open('/etc/passwd') as f:\n    x = f.read()", "with open"),
    ("global cijfer\ncijfer = 1", "global"),
    ("x = 9**9**9", "huge power"),
    ("x = [1]\nx = x * 10**8", "huge repetition (stopped at run time)"),
    ("x = 'a' * 1000000\ny = x + x", "huge concatenation (stopped at run time)"),
]

TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://examenflow.nl/test">
  <bpmn:process id="ontsnapping" isExecutable="true">
    <bpmn:startEvent id="begin"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="rekenen" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="keuze" default="f4">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f1" sourceRef="begin" targetRef="rekenen" />
    <bpmn:sequenceFlow id="f2" sourceRef="rekenen" targetRef="keuze" />
    <bpmn:sequenceFlow id="f3" sourceRef="keuze" targetRef="wachten">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="keuze" targetRef="klaar" />
    <bpmn:intermediateCatchEvent id="wachten">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:timerEventDefinition id="wachten_def">
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">{timer}</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f5" sourceRef="wachten" targetRef="klaar" />
    <bpmn:endEvent id="klaar"><bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""
SAFE = {"script": "cijfer = 7.5\npogingen = [6.0, 7.5]", "condition": "cijfer &gt; 5",
        "timer": "add_working_days(nu(), 1)"}


def diagram(**parts: str) -> bytes:
    values = dict(SAFE)
    values.update({k: escape(v) for k, v in parts.items()})
    return TEMPLATE.format(**values).encode()


CASES = (
    [pytest.param("condition", src, "f3", id=f"voorwaarde: {what}") for src, what in EXPRESSIONS]
    + [pytest.param("timer", src, "wachten", id=f"timer: {what}") for src, what in EXPRESSIONS]
    + [pytest.param("script", src, "rekenen", id=f"script: {what}") for src, what in SCRIPTS]
)


def test_there_are_at_least_twenty_attempts_per_place():
    assert len(EXPRESSIONS) >= 20 and len(SCRIPTS) >= 10


def test_the_safe_diagram_runs():
    assert validate_bundle(diagram(), "ontsnapping", {}) == []
    compiled = default_engine().compile({"ontsnapping.bpmn": diagram()}, "ontsnapping")
    wf = default_engine().new_workflow("ontsnapping:veilig", compiled.spec_json)
    default_engine().run(wf, lambda element_id: None)
    assert default_engine().waiting_timers(wf)


@pytest.mark.parametrize(("place", "source", "element_id"), CASES)
def test_escape_is_refused_at_validation_or_stopped_at_run_time(place, source, element_id):
    CANARY.unlink(missing_ok=True)
    xml = diagram(**{place: source})
    started = time.monotonic()
    findings = validate_bundle(xml, "ontsnapping", {})
    if findings:
        assert [f.element_id for f in findings] == [element_id], findings
        assert "Niet toegestaan" in findings[0].message or "Ongeldige" in findings[0].message
    else:
        # Valid on paper: the runtime guards must stop it, with the refusal, not a crash or a hang.
        engine = default_engine()
        compiled = engine.compile({"ontsnapping.bpmn": xml}, "ontsnapping")
        wf = engine.new_workflow(f"ontsnapping:{hash(source)}", compiled.spec_json)
        with pytest.raises(Exception) as exc:
            engine.run(wf, lambda element_id: None)
        chain = [exc.value, exc.value.__cause__, exc.value.__context__]
        assert any(isinstance(e, UnsafeExpression) for e in chain), repr(exc.value)
    assert time.monotonic() - started < 5
    assert not CANARY.exists()


def test_the_server_answers_every_attempt_and_stays_responsive(client, world):
    login(client, world.email("commissie_a"))
    token = csrf_from(client, f"/processen/{world.schools['a']}/pvb")
    for place, cases in (("condition", EXPRESSIONS), ("timer", EXPRESSIONS), ("script", SCRIPTS)):
        for source, _what in cases:
            xml = diagram(**{place: source}).replace(b'id="ontsnapping"', b'id="pvb"')
            started = time.monotonic()
            resp = client.post(f"/processen/{world.schools['a']}/pvb/controleren", data=xml,
                               headers={"Content-Type": "application/xml", "X-CSRFToken": token})
            assert resp.status_code == 200 and time.monotonic() - started < 5, source
    assert client.get("/taken").status_code == 200
    assert not CANARY.exists()
