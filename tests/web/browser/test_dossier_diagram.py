"""The exam dossier shows the process diagram with the current step marked (bpmn-js in Chromium)."""

from __future__ import annotations

from processes import runner
from tests.conftest import PASSWORD


def log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/inloggen")
    page.fill("#email", email)
    page.fill("#wachtwoord", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/inloggen" not in page.url, "inloggen mislukt"


def start_exam(world, uow_factory) -> int:
    return runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"],
                            uow_factory()).instance_id


def test_dossier_shows_diagram_with_current_step(live_server, page, js_errors, world, uow_factory):
    instance_id = start_exam(world, uow_factory)

    log_in(page, live_server, world.email("student_a"))
    page.goto(f"{live_server}/examens/{instance_id}")

    diagram = page.locator("figure.procesdiagram")
    diagram.locator(".diagram-canvas svg").first.wait_for(state="visible")
    page.wait_for_selector("figure.procesdiagram.diagram-geladen")

    marked = diagram.locator(".djs-element.huidige-stap")
    assert marked.count() == 1
    assert marked.get_attribute("data-element-id") == "opdracht_aanmaken"
    assert diagram.locator('.djs-element[data-element-id="opdracht_verwerven"]').count() == 1
    assert not diagram.locator(".diagram-fallback").is_visible()
    assert diagram.locator(".bjs-powered-by").is_visible(), "het bpmn.io-watermerk moet zichtbaar blijven"
    page.screenshot(path="/tmp/dossier.png", full_page=True)
    assert js_errors == []


def test_dossier_says_so_when_the_viewer_cannot_load(live_server, page, world, uow_factory):
    instance_id = start_exam(world, uow_factory)
    page.route("**/vendor/bpmn-js/*.js", lambda route: route.abort())

    log_in(page, live_server, world.email("student_a"))
    page.goto(f"{live_server}/examens/{instance_id}")

    page.wait_for_selector("figure.procesdiagram.diagram-fout")
    fallback = page.locator("figure.procesdiagram .diagram-fallback")
    assert fallback.is_visible()
    assert "kan hier niet worden getoond" in fallback.inner_text()
    assert page.locator("figure.procesdiagram svg").count() == 0
