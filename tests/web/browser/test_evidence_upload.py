"""The student's evidence goes up in chunks with a progress bar, and a broken connection resumes
(static/upload.js in Chromium)."""

from __future__ import annotations

import hashlib
import os

from sqlalchemy import select

from processes.models import Attachment
from tests.support.walk import start_and_walk_to
from tests.web.browser.test_dossier_diagram import log_in

CHUNK = 16 * 1024


def test_a_chunk_lost_on_the_way_is_sent_again_and_the_file_arrives_whole(app, live_server, page, js_errors, world,
                                                                          uow_factory):
    app.config["EXAMENFLOW_UPLOAD_CHUNK_BYTES"] = CHUNK
    inst, task = start_and_walk_to(world, uow_factory, "bewijsstukken_uploaden")
    payload = os.urandom(5 * CHUNK + 123)
    sent, dropped = [], []

    def flaky(route):
        request = route.request
        if request.method == "PUT":
            offset = int(request.headers["upload-offset"])
            sent.append(offset)
            if offset == 2 * CHUNK and not dropped:
                dropped.append(offset)
                route.abort("connectionreset")
                return
        route.continue_()

    page.route("**/uploads/*", flaky)
    log_in(page, live_server, world.email("student_a"))
    page.goto(f"{live_server}/taken/{task}")
    assert "vanaf dan kun je niets meer" in page.inner_text(".bewijs-bij-taak")
    form = page.locator("form[data-kind=bewijs]")
    form.locator("input[type=file]").set_input_files(
        {"name": "video-uitvoering.mp4", "mimeType": "video/mp4", "buffer": payload})
    with page.expect_navigation(timeout=30_000):
        form.locator("button[type=submit]").click()
        page.wait_for_selector("text=Verbinding verbroken")
    # After the reload the step lists the file; the server holds exactly the bytes that were chosen.
    assert "video-uitvoering.mp4" in page.inner_text(".bewijs-bij-taak")
    assert dropped == [2 * CHUNK] and sent.count(2 * CHUNK) == 2
    with uow_factory() as uow:
        row = uow.session.scalars(select(Attachment).where(Attachment.instance_id == inst)).one()
        assert (row.original_name, row.content_type, row.kind) == ("video-uitvoering.mp4", "video/mp4", "bewijs")
        assert row.sha256 == hashlib.sha256(payload).hexdigest()
    assert [e for e in js_errors if "ERR_CONNECTION_RESET" not in e and "net::" not in e] == []


def test_a_file_over_the_limit_is_refused_in_the_page_before_sending(app, live_server, page, world, uow_factory):
    app.config["EXAMENFLOW_UPLOAD_MAX_BYTES"] = 64 * 1024
    inst, task = start_and_walk_to(world, uow_factory, "bewijsstukken_uploaden")
    puts = []
    page.route("**/uploads*", lambda route: (puts.append(route.request.method), route.continue_()))
    log_in(page, live_server, world.email("student_a"))
    page.goto(f"{live_server}/examens/{inst}")
    form = page.locator("form[data-kind=bewijs]")
    form.locator("input[type=file]").set_input_files(
        {"name": "te-groot.mov", "mimeType": "video/quicktime", "buffer": b"x" * (64 * 1024 + 1)})
    form.locator("button[type=submit]").click()
    message = form.locator(".upload-tekst")
    message.wait_for(state="visible")
    assert "te groot" in message.inner_text() and "64 kB per bestand" in message.inner_text()
    assert puts == []
