"""Forgotten password by e-mail through real SMTP (R5), the login throttle, deactivation."""

from __future__ import annotations

import re
from datetime import timedelta

from handlers.clock import use_clock
from processes import passwords
from processes.models import utcnow
from tests.conftest import PASSWORD, csrf_from, login


def _ask_reset(client, email: str):
    token = csrf_from(client, "/wachtwoord-vergeten")
    return client.post("/wachtwoord-vergeten", data={"email": email, "csrf_token": token}, follow_redirects=True)


def _link(message) -> str:
    body = message.get_content()
    return re.search(r"http://examens\.test(/wachtwoord-herstellen/\S+)", body).group(1)


def _set_password(client, path: str, new: str):
    token = csrf_from(client, "/wachtwoord-vergeten")
    return client.post(path, data={"wachtwoord": new, "wachtwoord_herhalen": new, "csrf_token": token})


def test_r5_reset_link_arrives_by_smtp_and_works_once(app, world, smtp):
    client = app.test_client()
    resp = _ask_reset(client, "student_a@test.nl")
    assert "Als er een account met dit e-mailadres bestaat" in resp.get_data(as_text=True)
    [mail] = smtp.to("student_a@test.nl")
    assert mail["Subject"] == "Nieuw wachtwoord voor Examenflow"
    path = _link(mail)
    assert client.get(path).status_code == 200
    assert _set_password(client, path, "nieuw-wachtwoord-1").status_code == 302
    login(app.test_client(), "student_a@test.nl", "nieuw-wachtwoord-1")
    # Used once: the same link is refused with a clear message.
    again = client.get(path)
    assert again.status_code == 400 and "al gebruikt" in again.get_data(as_text=True)
    resp = _set_password(client, path, "nog-een-ander-1")
    assert resp.status_code == 400 and "al gebruikt" in resp.get_data(as_text=True)


def test_r5_expired_link_is_refused(app, world, smtp):
    client = app.test_client()
    _ask_reset(client, "student_a@test.nl")
    path = _link(smtp.to("student_a@test.nl")[0])
    with use_clock(utcnow() + timedelta(hours=2)):
        resp = client.get(path)
        assert resp.status_code == 400 and "verlopen" in resp.get_data(as_text=True)
        assert _set_password(client, path, "nieuw-wachtwoord-1").status_code == 400
    resp = app.test_client().get("/wachtwoord-herstellen/verzonnen")
    assert resp.status_code == 400 and "ongeldig" in resp.get_data(as_text=True)


def test_r5_reset_page_answers_the_same_for_known_and_unknown_addresses(app, world, smtp):
    known = _ask_reset(app.test_client(), "student_a@test.nl")
    unknown = _ask_reset(app.test_client(), "niemand@test.nl")
    assert known.status_code == unknown.status_code == 200
    strip = re.compile(r'name="csrf_token" value="[^"]+"')
    assert strip.sub("", known.get_data(as_text=True)) == strip.sub("", unknown.get_data(as_text=True))
    assert len(smtp.messages) == 1


def test_r5_reset_answer_takes_as_long_for_an_unknown_address(app, world, smtp):
    import time

    from webapp.auth import RESET_ANSWER_SECONDS

    started = time.monotonic()
    _ask_reset(app.test_client(), "niemand@test.nl")
    assert time.monotonic() - started >= RESET_ANSWER_SECONDS


def test_reset_ends_other_sessions(app, world, smtp):
    other = app.test_client()
    login(other, "student_a@test.nl")
    client = app.test_client()
    _ask_reset(client, "student_a@test.nl")
    _set_password(client, _link(smtp.to("student_a@test.nl")[0]), "nieuw-wachtwoord-1")
    assert other.get("/taken").status_code == 302


def _try(client, email, password):
    token = csrf_from(client, "/inloggen")
    return client.post("/inloggen", data={"email": email, "wachtwoord": password, "csrf_token": token})


def test_login_is_throttled_after_ten_failures_in_dutch(app, world):
    client = app.test_client()
    for _ in range(passwords.MAX_FAILURES):
        assert _try(client, "student_a@test.nl", "fout").status_code == 401
    resp = _try(client, "student_a@test.nl", PASSWORD)
    assert resp.status_code == 429
    assert "Te veel mislukte inlogpogingen" in resp.get_data(as_text=True)
    # An unknown address is throttled the same way (the answer does not reveal it).
    for _ in range(passwords.MAX_FAILURES):
        _try(client, "niemand@test.nl", "fout")
    assert _try(client, "niemand@test.nl", "fout").status_code == 429
    # Other addresses are not affected; after the window the address may try again.
    assert _try(app.test_client(), "student_a2@test.nl", PASSWORD).status_code == 302
    with use_clock(utcnow() + passwords.WINDOW + timedelta(seconds=1)):
        assert _try(app.test_client(), "student_a@test.nl", PASSWORD).status_code == 302
