"""Area "Processen" over HTTP: the editor's endpoints, deploy with confirmation, versions, migration,
the form editor's preview and a form change that the server enforces after deploy (issue 6)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

import forms as formlib
from processes import runner
from processes.errors import ValidationFailed
from processes.models import AuditEvent, ProcessChange
from processes.versions import SHIPPED_BPMN_DIR
from tests.conftest import csrf_from, login
from tests.support.walk import open_task


def _pvb() -> str:
    return (SHIPPED_BPMN_DIR / "pvb.bpmn").read_text()


@pytest.fixture
def owner(client, world):
    login(client, world.email("commissie_a"))
    return client


def _token(client, world) -> str:
    return csrf_from(client, f"/processen/{world.schools['a']}/pvb")


def _post_xml(client, world, path: str, xml: str, token: str):
    return client.post(f"/processen/{world.schools['a']}/pvb/{path}", data=xml.encode(),
                       headers={"Content-Type": "application/xml", "X-CSRFToken": token})


def test_menu_and_editor_page_for_process_owners_only(client, world):
    login(client, world.email("begeleider_a"))
    assert "Processen" not in client.get("/taken").get_data(as_text=True)
    assert client.get(f"/processen/{world.schools['a']}/pvb").status_code == 403
    login(client, world.email("commissie_a"))
    assert ">Processen</a>" in client.get("/taken").get_data(as_text=True)
    page = client.get(f"/processen/{world.schools['a']}/pvb").get_data(as_text=True)
    assert 'id="proces-editor"' in page and "vendor/editor/editor.js" in page
    assert client.get(f"/processen/{world.schools['b']}/pvb").status_code == 403
    assert client.get(f"/processen/{world.schools['a']}/bestaat_niet").status_code == 404
    xml = client.get(f"/processen/{world.schools['a']}/pvb/concept.bpmn").get_data(as_text=True)
    assert "termijn_beoordeling" in xml


def test_save_reports_findings_per_element_and_bad_input_is_a_4xx(owner, world):
    token = _token(owner, world)
    resp = _post_xml(owner, world, "concept", _pvb().replace('name="examencommissie"', 'name="examenraad"', 1),
                     token)
    assert resp.status_code == 200
    assert [f["element_id"] for f in resp.get_json()["findings"]] == ["baan_examencommissie"]
    for body in ("<oeps", "niet eens xml", "<?xml version='1.0'?><a/>", '<!DOCTYPE x [<!ENTITY e "x">]><a>&e;</a>'):
        resp = _post_xml(owner, world, "controleren", body, token)
        assert resp.status_code == 200 and resp.get_json()["findings"], body
    assert _post_xml(owner, world, "controleren", "", token).status_code == 400
    resp = owner.post(f"/processen/{world.schools['a']}/pvb/concept", data=b"<a/>",
                      headers={"Content-Type": "application/xml"})
    assert resp.status_code == 400  # no CSRF token
    resp = _post_xml(owner, world, "controleren", "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"), token)
    assert resp.status_code < 500


def test_deploy_needs_a_confirmation_and_a_note_then_versions_diff_and_migration(owner, world, uow_factory):
    running = runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"],
                               uow_factory()).instance_id
    token = _token(owner, world)
    ten = _pvb().replace("add_working_days(uitvoering_einde, 5)", "add_working_days(uitvoering_einde, 10)")
    assert _post_xml(owner, world, "concept", ten, token).get_json() == {"findings": []}
    base = f"/processen/{world.schools['a']}/pvb"
    resp = owner.post(f"{base}/deployen", data={"csrf_token": token, "wijziging": "10 dagen"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(base)  # not confirmed
    resp = owner.post(f"{base}/deployen", data={"csrf_token": token, "bevestigd": "ja", "wijziging": " "})
    assert resp.status_code == 422 and "wijzigingsnotitie" in resp.get_data(as_text=True)
    resp = owner.post(f"{base}/deployen", data={"csrf_token": token, "bevestigd": "ja", "wijziging": "10 dagen"})
    assert resp.status_code == 303
    page = owner.get(f"{base}/versies").get_data(as_text=True)
    assert "10 dagen" in page and "Carla Commissie" in page and "(in gebruik)" in page
    compare = re.search(r'href="([^"]+/versies/\d+/\d+)"', page).group(1)
    diff = owner.get(compare).get_data(as_text=True)
    assert "termijn_beoordeling" in diff and "Gewijzigd (1)" in diff
    plan_url = re.search(r'class="migratie-link" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    plan = owner.get(plan_url).get_data(as_text=True)
    assert f'data-instance="{running}"' in plan
    target = int(plan_url.rsplit("=", 1)[1])
    resp = owner.post(f"{base}/migratie", data={"csrf_token": token, "naar": target, "examen": running})
    assert resp.status_code == 303  # not confirmed: nothing moved
    resp = owner.post(f"{base}/migratie", data={"csrf_token": token, "naar": target, "examen": "x", "bevestigd": "ja"})
    assert resp.status_code == 400
    resp = owner.post(f"{base}/migratie",
                      data={"csrf_token": token, "naar": target, "examen": running, "bevestigd": "ja"})
    assert resp.status_code == 303
    with uow_factory() as uow:
        actions = uow.session.scalars(select(AuditEvent.action).where(AuditEvent.instance_id == running)).all()
        assert actions[-1] == "instance_migrated"
        assert uow.session.scalars(select(ProcessChange.action)).all()[-1] == "instances_migrated"
    assert owner.get(f"{base}/migratie?naar=abc").status_code == 400
    assert owner.get(f"{base}/versies/999999.bpmn").status_code == 404


def test_a_new_required_field_shows_in_the_preview_and_is_enforced_after_deploy(owner, world, uow_factory):
    base = f"/processen/{world.schools['a']}/pvb"
    token = _token(owner, world)
    page = owner.get(f"{base}/formulieren/opdracht_aanmaken").get_data(as_text=True)
    raw = json.loads(re.search(r"data-form='([^']+)'", page).group(1).replace("&#39;", "'"))
    raw["fields"].append({"name": "werkproces", "label": "Werkproces", "type": "text", "required": True})
    headers = {"X-CSRFToken": token}
    preview = owner.post(f"{base}/formulieren/opdracht_aanmaken/voorbeeld", json=raw, headers=headers)
    assert preview.status_code == 200
    assert 'name="werkproces"' in preview.get_json()["html"] and "(verplicht)" in preview.get_json()["html"]
    bad = owner.post(f"{base}/formulieren/opdracht_aanmaken/voorbeeld", json={**raw, "fields": [{"name": "X"}]},
                     headers=headers)
    assert bad.status_code == 422 and bad.get_json()["message"]
    assert owner.post(f"{base}/formulieren/opdracht_aanmaken", data="[1", headers={
        **headers, "Content-Type": "application/json"}).status_code == 422
    assert owner.post(f"{base}/formulieren/opdracht_aanmaken", json=raw, headers=headers).status_code == 200
    resp = owner.post(f"{base}/deployen", data={"csrf_token": token, "bevestigd": "ja", "wijziging": "werkproces"})
    assert resp.status_code == 303

    new = runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"],
                           uow_factory()).instance_id
    task = open_task(uow_factory, new)
    data = {"titel": "T", "opdrachttekst": "Tekst", "gewenste_einddatum": "2027-01-01"}
    with pytest.raises(ValidationFailed) as exc:
        runner.complete_task(task.id, world.users["begeleider_a"], data, uow_factory())
    assert exc.value.errors == {"werkproces": ["Dit veld is verplicht."]}
    # School B keeps the shipped form.
    other = runner.start_pvb(world.schools["b"], world.students["student_b"], world.users["begeleider_b"],
                             uow_factory()).instance_id
    runner.complete_task(open_task(uow_factory, other).id, world.users["begeleider_b"], data, uow_factory())
    assert formlib.parse_form(raw).field("werkproces").required


CAMUNDA_MODELER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:modeler="http://camunda.org/schema/modeler/1.0"
  id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler"
  exporterVersion="5.30.0" modeler:executionPlatform="Camunda Platform">
  <bpmn:process id="pvb" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>Flow_1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="Activity_mail" camunda:class="nl.school.Mail">
      <bpmn:incoming>Flow_1</bpmn:incoming><bpmn:outgoing>Flow_2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:exclusiveGateway id="Gateway_1" default="Flow_4">
      <bpmn:incoming>Flow_2</bpmn:incoming><bpmn:outgoing>Flow_3</bpmn:outgoing><bpmn:outgoing>Flow_4</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Activity_mail" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Activity_mail" targetRef="Gateway_1" />
    <bpmn:sequenceFlow id="Flow_3" sourceRef="Gateway_1" targetRef="Event_wachten">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >${approved &amp;&amp; score gt 5}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Flow_4" sourceRef="Gateway_1" targetRef="Activity_dmn" />
    <bpmn:intermediateCatchEvent id="Event_wachten">
      <bpmn:incoming>Flow_3</bpmn:incoming><bpmn:outgoing>Flow_5</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerEventDefinition_1">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P5D</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:businessRuleTask id="Activity_dmn" camunda:decisionRef="beslis">
      <bpmn:incoming>Flow_4</bpmn:incoming><bpmn:outgoing>Flow_6</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="Flow_5" sourceRef="Event_wachten" targetRef="Event_eind" />
    <bpmn:sequenceFlow id="Flow_6" sourceRef="Activity_dmn" targetRef="Event_eind" />
    <bpmn:endEvent id="Event_eind">
      <bpmn:incoming>Flow_5</bpmn:incoming><bpmn:incoming>Flow_6</bpmn:incoming>
    </bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_diagram_from_camunda_modeler_is_reported_per_element(owner, world):
    resp = _post_xml(owner, world, "controleren", CAMUNDA_MODELER, _token(owner, world))
    assert resp.status_code == 200
    findings: dict[str, str] = {}
    for f in resp.get_json()["findings"]:
        findings[f["element_id"]] = findings.get(f["element_id"], "") + " " + f["message"]
    assert "camunda:class" in findings["Activity_mail"]
    assert "score > 5" in findings["Flow_3"] and "JUEL" in findings["Flow_3"]  # with the Python form
    assert "DMN" in findings["Activity_dmn"]
    assert "Event_wachten" not in findings  # a bare ISO literal is accepted


def test_odd_input_on_the_editor_pages_is_a_4xx_never_a_500(owner, world):
    a, b = world.schools["a"], world.schools["b"]
    token = _token(owner, world)
    gets = ["/processen/abc/pvb", f"/processen/{a}/pvb/formulieren/bestaat_niet",
            f"/processen/{a}/pvb/versies/1/999", f"/processen/{a}/pvb/migratie",
            f"/processen/{a}/pvb/migratie?naar=999999", f"/processen/{a}/versie_goedkeuren/migratie?naar=1",
            f"/processen/{b}/pvb/versies", f"/processen/{a}/x/versies", f"/processen/{a}/pvb/versies/abc.bpmn",
            f"/processen/{a}/versie_goedkeuren/versies/1.bpmn"]
    for path in gets:
        resp = owner.get(path)
        assert 400 <= resp.status_code < 500, (path, resp.status_code)
    base = f"/processen/{a}/pvb"
    json_headers = {"X-CSRFToken": token}
    posts = [
        owner.post(f"{base}/deployen", data={"csrf_token": token, "bevestigd": "ja", "wijziging": "x"}),
        owner.post(f"{base}/deployen", data={"csrf_token": token, "bevestigd": "ja", "wijziging": "x" * 3000}),
        owner.post(f"{base}/formulieren/opdracht_aanmaken", json={"key": "ander"}, headers=json_headers),
        owner.post(f"{base}/formulieren/opdracht_aanmaken", json=[1, 2], headers=json_headers),
        owner.post(f"{base}/formulieren/opdracht_aanmaken/voorbeeld", json="x", headers=json_headers),
        owner.post(f"{base}/formulieren/opdracht_aanmaken/voorbeeld", json={"key": 1, "fields": None},
                   headers=json_headers),
        owner.post(f"{base}/migratie", data={"csrf_token": token, "naar": "999999", "examen": "1", "bevestigd": "ja"}),
        owner.post(f"{base}/migratie", data={"csrf_token": token, "naar": "abc", "bevestigd": "ja"}),
        owner.post(f"/processen/{b}/pvb/concept", data=b"<a/>",
                   headers={"Content-Type": "application/xml", "X-CSRFToken": token}),
        owner.post(f"{base}/concept", data=b"x" * (3 * 1024 * 1024),
                   headers={"Content-Type": "application/xml", "X-CSRFToken": token}),
    ]
    for resp in posts:
        assert 400 <= resp.status_code < 500, (resp.request.path, resp.status_code, resp.get_data(as_text=True)[:300])


def test_the_settings_offered_for_gateways_are_the_ones_an_exam_starts_with():
    from processes.runner import SETTING_DEFAULTS
    from webapp.editor import GATEWAY_SETTINGS

    assert set(GATEWAY_SETTINGS) == set(SETTING_DEFAULTS)
