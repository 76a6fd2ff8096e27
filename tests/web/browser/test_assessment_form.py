"""An assessor fills in the assessment form in Chromium: the Dutch message for onvoldoende without a
justification (R25), the correction, the confirmation, and the dossier with the diagram."""

from __future__ import annotations

from processes.assessment import EXAMPLE_MODEL
from tests.support.walk import start_and_walk_to
from tests.web.browser.test_dossier_diagram import log_in

CRITERIA = [c["id"] for wp in EXAMPLE_MODEL["werkprocessen"] for c in wp["criteria"]]


def test_assessor_fills_in_corrects_and_sees_the_dossier(live_server, page, js_errors, world, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "beoordelen_roc")

    log_in(page, live_server, world.email("rocbeoordelaar_a"))
    page.click(f'a[href="/taken/{task_id}"]')
    assert page.locator("h1").inner_text().startswith("Beoordelen")

    for cid in CRITERIA:
        verdict = "onvoldoende" if cid == "w2c2" else "voldaan"
        page.check(f'input[name="beoordeling__{cid}__oordeel"][value="{verdict}"]')
    page.check('input[name="bevestiging"]')
    page.get_by_role("button", name="Opslaan en afronden").click()

    error = page.locator(".veld-fout", has_text="Een toelichting is verplicht bij onvoldoende.")
    error.wait_for(state="visible")
    assert "Het formulier bevat fouten" in page.locator(".melding-fout").first.inner_text()
    # What was filled in is still there.
    assert page.is_checked('input[name="beoordeling__w2c2__oordeel"][value="onvoldoende"]')

    page.fill('textarea[name="beoordeling__w2c2__toelichting"]', "Onvoldoende uitgelegd aan de cliënt.")
    if not page.is_checked('input[name="bevestiging"]'):
        page.check('input[name="bevestiging"]')
    page.get_by_role("button", name="Opslaan en afronden").click()
    page.wait_for_selector("text=De taak is afgerond.")

    page.goto(f"{live_server}/examens/{instance_id}")
    page.wait_for_selector("figure.procesdiagram.diagram-geladen")
    marked = page.locator("figure.procesdiagram .djs-element.huidige-stap")
    assert marked.count() == 1
    assert marked.get_attribute("data-element-id") == "beoordelen_praktijk"
    assessment = page.locator("section.beoordeling").first
    assert "Rik ROC" in assessment.inner_text()
    assert "Onvoldoende uitgelegd aan de cliënt." in assessment.inner_text()
    page.screenshot(path="/tmp/assessment-dossier.png", full_page=True)
    # The refused post answers 422 on purpose; the browser logs that, nothing else may go wrong.
    assert [e for e in js_errors if "status of 422" not in e] == []
