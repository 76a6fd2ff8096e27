"""Shared fixtures: a real database (SQLite file, or PostgreSQL from EXAMENFLOW_TEST_DATABASE_URL),
the app, and a world of two schools with their people."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

import pytest
from sqlalchemy import text

from processes import accounts, versions
from processes.db import UnitOfWork, make_engine, make_session_factory
from processes.models import Base
from processes.schema import upgrade_database

# `smtp`: a real SMTP server on loopback; `admin`: the beheerder of school A.
pytest_plugins = ["tests.support.smtp", "tests.support.admin"]

PG_URL = os.environ.get("EXAMENFLOW_TEST_DATABASE_URL")
PASSWORD = "geheim-wachtwoord"

accounts.configure_hasher(time_cost=1, memory_cost=8, parallelism=1)


def is_postgres() -> bool:
    return bool(PG_URL)


@pytest.fixture(scope="session")
def _database_template(tmp_path_factory):
    """Migrates once per run; each test then starts from that empty, migrated schema."""
    if PG_URL:
        engine = make_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade_database(engine)
        engine.dispose()
        return PG_URL
    path = tmp_path_factory.mktemp("db") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    engine.dispose()
    return path


@pytest.fixture
def db_url(_database_template, tmp_path):
    if PG_URL:
        engine = make_engine(PG_URL)
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
        url = PG_URL
    else:
        path = tmp_path / "test.sqlite"
        shutil.copy(_database_template, path)
        url = f"sqlite:///{path}"
    versions.clear_cache()
    return url


@pytest.fixture
def session_factory(db_url):
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def make_uow(session_factory):
    return lambda: UnitOfWork(session_factory)


@pytest.fixture
def app(db_url, tmp_path):
    from webapp import create_app

    app = create_app({
        "DATABASE_URL": db_url,
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "EXAMENFLOW_ARGON2_FAST": True,
        "EXAMENFLOW_INSTANCE_DIR": tmp_path / "instance",
    })
    yield app
    app.extensions["examenflow"].engine.dispose()


@pytest.fixture
def uow_factory(app):
    return app.extensions["examenflow"].uow


@dataclass
class World:
    """Two schools, each with its own examencommissie; one praktijkbegeleider linked to both."""

    schools: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    students: dict[str, int] = field(default_factory=dict)

    def email(self, key: str) -> str:
        return f"{key}@test.nl"


PEOPLE = {
    # key: (name, [(school, role), ...])
    "begeleider_a": ("Anna Begeleider", [("a", "roc_begeleider")]),
    "begeleider_b": ("Bas Begeleider", [("b", "roc_begeleider")]),
    "praktijkbegeleider": ("Piet Praktijk", [("a", "praktijkbegeleider"), ("b", "praktijkbegeleider")]),
    "beoordelaar_a": ("Beatrix Beoordelaar", [("a", "praktijkbeoordelaar")]),
    "beoordelaar_a2": ("Ben Beoordelaar", [("a", "praktijkbeoordelaar")]),
    "rocbeoordelaar_a": ("Rik ROC", [("a", "roc_beoordelaar")]),
    "beoordelaar_b": ("Bo Beoordelaar", [("b", "praktijkbeoordelaar")]),
    "rocbeoordelaar_b": ("Roos ROC", [("b", "roc_beoordelaar")]),
    "commissie_a": ("Carla Commissie", [("a", "examencommissie")]),
    "commissie_a2": ("Cor Commissie", [("a", "examencommissie")]),
    "commissie_b": ("Chris Commissie", [("b", "examencommissie")]),
    "bureau_a": ("Bea Bureau", [("a", "examenbureau")]),
    "surveillant_a": ("Sanne Surveillant", [("a", "surveillant")]),
}
STUDENTS = {
    "student_a": ("Sara Student", "a", "A001"),
    "student_a2": ("Sem Student", "a", "A002"),
    "student_b": ("Sofie Student", "b", "B001"),
}


@pytest.fixture
def world(uow_factory) -> World:
    w = World()
    w.schools["a"] = accounts.create_school("roc-a", "ROC A", uow_factory())
    w.schools["b"] = accounts.create_school("roc-b", "ROC B", uow_factory())
    for key, (name, roles) in PEOPLE.items():
        uid = accounts.create_user(w.email(key), name, PASSWORD, uow_factory())
        w.users[key] = uid
        for school, role in roles:
            accounts.grant_role(uid, w.schools[school], role, uow_factory())
    for key, (name, school, number) in STUDENTS.items():
        uid = accounts.create_user(w.email(key), name, PASSWORD, uow_factory())
        w.users[key] = uid
        w.students[key] = accounts.create_student(uid, w.schools[school], number, "2024", "25655",
                                                  uow_factory())
    versions.deploy_shipped(uow_factory())
    return w


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_from(client, path: str) -> str:
    import re

    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client, email: str, password: str = PASSWORD):
    """Logs in through the real login form, CSRF token included."""
    client.get("/")  # a fresh client per person is simplest; this keeps one usable too
    with client.session_transaction() as sess:
        sess.clear()
    token = csrf_from(client, "/inloggen")
    resp = client.post("/inloggen", data={"email": email, "wachtwoord": password, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return resp


def run_cli(app, *args: str):
    """Runs `examenflow ARGS` against the test app."""
    from flask.cli import ScriptInfo

    from webapp.cli import cli

    return app.test_cli_runner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app))
