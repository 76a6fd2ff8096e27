"""Demo data: one school whose exams stand parked at different steps, so every role has work.

Everything goes through the real use cases (deploy, start, complete), so the demo's history is
an honest audit trail.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from processes import accounts, runner
from processes.db import UnitOfWork
from processes.models import HumanTask, School
from processes.versions import deploy_shipped

DEMO_PASSWORD = "demo-wachtwoord"
SCHOOL_CODE = "demo"

STAFF = [
    ("begeleider@demo.nl", "Bram de Begeleider", ["roc_begeleider", "roc_beoordelaar"]),
    ("praktijkbegeleider@demo.nl", "Petra Praktijk", ["praktijkbegeleider"]),
    ("beoordelaar@demo.nl", "Bert Beoordelaar", ["praktijkbeoordelaar"]),
    ("commissie@demo.nl", "Carla Commissie", ["examencommissie"]),
]
# (e-mail, name, student number, demo login?). Only Sanne logs in; the others are exam subjects.
STUDENTS = [
    ("student@demo.nl", "Sanne Student", "100001", True),
    ("daan@demo.nl", "Daan de Vries", "100002", False),
    ("emma@demo.nl", "Emma Jansen", "100003", False),
    ("noah@demo.nl", "Noah Bakker", "100004", False),
    ("lotte@demo.nl", "Lotte Visser", "100005", False),
    ("julia@demo.nl", "Julia Mulder", "100007", False),
]
# (student e-mail, exam title, how many steps to complete before parking it)
EXAMS = [
    ("daan@demo.nl", "PvB Zorg verlenen", 0),
    ("student@demo.nl", "PvB Zorg verlenen", 1),
    ("emma@demo.nl", "PvB Zorg verlenen", 2),
    ("noah@demo.nl", "PvB Zorg verlenen", 3),
    ("lotte@demo.nl", "PvB Zorg verlenen", 4),
    ("student@demo.nl", "PvB Begeleiden", 5),
    ("julia@demo.nl", "PvB Zorg verlenen", 6),
]


def demo_logins() -> list[str]:
    return [s[0] for s in STAFF] + [s[0] for s in STUDENTS if s[3]]


def _step_data(form_key: str, people: dict[str, int]) -> dict:
    today = date.today()
    return {
        "opdracht_aanmaken": {
            "titel": "Verzorgen van een cliënt in de thuissituatie",
            "opdrachttekst": "Je voert de dagelijkse zorg uit voor een cliënt en legt dit vast.",
            "gewenste_einddatum": (today + timedelta(days=60)).isoformat(),
        },
        "opdracht_verwerven": {"examenlocatie": "Zorggroep De Linde, Utrecht",
                               "context": "Afdeling thuiszorg, dagdienst."},
        "deelnemers_vastleggen": {
            "praktijkbegeleider": people["praktijkbegeleider@demo.nl"],
            "praktijkbeoordelaar": people["beoordelaar@demo.nl"],
            "roc_beoordelaar": people["begeleider@demo.nl"],
            "vaststeller": people["commissie@demo.nl"],
        },
        "opdracht_goedkeuren": {"besluit": "akkoord", "bevestiging": True},
        "opdracht_vaststellen": {"besluit": "vastgesteld", "bevestiging": True},
        "afspraken_plannen": {
            "uitvoeringsdatum": (today + timedelta(days=14)).isoformat(),
            "beoordelingsdatum": (today + timedelta(days=21)).isoformat(),
        },
    }[form_key]


def prepare_demo(uow: UnitOfWork) -> list[str]:
    with uow:
        exists = uow.session.scalar(select(School.id).where(School.code == SCHOOL_CODE))
    deployed = deploy_shipped(uow)
    lines = [f"Diagram {r.process_id} versie {r.version} in gebruik." for r in deployed]
    if exists is not None:
        return lines + ["Demo stond al klaar."]
    school_id = accounts.create_school(SCHOOL_CODE, "ROC Demo", uow)
    people: dict[str, int] = {}
    for email, name, roles in STAFF:
        uid = accounts.create_user(email, name, DEMO_PASSWORD, uow)
        people[email] = uid
        for role in roles:
            accounts.grant_role(uid, school_id, role, uow)
    begeleider = people["begeleider@demo.nl"]
    student_ids: dict[str, int] = {}
    for email, name, number, can_login in STUDENTS:
        uid = accounts.create_user(email, name, DEMO_PASSWORD if can_login else None, uow)
        student_ids[email] = accounts.create_student(uid, school_id, number, "2024", "25655", uow)
    for email, title, steps in EXAMS:
        result = runner.start_pvb(school_id, student_ids[email], begeleider, uow, title=title)
        for _ in range(steps):
            with uow:
                task = uow.session.scalar(
                    select(HumanTask).where(HumanTask.instance_id == result.instance_id,
                                            HumanTask.status == "open").limit(1))
                actor = task.assignee_id
                form_key = task.form_key
                task_id = task.id
            runner.complete_task(task_id, actor, _step_data(form_key, people), uow)
    lines.append(f"Demo-school 'ROC Demo' met {len(EXAMS)} examens aangemaakt.")
    lines.append(f"Inloggen met bijvoorbeeld begeleider@demo.nl / {DEMO_PASSWORD}")
    return lines
