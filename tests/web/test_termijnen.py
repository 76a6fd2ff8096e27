"""Oversight pages: deadlines (R48), incidents, the exchange log (R47)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select

from handlers import clock
from processes import accounts, deadlines, oversight, runner
from processes.errors import Forbidden
from processes.models import (
    AuditEvent,
    Deadline,
    ExchangeLogEntry,
    OutboxMessage,
    Participant,
    School,
    Student,
    Timer,
)
from tests.conftest import PASSWORD, csrf_from, is_postgres, login

AMS = ZoneInfo("Europe/Amsterdam")
# Wednesday 11 March 2026, 10:00 in Amsterdam. School A is closed on Monday 9 and Thursday 12 March.
NOW = datetime(2026, 3, 11, 10, 0, tzinfo=AMS)
CLOSING_DAYS_A = ["2026-03-09", "2026-03-12"]


def ams(day: int, hour: int, month: int = 3) -> datetime:
    # Stored in UTC, as the use cases do: SQLite keeps no offset.
    return datetime(2026, month, day, hour, 0, tzinfo=AMS).astimezone(UTC)


@pytest.fixture
def web(app):
    """The committee blueprint, registered here as long as create_app does not yet do it."""
    from webapp import committee

    if "committee" not in app.blueprints:
        app.register_blueprint(committee.bp)
    return app


@pytest.fixture
def fixed_clock():
    clock.set_process_clock(lambda: NOW)
    yield NOW
    clock.set_process_clock(None)


@pytest.fixture
def exams(world, uow_factory):
    """Three exams at school A, one at school B, with their assessors and deadline rows."""

    def start(school: str, student: str, begeleider: str) -> int:
        return runner.start_pvb(
            world.schools[school], world.students[student], world.users[begeleider], uow_factory()
        ).instance_id

    ids = {
        "a1": start("a", "student_a", "begeleider_a"),
        "a2": start("a", "student_a2", "begeleider_a"),
        "a3": start("a", "student_a", "begeleider_a"),
        "b1": start("b", "student_b", "begeleider_b"),
    }
    assessors = {
        "a1": {"praktijkbeoordelaar": "beoordelaar_a", "roc_beoordelaar": "rocbeoordelaar_a"},
        "a2": {"praktijkbeoordelaar": "beoordelaar_a2"},
        "a3": {"praktijkbeoordelaar": "beoordelaar_a", "roc_beoordelaar": "rocbeoordelaar_a"},
        "b1": {"praktijkbeoordelaar": "beoordelaar_b", "roc_beoordelaar": "rocbeoordelaar_b"},
    }
    deadline_rows = [
        # key, exam, kind, due, overdue, closed
        ("late", "a1", "beoordeling", ams(5, 17), True, None),
        ("today", "a2", "uitwisseling", ams(11, 9), True, None),
        ("soon", "a3", "beoordeling", ams(16, 9), False, None),
        ("far", "a1", "uitwisseling", ams(17, 9), False, None),
        ("closed", "a3", "uitwisseling", ams(2, 9), True, ams(4, 12)),
        ("late_b", "b1", "beoordeling", ams(5, 17), True, None),
    ]
    with uow_factory() as uow:
        s = uow.session
        s.get(School, world.schools["a"]).settings = {"sluitingsdagen": CLOSING_DAYS_A}
        s.get(Student, world.students["student_a2"]).crebo = "25180"
        for key, roles in assessors.items():
            for role, person in roles.items():
                s.add(Participant(instance_id=ids[key], role=role, user_id=world.users[person]))
        for _key, exam, kind, due, overdue, closed in deadline_rows:
            school = world.schools[exam[0]]
            s.add(
                Deadline(
                    instance_id=ids[exam],
                    school_id=school,
                    kind=kind,
                    timer_guid=str(uuid.uuid4()),
                    opened_at=ams(1, 9),
                    due_at=due,
                    overdue_at=due if overdue else None,
                    closed_at=closed,
                )
            )
        uow.commit()
    return ids


def client_for(app, world, key: str):
    client = app.test_client()
    login(client, world.email(key))
    return client


def _beheerder(world, uow_factory, school: str) -> str:
    key = f"beheerder_{school}"
    uid = accounts.create_user(world.email(key), f"Beheerder {school.upper()}", PASSWORD, uow_factory())
    accounts.grant_role(uid, world.schools[school], "beheerder", uow_factory())
    world.users[key] = uid
    return key


# ----------------------------------------------------------------------------- deadlines (R48)


def test_r48_committee_sees_overdue_and_soon_deadlines_of_its_own_school(world, exams, uow_factory):
    rows = deadlines.list_deadlines(world.users["commissie_a"], uow_factory(), NOW)
    assert [(r.instance_id, r.kind, r.status) for r in rows] == [
        (exams["a1"], "beoordeling", "te laat"),
        (exams["a2"], "uitwisseling", "te laat"),
        (exams["a3"], "beoordeling", "bijna"),
    ]
    late = rows[0]
    assert late.student_name == "Sara Student" and late.student_number == "A001" and late.crebo == "25655"
    assert late.assessors == ("Beatrix Beoordelaar", "Rik ROC")
    assert late.school == "ROC A"
    other = deadlines.list_deadlines(world.users["commissie_b"], uow_factory(), NOW)
    assert [(r.instance_id, r.status) for r in other] == [(exams["b1"], "te laat")]


def test_r27_an_archived_students_deadlines_are_hidden_from_the_committee_not_from_the_admin(world, exams,
                                                                                              uow_factory):
    from processes import administration

    beheerder = _beheerder(world, uow_factory, "a")
    administration.archive_student(world.schools["a"], world.users[beheerder], world.students["student_a2"],
                                   uow_factory())
    committee = deadlines.list_deadlines(world.users["commissie_a"], uow_factory(), NOW)
    assert exams["a2"] not in {r.instance_id for r in committee} and {r.instance_id for r in committee}
    admin = deadlines.list_deadlines(world.users[beheerder], uow_factory(), NOW)
    assert exams["a2"] in {r.instance_id for r in admin}


def test_r48_working_days_follow_the_school_calendar(world, exams, uow_factory):
    """Thursday 5 March 17:00 to Wednesday 11 March: Fri, Tue, Wed; Monday 9 is a closing day of A."""
    rows = {r.instance_id: r for r in deadlines.list_deadlines(world.users["commissie_a"], uow_factory(), NOW)}
    assert rows[exams["a1"]].working_days_overdue == 3
    assert rows[exams["a2"]].working_days_overdue == 0  # due earlier today
    # Thursday 12 is closed: Monday 16 is still two working days away, so "bijna"; Tuesday 17 is not.
    assert rows[exams["a3"]].working_days_left == 2
    school_b = deadlines.list_deadlines(world.users["commissie_b"], uow_factory(), NOW)
    assert school_b[0].working_days_overdue == 4  # school B has no closing day on Monday 9


def test_r48_filters_by_crebo_and_assessor(world, exams, uow_factory):
    def ids(**filters):
        rows = deadlines.list_deadlines(world.users["commissie_a"], uow_factory(), NOW, **filters)
        return [r.instance_id for r in rows]

    assert ids(crebo="25180") == [exams["a2"]]
    assert ids(crebo="25655") == [exams["a1"], exams["a3"]]
    assert ids(crebo="99999") == []
    assert ids(assessor_id=world.users["beoordelaar_a2"]) == [exams["a2"]]
    assert ids(assessor_id=world.users["rocbeoordelaar_a"]) == [exams["a1"], exams["a3"]]
    assert ids(crebo="25655", assessor_id=world.users["beoordelaar_a2"]) == []


def test_r48_only_oversight_roles_see_deadlines(world, exams, uow_factory):
    for key in ("student_a", "beoordelaar_a", "begeleider_a"):
        with pytest.raises(Forbidden):
            deadlines.list_deadlines(world.users[key], uow_factory(), NOW)
    bureau = deadlines.list_deadlines(world.users["bureau_a"], uow_factory(), NOW)
    assert len(bureau) == 3


def test_r48_deadline_query_uses_the_index_and_never_engine_state(world, exams, uow_factory, app):
    # Two schools: one index range per school, not a scan of every deadline ever opened.
    accounts.grant_role(world.users["commissie_a"], world.schools["b"], "examencommissie", uow_factory())
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        assert "process_instance.state" not in statement, "the overview loaded engine state"
        statements.append((statement, parameters))

    engine = app.extensions["examenflow"].engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        deadlines.list_deadlines(world.users["commissie_a"], uow_factory(), NOW)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    statement, parameters = next((st, p) for st, p in statements if "FROM deadline" in st)
    if is_postgres():
        pytest.skip("the query plan is checked on SQLite")
    with engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
    assert "ix_deadline_school_open" in plan and "SCAN deadline" not in plan, plan


def test_r48_deadline_page(web, world, exams, fixed_clock):
    client = client_for(web, world, "commissie_a")
    html = client.get("/termijnen").get_data(as_text=True)
    assert "Dagoverzicht 11-03-2026" in html
    for key in ("a1", "a2", "a3"):
        assert f'href="/examens/{exams[key]}"' in html
    assert f'href="/examens/{exams["b1"]}"' not in html
    assert "3 werkdagen" in html and "vandaag verlopen" in html and "nog 2 werkdagen" in html
    filtered = client.get(f"/termijnen?crebo=25180&beoordelaar={world.users['beoordelaar_a2']}")
    page = filtered.get_data(as_text=True)
    assert f'href="/examens/{exams["a2"]}"' in page and f'href="/examens/{exams["a1"]}"' not in page
    empty = client.get("/termijnen?crebo=99999").get_data(as_text=True)
    assert "Geen termijnen die verlopen of bijna verlopen." in empty


@pytest.mark.parametrize("path", ["/termijnen", "/termijnen.xlsx", "/incidenten", "/uitwisseling"])
@pytest.mark.parametrize("key", ["student_a", "beoordelaar_a"])
def test_r48_student_and_assessor_get_403(web, world, exams, fixed_clock, path, key):
    assert client_for(web, world, key).get(path).status_code == 403


def test_r48_excel_download_holds_the_same_rows(web, world, exams, uow_factory, fixed_clock):
    client = client_for(web, world, "commissie_a")
    resp = client.get("/termijnen.xlsx?crebo=25655")
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"] == 'attachment; filename="termijnen-2026-03-11.xlsx"'
    ws = load_workbook(io.BytesIO(resp.data)).active
    table = list(ws.iter_rows(values_only=True))
    header, body = table[0], table[1:]
    assert header[:4] == ("Status", "Werkdagen te laat", "Uiterlijk", "Soort termijn")
    expected = deadlines.list_deadlines(world.users["commissie_a"], uow_factory(), NOW, crebo="25655")
    assert [(r[0], r[1], r[-1]) for r in body] == [(e.status, e.working_days_overdue, e.instance_id) for e in expected]
    # A real Excel date in Amsterdam time, without a time zone.
    assert body[0][2] == datetime(2026, 3, 5, 17, 0)
    assert ws.cell(row=2, column=3).is_date
    assert ws.auto_filter.ref == "A1:K3"
    assert ws.column_dimensions["E"].width > 20


# ----------------------------------------------------------------------------- incidents


@pytest.fixture
def incidents(world, exams, uow_factory):
    timers = {}
    with uow_factory() as uow:
        s = uow.session
        for key in ("a1", "b1"):
            t = Timer(
                instance_id=exams[key],
                task_guid=str(uuid.uuid4()),
                element_id="termijn_beoordeling",
                due_at=ams(5, 17),
                status="incident",
                attempts=5,
                last_error="OperationalError: database is locked",
            )
            s.add(t)
            s.flush()
            timers[key] = t.id
        uow.commit()
    return timers


def _timer(uow_factory, timer_id: int) -> tuple:
    with uow_factory() as uow:
        t = uow.session.get(Timer, timer_id)
        return t.status, t.attempts, t.last_error, t.next_attempt_at, t.instance_id


def test_incidents_list_per_school(web, world, incidents):
    html = client_for(web, world, "commissie_a").get("/incidenten").get_data(as_text=True)
    assert "database is locked" in html and "termijn_beoordeling" in html
    assert f"/incidenten/{incidents['a1']}/opnieuw" not in html  # the committee sees, does not retry
    assert f"/incidenten/{incidents['b1']}" not in html
    bureau = client_for(web, world, "bureau_a").get("/incidenten").get_data(as_text=True)
    assert f"/incidenten/{incidents['a1']}/opnieuw" in bureau


def test_incident_retry_by_exam_bureau(web, world, incidents, uow_factory, fixed_clock):
    client = client_for(web, world, "bureau_a")
    token = csrf_from(client, "/incidenten")
    resp = client.post(f"/incidenten/{incidents['a1']}/opnieuw", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/incidenten")
    assert "Het incident wordt opnieuw geprobeerd." in client.get("/incidenten").get_data(as_text=True)
    *timer, instance_id = _timer(uow_factory, incidents["a1"])
    assert timer == ["waiting", 0, None, None]
    with uow_factory() as uow:
        ev = uow.session.scalar(select(AuditEvent).where(AuditEvent.action == "timer_incident_retried"))
        assert (ev.instance_id, ev.actor_id, ev.role) == (instance_id, world.users["bureau_a"], "examenbureau")
    # Done once: a second retry finds no incident.
    again = client.post(f"/incidenten/{incidents['a1']}/opnieuw", data={"csrf_token": token})
    assert again.status_code == 404


def test_incident_retry_by_beheerder_of_that_school_only(web, world, incidents, uow_factory):
    key = _beheerder(world, uow_factory, "b")
    client = client_for(web, world, key)
    token = csrf_from(client, "/incidenten")
    assert client.post(f"/incidenten/{incidents['a1']}/opnieuw", data={"csrf_token": token}).status_code == 403
    assert _timer(uow_factory, incidents["a1"])[0] == "incident"
    assert client.post(f"/incidenten/{incidents['b1']}/opnieuw", data={"csrf_token": token}).status_code == 302
    assert _timer(uow_factory, incidents["b1"])[0] == "waiting"


def test_incident_retry_refused_for_committee_and_without_csrf(web, world, incidents, uow_factory):
    committee = client_for(web, world, "commissie_a")
    token = csrf_from(committee, "/incidenten")
    assert committee.post(f"/incidenten/{incidents['a1']}/opnieuw", data={"csrf_token": token}).status_code == 403
    bureau = client_for(web, world, "bureau_a")
    resp = bureau.post(f"/incidenten/{incidents['a1']}/opnieuw")
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    assert _timer(uow_factory, incidents["a1"])[0] == "incident"


# ----------------------------------------------------------------------------- exchange log (R47)


@pytest.fixture
def exchange(world, exams, uow_factory):
    def message(s, school: str, exam: str, status: str, created: datetime, attempts) -> int:
        m = OutboxMessage(
            school_id=world.schools[school],
            instance_id=exams[exam],
            kind="resultaat",
            method="PATCH",
            path=f"/osiris/resultaten/{exam}",
            body={"final": True},
            idempotency_key=str(uuid.uuid4()),
            status=status,
            attempts=len(attempts),
            next_attempt_at=created,
            created_at=created,
            delivered_at=attempts[-1][1] if status == "delivered" else None,
        )
        s.add(m)
        s.flush()
        for n, (outcome, at, code) in enumerate(attempts, start=1):
            s.add(
                ExchangeLogEntry(
                    message_id=m.id,
                    school_id=m.school_id,
                    attempt=n,
                    at=at,
                    request_method="PATCH",
                    request_url=f"https://sis.test{m.path}",
                    request_body="{}",
                    response_status=code,
                    response_body="Service Unavailable" if code == 503 else "{}",
                    outcome=outcome,
                    duration_ms=120,
                )
            )
        return m.id

    with uow_factory() as uow:
        s = uow.session
        ids = {
            "delivered": message(
                s, "a", "a1", "delivered", ams(1, 9), [("refused", ams(2, 9), 503), ("delivered", ams(10, 9), 200)]
            ),
            "pending": message(s, "a", "a2", "pending", ams(11, 8), []),
            "other_school": message(s, "b", "b1", "failed", ams(11, 8), [("error", ams(11, 8), 500)]),
        }
        uow.commit()
    return ids


def test_r47_exchange_log_lists_every_attempt(web, world, exchange):
    html = client_for(web, world, "bureau_a").get("/uitwisseling").get_data(as_text=True)
    assert "/osiris/resultaten/a1" in html and "/osiris/resultaten/a2" in html
    assert "/osiris/resultaten/b1" not in html
    assert "02-03-2026 09:00 · geweigerd · 503" in html
    assert "10-03-2026 09:00 · gelukt · 200" in html
    assert "Service Unavailable" in html and "Nog geen pogingen." in html


def test_r47_exchange_overview_filters(world, exams, exchange, uow_factory):
    def ids(**filters):
        page = oversight.exchange_overview(world.users["commissie_a"], uow_factory(), **filters)
        return [m.message_id for m in page.items]

    assert ids() == [exchange["pending"], exchange["delivered"]]
    assert ids(status="pending") == [exchange["pending"]]
    assert ids(status="failed") == []
    assert ids(since=ams(10, 0)) == [exchange["pending"], exchange["delivered"]]  # attempted on the 10th
    assert ids(since=ams(11, 0)) == [exchange["pending"]]
    assert ids(instance_id=exams["a1"]) == [exchange["delivered"]]
    delivered = oversight.exchange_overview(world.users["commissie_a"], uow_factory(), instance_id=exams["a1"]).items[0]
    assert [(a.attempt, a.outcome, a.response_status) for a in delivered.attempts] == [
        (1, "refused", 503),
        (2, "delivered", 200),
    ]
    with pytest.raises(Forbidden):
        oversight.exchange_overview(world.users["student_a"], uow_factory())


def test_r47_exchange_log_page_filters(web, world, exchange):
    client = client_for(web, world, "bureau_a")
    pending = client.get("/uitwisseling?status=pending").get_data(as_text=True)
    assert "/osiris/resultaten/a2" in pending and "/osiris/resultaten/a1" not in pending
    since = client.get("/uitwisseling?sinds=2026-03-11").get_data(as_text=True)
    assert "/osiris/resultaten/a2" in since and "/osiris/resultaten/a1" not in since
    none = client.get("/uitwisseling?status=failed").get_data(as_text=True)
    assert "Geen berichten gevonden." in none


def test_menu_link_only_for_oversight_roles(web, world, uow_factory):
    from flask import render_template_string
    from flask_login import login_user

    from webapp.auth import WebUser

    nav = "{% if committee_nav() %}<a href=\"{{ url_for('committee.deadlines_overview') }}\">Termijnen</a>{% endif %}"
    for key, shown in (("bureau_a", True), ("commissie_b", True), ("student_a", False), ("beoordelaar_a", False)):
        with web.test_request_context("/taken"):
            login_user(WebUser(accounts.load_session_user(world.users[key], 1, uow_factory())))
            assert (render_template_string(nav) == '<a href="/termijnen">Termijnen</a>') is shown, key
