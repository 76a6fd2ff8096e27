"""The process editor in Chromium (issue 6's acceptance): a process owner changes the PvB's assessment
deadline from 5 to 10 working days, renames a lane to an unknown role and sees the error on that lane,
fixes it and deploys; a new exam gets 10 days, a running one keeps 5; the migration dry run lists the
running one and applying it is in its audit trail."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from handlers.clock import use_clock
from processes import runner
from processes.errors import ValidationFailed
from processes.models import AuditEvent, Deadline
from tests.support.walk import open_task, start_and_walk_to
from tests.web.browser.test_dossier_diagram import log_in

ENDED = datetime.fromisoformat("2026-04-23T10:00:00+02:00")
FIVE_DAYS = datetime.fromisoformat("2026-05-01T10:00:00+02:00")
TEN_DAYS = datetime.fromisoformat("2026-05-08T10:00:00+02:00")


def assessment_due(uow_factory, instance_id: int) -> datetime:
    with uow_factory() as uow:
        return uow.session.scalars(select(Deadline.due_at).where(Deadline.instance_id == instance_id,
                                                                 Deadline.kind == "beoordeling")).one()


def select_element(page, element_id: str) -> None:
    page.evaluate("""id => {
        const modeler = window.examenflowEditor;
        modeler.get('selection').select(modeler.get('elementRegistry').get(id));
    }""", element_id)


def open_group(page, group_id: str) -> None:
    header = page.locator(f'[data-group-id="group-{group_id}"] .bio-properties-panel-group-header')
    if "open" not in (header.get_attribute("class") or "").split():
        header.click()


def test_owner_changes_deadline_fixes_a_lane_deploys_and_migrates(live_server, page, js_errors, world,
                                                                  uow_factory):
    with use_clock(ENDED):
        running, _ = start_and_walk_to(world, uow_factory, "bewijsstukken_controleren")
    assert assessment_due(uow_factory, running) == FIVE_DAYS

    log_in(page, live_server, world.email("commissie_a"))
    page.click("text=Processen")
    page.click(f'a[href="/processen/{world.schools["a"]}/pvb"]')
    page.wait_for_selector("#proces-editor.editor-geladen")
    assert page.locator(".editor-canvas .bjs-powered-by").is_visible(), "het bpmn.io-watermerk blijft zichtbaar"

    # The deadline: the boundary timer's value in the properties panel.
    select_element(page, "termijn_beoordeling")
    page.wait_for_selector('[data-group-id="group-timer"]')
    open_group(page, "timer")
    value = page.locator("#bio-properties-panel-timerEventDefinitionValue")
    assert value.input_value() == "add_working_days(uitvoering_einde, 5)"
    value.fill("add_working_days(uitvoering_einde, 10)")
    value.press("Tab")
    page.wait_for_timeout(600)  # the panel writes after its debounce

    # A lane renamed to a role that does not exist: the error is shown on that lane.
    select_element(page, "baan_examencommissie")
    page.wait_for_selector('[data-group-id="group-examenflow"]')  # the panel shows the lane now
    open_group(page, "general")
    page.locator("#bio-properties-panel-name").fill("examenraad")
    page.wait_for_timeout(600)  # the panel writes after its debounce
    page.click("button.editor-opslaan")
    lane = page.locator('.djs-element.editor-fout[data-element-id="baan_examencommissie"]')
    lane.wait_for()
    note = page.locator('.editor-fout-melding[data-element-id="baan_examencommissie"]')
    assert "Onbekende rol 'examenraad'" in note.inner_text()
    assert page.locator(".editor-bevindingen li").count() == 1

    # Fixed with the role list of Examenflow's own group.
    select_element(page, "baan_examencommissie")
    open_group(page, "examenflow")
    page.select_option("#bio-properties-panel-examenflow-rol", "examencommissie")
    page.wait_for_timeout(300)
    page.click("button.editor-opslaan")
    page.wait_for_selector(".editor-status:has-text('Geen fouten gevonden')")
    assert page.locator(".djs-element.editor-fout").count() == 0

    page.fill("#wijziging", "Beoordelen binnen 10 werkdagen")
    page.check("#bevestigd")
    with page.expect_navigation():
        page.click("button.editor-deployen")
    assert "/versies" in page.url
    assert "Versie 2 is in gebruik genomen" in page.inner_text("main")

    with use_clock(ENDED):
        new, _ = start_and_walk_to(world, uow_factory, "bewijsstukken_controleren", student="student_a2")
    assert assessment_due(uow_factory, new) == TEN_DAYS
    assert assessment_due(uow_factory, running) == FIVE_DAYS

    with page.expect_navigation():
        page.click("a.migratie-link")
    row = page.locator(f'tr[data-instance="{running}"]')
    assert "termijn_beoordeling" in row.inner_text()
    assert page.locator("table.proefrun tbody tr").count() == 1
    page.check("#bevestigd")
    with page.expect_navigation():
        page.click("button.migratie-toepassen")
    assert "1 examen(s) verplaatst" in page.inner_text("main")
    assert page.locator('table.logboek tr[data-action="instances_migrated"]').count() == 1
    with uow_factory() as uow:
        last = uow.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == running)
                                   .order_by(AuditEvent.seq.desc())).first()
        assert (last.action, last.actor_id, last.role) == ("instance_migrated", world.users["commissie_a"],
                                                           "examencommissie")
    assert js_errors == []


def test_a_new_required_field_in_the_form_editor_shows_in_the_preview_and_is_enforced(
        live_server, page, js_errors, world, uow_factory):
    log_in(page, live_server, world.email("commissie_a"))
    page.goto(f"{live_server}/processen/{world.schools['a']}/pvb/formulieren/opdracht_aanmaken")
    page.wait_for_selector("#formulier-editor.fe-voorbeeld-klaar")
    assert page.locator(".fe-voorbeeld input[name=titel]").count() == 1

    page.click("button.fe-veld-toevoegen")
    field = page.locator("li.fe-veld").last
    field.locator(".fe-naam").fill("werkproces")
    field.locator(".fe-label").fill("Werkproces")
    field.locator(".fe-verplicht").check()
    page.wait_for_selector('.fe-voorbeeld input[name="werkproces"]')
    label = page.locator('.fe-voorbeeld label[for="veld-werkproces"], .fe-voorbeeld label:has-text("Werkproces")')
    assert "(verplicht)" in label.first.inner_text()

    # A person field names the role its people hold.
    page.click("button.fe-veld-toevoegen")
    person = page.locator("li.fe-veld").last
    person.locator(".fe-naam").fill("mentor")
    person.locator(".fe-label").fill("Mentor")
    person.locator(".fe-soort").select_option("person")
    person.locator(".fe-rol").select_option("roc_begeleider")
    page.wait_for_selector('.fe-voorbeeld select[name="mentor"]')
    assert not page.locator("#formulier-editor.fe-ongeldig").count()

    page.click("button.fe-opslaan")
    page.wait_for_selector(".fe-status:has-text('opgeslagen')")
    page.goto(f"{live_server}/processen/{world.schools['a']}/pvb")
    page.wait_for_selector("#proces-editor.editor-geladen")
    page.fill("#wijziging", "Werkproces verplicht bij het aanmaken")
    page.check("#bevestigd")
    with page.expect_navigation():
        page.click("button.editor-deployen")
    assert "Versie 2 is in gebruik genomen" in page.inner_text("main")

    new = runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"],
                           uow_factory()).instance_id
    data = {"titel": "T", "opdrachttekst": "Tekst", "gewenste_einddatum": "2027-01-01"}
    with pytest.raises(ValidationFailed) as exc:
        runner.complete_task(open_task(uow_factory, new).id, world.users["begeleider_a"], data, uow_factory())
    assert exc.value.errors == {"werkproces": ["Dit veld is verplicht."]}
    assert js_errors == []


def test_a_gateway_flow_reads_a_school_setting_chosen_from_a_list(live_server, page, js_errors, world):
    log_in(page, live_server, world.email("commissie_a"))
    page.goto(f"{live_server}/processen/{world.schools['a']}/pvb")
    page.wait_for_selector("#proces-editor.editor-geladen")
    select_element(page, "flow_bewijs_controleren")
    page.wait_for_selector('[data-group-id="group-examenflow"]')
    open_group(page, "examenflow")
    setting = page.locator("#bio-properties-panel-examenflow-instelling")
    assert setting.input_value() == "bewijsstukken_gebruiken:ja"
    setting.select_option("een_beoordelaar_toegestaan:nee")
    body = page.evaluate("""() => window.examenflowEditor.get('elementRegistry')
        .get('flow_bewijs_controleren').businessObject.conditionExpression.body""")
    assert body == "een_beoordelaar_toegestaan != True"
    assert js_errors == []
