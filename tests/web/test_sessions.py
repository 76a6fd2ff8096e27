"""Sessions: a fresh one at login, ended server-side, a deactivated user refused at once."""

from __future__ import annotations

from processes import accounts
from tests.conftest import csrf_from, login


def test_login_with_a_wrong_password_is_refused_in_dutch(app, world):
    client = app.test_client()
    token = csrf_from(client, "/inloggen")
    resp = client.post("/inloggen", data={"email": "student_a@test.nl", "wachtwoord": "fout", "csrf_token": token})
    assert resp.status_code == 401
    assert "E-mailadres of wachtwoord klopt niet." in resp.get_data(as_text=True)


def test_inbox_needs_login(app):
    resp = app.test_client().get("/taken")
    assert resp.status_code == 302 and "/inloggen" in resp.headers["Location"]


def test_ending_all_sessions_logs_out_every_device(app, world, uow_factory):
    phone, laptop = app.test_client(), app.test_client()
    login(phone, "student_a@test.nl")
    login(laptop, "student_a@test.nl")
    assert laptop.get("/taken").status_code == 200
    token = csrf_from(phone, "/taken")
    assert phone.post("/uitloggen-overal", data={"csrf_token": token}).status_code == 302
    assert laptop.get("/taken").status_code == 302


def test_deactivated_user_is_refused_at_once(app, world, uow_factory):
    from processes.models import User

    client = app.test_client()
    login(client, "student_a@test.nl")
    with uow_factory() as uow:
        uow.session.get(User, world.users["student_a"]).active = False
        uow.commit()
    assert client.get("/taken").status_code == 302


def test_session_is_fresh_at_login(app, world):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    login(client, "student_a@test.nl")
    with client.session_transaction() as sess:
        assert "planted" not in sess


def test_password_is_stored_as_argon2id(world, uow_factory):
    from processes.models import User

    with uow_factory() as uow:
        assert uow.session.get(User, world.users["student_a"]).password_hash.startswith("$argon2id$")
    assert accounts.authenticate("student_a@test.nl", "geheim-wachtwoord", uow_factory()) is not None
