"""Cancelling an exam moment on the examenbureau's moment page: a required reason and a ticked
confirmation, CSRF protected; refusals in Dutch with nothing changed; "Geannuleerd" wherever the moment
is listed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from processes.models import ExamMoment
from tests.support.api import api_for
from tests.support.moments import AFTER, CLOSES, NOW, OPENS, STARTS, do, enrolments_of, make_exam, plan, register
from tests.web.test_exam_moment_pages import at, client_for, post, text_of  # noqa: F401 — `at` is a fixture

REASON = "Storing in het examennetwerk <b>bevestigd</b>"


@pytest.fixture
def sitting(world, uow_factory, at):  # noqa: F811
    """A self-enrolment exam whose first moment has student_a and student_a2; a second moment beside it."""
    setup = make_exam(world, uow_factory, enrolment_variant="zelf")
    plan(world, uow_factory, setup.version_id, starts_at=STARTS + timedelta(days=14), enrol_from=OPENS,
         enrol_until=CLOSES + timedelta(days=7))
    regs = []
    for student in ("student_a", "student_a2"):
        reg_id, inst = register(world, uow_factory, setup, student=student)
        do(world, uow_factory, inst, "go_geven")
        do(world, uow_factory, inst, "examenmoment_kiezen", {"moment": setup.moment_id}, student=student)
        regs.append(reg_id)
    return setup, regs


def _page(setup) -> str:
    return f"/examenbank/momenten/{setup.moment_id}"


def _cancel_path(setup) -> str:
    return f"/examenbank/momenten/{setup.moment_id}/annuleren"


def _moment_row(uow_factory, setup) -> tuple:
    with uow_factory() as uow:
        m = uow.session.get(ExamMoment, setup.moment_id)
        return m.enrolled, m.cancelled_at, m.cancel_reason


def _statuses(uow_factory, regs) -> list[str]:
    return [e.status for reg in regs for e in enrolments_of(uow_factory, reg)]


def test_the_bureau_cancels_with_reason_and_confirmation_and_sees_how_many_were_unenrolled(
        app, world, uow_factory, sitting):
    setup, regs = sitting
    bureau = client_for(app, "bureau_a")
    page = text_of(bureau.get(_page(setup)))
    assert "Moment annuleren" in page and "Alle ingeschreven studenten (2) worden afgemeld" in page
    resp = post(bureau, _cancel_path(setup), {"reden": REASON, "bevestiging": "on"}, _page(setup))
    assert resp.status_code == 303 and resp.headers["Location"].endswith(_page(setup))
    shown = text_of(bureau.get(resp.headers["Location"]))
    assert "Het examenmoment is geannuleerd; 2 studenten zijn afgemeld" in shown
    assert "Geannuleerd" in shown and "Bea Bureau" in shown and "10-01-2027 13:00" in shown
    assert "Storing in het examennetwerk &lt;b&gt;bevestigd&lt;/b&gt;" in shown  # escaped, never markup
    assert 'action="' + _cancel_path(setup) not in shown  # no second form
    assert _moment_row(uow_factory, setup)[0] == 0
    # Who was on the moment stays listed, as afgemeld, for the bureau's follow-up.
    assert "Studenten op dit moment (afgemeld)" in shown and shown.count(">afgemeld</td>") == 2
    assert _statuses(uow_factory, regs) == ["afgemeld", "afgemeld"]

    overview = text_of(bureau.get("/examenbank"))
    assert "Geannuleerd" in overview and "Storing in het examennetwerk" in overview
    assert "Gesloten (geannuleerd)" in overview

    mine = text_of(client_for(app, "student_a").get("/mijn-examens"))
    assert "Geannuleerd" in mine and "Storing in het examennetwerk" in mine and "dit kost geen poging" in mine
    assert ">Examenmoment kiezen<" in mine and "0 van 2 gebruikt" in mine
    task_page = text_of(client_for(app, "student_a").get(re.search(r'href="(/taken/\d+)">Examenmoment kiezen<',
                                                                   mine).group(1)))
    assert "Geannuleerd" in task_page and "Storing in het examennetwerk" in task_page
    assert f'value="{setup.moment_id}"' not in task_page and "08-02-2027 10:00" in task_page  # only the other one
    api = api_for(app, world.users["student_a"], uow_factory)
    [row] = [r for r in api.get("/api/v1/mijn-examens").get_json() if r["code"] == "NED-2F"]
    assert "Storing in het examennetwerk" in row["cancelled_moment"] and row["moment"] is None

    # Twice: a 409 with a message, and no second round.
    again = post(bureau, _cancel_path(setup), {"reden": "Nog eens", "bevestiging": "on"}, "/examenbank")
    assert again.status_code == 409 and "al geannuleerd" in text_of(again)
    assert _moment_row(uow_factory, setup)[2] == REASON


@pytest.mark.parametrize(("data", "words"), [
    ({"reden": REASON}, "Vink de bevestiging aan"),
    ({"reden": "   ", "bevestiging": "on"}, "Geef een reden"),
    ({"bevestiging": "on"}, "Geef een reden"),
    ({"reden": "x" * 2001, "bevestiging": "on"}, "maximaal 2000 tekens"),
])
def test_without_reason_or_confirmation_it_is_refused_in_dutch_and_nothing_changes(
        app, world, uow_factory, sitting, data, words):
    setup, regs = sitting
    before = (_moment_row(uow_factory, setup), _statuses(uow_factory, regs))
    resp = post(client_for(app, "bureau_a"), _cancel_path(setup), data, _page(setup))
    assert resp.status_code == 422 and words in text_of(resp)
    assert "er is niets" in text_of(resp).lower() or "niets opgeslagen" in text_of(resp)
    assert (_moment_row(uow_factory, setup), _statuses(uow_factory, regs)) == before


def test_after_the_start_it_is_refused_as_a_proces_verbaal_matter(app, world, uow_factory, sitting, at):  # noqa: F811
    setup, regs = sitting
    bureau = client_for(app, "bureau_a")
    token_page = _page(setup)
    at(AFTER)
    resp = post(bureau, _cancel_path(setup), {"reden": REASON, "bevestiging": "on"}, token_page)
    assert resp.status_code == 409 and "al begonnen" in text_of(resp) and "proces-verbaal" in text_of(resp)
    page = text_of(bureau.get(_page(setup)))
    assert "annuleren kan niet meer" in page and 'action="' + _cancel_path(setup) not in page
    assert _statuses(uow_factory, regs) == ["ingeschreven", "ingeschreven"]


@pytest.mark.parametrize("who", ["student_a", "commissie_a", "commissie_b", "surveillant_a"])
def test_only_the_schools_examenbureau_may_cancel(app, world, uow_factory, sitting, who):
    setup, regs = sitting
    client = client_for(app, who)
    if who == "commissie_a":
        assert "Moment annuleren" not in text_of(client.get(_page(setup)))
    resp = post(client, _cancel_path(setup), {"reden": REASON, "bevestiging": "on"}, "/mijn-account")
    assert resp.status_code == 403
    assert _statuses(uow_factory, regs) == ["ingeschreven", "ingeschreven"]
    assert _moment_row(uow_factory, setup)[1] is None


def test_without_a_csrf_token_nothing_is_cancelled(app, world, uow_factory, sitting):
    setup, regs = sitting
    resp = client_for(app, "bureau_a").post(_cancel_path(setup), data={"reden": REASON, "bevestiging": "on"})
    assert resp.status_code == 400 and "CSRF" in text_of(resp)
    assert _statuses(uow_factory, regs) == ["ingeschreven", "ingeschreven"]


def test_odd_posts_are_4xx(app, world, uow_factory, sitting):
    bureau = client_for(app, "bureau_a")
    for path in ("/examenbank/momenten/999999/annuleren", "/examenbank/momenten/abc/annuleren"):
        resp = post(bureau, path, {"reden": REASON, "bevestiging": "on"}, "/examenbank")
        assert resp.status_code == 404, path


def test_the_surveillant_does_not_see_a_cancelled_moment_after_its_start(app, world, uow_factory, sitting,
                                                                        at):  # noqa: F811
    setup, _ = sitting
    post(client_for(app, "bureau_a"), _cancel_path(setup), {"reden": REASON, "bevestiging": "on"}, _page(setup))
    at(AFTER)
    surveillant = client_for(app, "surveillant_a")
    form_path = f"/examenmomenten/{setup.moment_id}/proces-verbaal/nieuw"
    assert form_path not in text_of(surveillant.get("/proces-verbaal"))
    resp = surveillant.get(form_path)
    assert resp.status_code == 409 and "geannuleerd" in text_of(resp)


def test_nothing_is_cancelled_before_now(app, world, uow_factory, sitting):
    """The use case takes the app's one clock (NOW in these tests), not the wall clock."""
    setup, _ = sitting
    post(client_for(app, "bureau_a"), _cancel_path(setup), {"reden": REASON, "bevestiging": "on"}, _page(setup))
    assert _moment_row(uow_factory, setup)[1] == NOW
