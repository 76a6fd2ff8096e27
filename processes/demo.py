"""Demo data: one school whose exams stand parked at different steps, so every role has work.

Everything goes through the real use cases (deploy, start, complete), so the demo's history is
an honest audit trail.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from handlers import clock
from processes import accounts, registrations, runner
from processes import enrolment as enr
from processes.assignments import create_assignment
from processes.db import UnitOfWork
from processes.models import ExamAssignment, ExamRegistration, HumanTask, OutboxMessage, School
from processes.timers import fire_due_timers
from processes.versions import deploy_shipped

DEMO_PASSWORD = "demo-wachtwoord"
SCHOOL_CODE = "demo"

STAFF = [
    ("begeleider@demo.nl", "Bram de Begeleider", ["roc_begeleider"]),
    ("praktijkbegeleider@demo.nl", "Petra Praktijk", ["praktijkbegeleider"]),
    ("beoordelaar@demo.nl", "Bert Beoordelaar", ["praktijkbeoordelaar"]),
    ("rocbeoordelaar@demo.nl", "Rianne ROC-beoordelaar", ["roc_beoordelaar"]),
    ("commissie@demo.nl", "Carla Commissie", ["examencommissie"]),
    ("bureau@demo.nl", "Bo Bureau", ["examenbureau"]),
    ("surveillant@demo.nl", "Sven Surveillant", ["surveillant"]),
    ("beheerder@demo.nl", "Bea Beheerder", ["beheerder"]),
]
# Staff whose work is not a task in "Mijn taken": the surveillant records a proces-verbaal per moment,
# the beheerder works on the pages under "Beheer".
NO_INBOX = {"surveillant@demo.nl", "beheerder@demo.nl"}
# (e-mail, name, student number, demo login?). Only Sanne logs in; the others are exam subjects.
STUDENTS = [
    ("student@demo.nl", "Sanne Student", "100001", True),
    ("daan@demo.nl", "Daan de Vries", "100002", False),
    ("emma@demo.nl", "Emma Jansen", "100003", False),
    ("noah@demo.nl", "Noah Bakker", "100004", False),
    ("lotte@demo.nl", "Lotte Visser", "100005", False),
    ("julia@demo.nl", "Julia Mulder", "100007", False),
    ("finn@demo.nl", "Finn Smit", "100008", False),
    ("mila@demo.nl", "Mila de Boer", "100009", False),
    ("sem@demo.nl", "Sem Peters", "100010", False),
]
ZORG_MODEL = {
    "werkprocessen": [
        {"code": "B1-K1-W1", "title": "Onderkent de behoefte aan zorg", "rule": "all_crucial", "criteria": [
            {"id": "zorg1", "text": "Verzamelt de relevante gegevens van de cliënt", "crucial": True},
            {"id": "zorg2", "text": "Legt de gegevens juist vast", "crucial": False}]},
        {"code": "B1-K1-W2", "title": "Voert de zorg uit", "rule": "all_crucial", "criteria": [
            {"id": "zorg3", "text": "Werkt hygiënisch en veilig", "crucial": True},
            {"id": "zorg4", "text": "Communiceert respectvol met de cliënt", "crucial": False}]},
    ]
}
BEGELEIDEN_MODEL = {
    "werkprocessen": [
        {"code": "B1-K2-W1", "title": "Begeleidt een groep", "rule": "all_crucial", "criteria": [
            {"id": "beg1", "text": "Stemt de activiteit af op de groep", "crucial": True},
            {"id": "beg2", "text": "Grijpt in bij conflicten", "crucial": True},
            {"id": "beg3", "text": "Rapporteert aan het team", "crucial": False}]},
    ]
}
# (student e-mail, assignment code, the step to park at — None: walk to the end; failing criteria;
#  how many days ago the walk happened: an exam whose assessment is overdue)
EXAMS = [
    ("daan@demo.nl", "ZORG", "opdracht_aanmaken", (), 0),
    ("student@demo.nl", "ZORG", "opdracht_verwerven", (), 0),
    ("emma@demo.nl", "BEGELEIDEN", "goedkeuren_praktijkbegeleider", (), 0),
    ("noah@demo.nl", "BEGELEIDEN", "opdracht_vaststellen", (), 0),
    ("student@demo.nl", "BEGELEIDEN", "bewijsstukken_uploaden", (), 0),
    ("lotte@demo.nl", "ZORG", "bewijsstukken_controleren", (), 0),
    ("julia@demo.nl", "ZORG", "beoordelen_praktijk", (), 0),
    ("finn@demo.nl", "BEGELEIDEN", "eindbeoordeling_vaststellen", (), 0),
    ("mila@demo.nl", "ZORG", None, ("zorg3",), 0),
    ("sem@demo.nl", "ZORG", "beoordelen_roc", (), 12),
]


def _form_data(element_id: str, people: dict[str, int], model: dict, fail: tuple[str, ...]) -> dict:
    today = clock.now().date()
    confirm = {"bevestiging": True}
    judged = {c["id"]: ({"oordeel": "onvoldoende", "toelichting": "Niet veilig gewerkt."} if c["id"] in fail
                        else {"oordeel": "voldaan"})
              for wp in model["werkprocessen"] for c in wp["criteria"]}
    return {
        "opdracht_aanmaken": {"titel": "Proeve van bekwaamheid", "opdrachttekst": "Zie de opdracht uit de bank.",
                              "gewenste_einddatum": (today + timedelta(days=60)).isoformat()},
        "opdracht_verwerven": {"examenlocatie": "Zorggroep De Linde, Utrecht", "context": "Afdeling thuiszorg."},
        "deelnemers_vastleggen": {
            "praktijkbegeleider": people["praktijkbegeleider@demo.nl"],
            "praktijkbeoordelaar": people["beoordelaar@demo.nl"],
            "roc_beoordelaar": people["rocbeoordelaar@demo.nl"],
            "vaststeller": people["commissie@demo.nl"],
        },
        "goedkeuren_student": {"informatie_gelezen": True, "goedkeuring": True},
        "goedkeuren_roc_begeleider": {"goedkeuring": True},
        "goedkeuren_praktijkbegeleider": {"goedkeuring": True},
        "opdracht_vaststellen": {"opdracht_besluit": "vastgesteld", **confirm},
        "afspraken_plannen": {"uitvoeringsdatum": (today + timedelta(days=14)).isoformat(),
                              "beoordelingsdatum": (today + timedelta(days=21)).isoformat()},
        "bewijsstukken_uploaden": {"bewijs_beschrijving": "Verslag en foto's van de uitvoering.",
                                   "uitvoering_afgerond": True},
        "bewijsstukken_controleren": {"bewijs_besluit": "compleet", **confirm},
        "uitvoering_afronden": {"uitvoering_afgerond": True},
        "beoordelen_roc": {"beoordeling": judged, **confirm},
        "beoordelen_praktijk": {"beoordeling": judged, **confirm},
        "beoordelen_alleen": {"beoordeling": judged, **confirm},
        "consensus_vastleggen": {"beoordeling": judged, **confirm},
        "consensus_bevestigen": {"consensus_akkoord": "akkoord", **confirm},
        "eindbeoordeling_vaststellen": {"eind_besluit": "vastgesteld", **confirm},
        "afsluiten": confirm,
        "vervolg_bepalen": {"vervolg_toelichting": "Werkproces B1-K1-W2 opnieuw uitvoeren.", **confirm},
    }[element_id]


def _deliver_to_sis(uow: UnitOfWork, instance_id: int) -> bool:
    """The demo has no student information system: its results count as delivered at once."""
    with uow:
        s = uow.session
        pending = s.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == instance_id,
                                                        OutboxMessage.status == "pending")).all()
        for message in pending:
            message.status, message.delivered_at = "delivered", clock.now()
            runner.record_delivery(s, message)
        uow.commit()
    return bool(pending)


def _walk(uow: UnitOfWork, instance_id: int, park_at: str | None, people: dict[str, int],
          fail: tuple[str, ...]) -> None:
    for _ in range(60):
        with uow:
            s = uow.session
            tasks = s.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                      HumanTask.status == "open").order_by(HumanTask.id)).all()
            tasks = [t for t in tasks if t.lane_role != "examenbureau"]
            if any(t.element_id == park_at for t in tasks):
                return
            waiting_for_delivery = not tasks
            if tasks:
                task = tasks[0]
                todo = (task.id, task.assignee_id, task.element_id)
                model = s.get(ExamAssignment, instance_id).assessment_model
        if waiting_for_delivery:
            if not _deliver_to_sis(uow, instance_id):
                return
            continue
        task_id, actor, element_id = todo
        runner.complete_task(task_id, actor, _form_data(element_id, people, model, fail), uow)


def _exam_moments(uow: UnitOfWork, school_id: int, people: dict[str, int]) -> None:
    """An exam at exam moments (aanmelden.bpmn): a moment that took place last week, one next month
    with its self-enrolment period open, and students at each stage."""
    now = clock.now()
    bureau, teacher = people["bureau@demo.nl"], people["begeleider@demo.nl"]
    exam_id = enr.create_exam(school_id, "NED-2F", "Nederlands 2F lezen", "25655", bureau, uow,
                              teacher_id=teacher, assessor_id=people["rocbeoordelaar@demo.nl"],
                              enrolment_variant="zelf", assessment_variant="1")
    version_id = enr.add_version(exam_id, bureau, uow, cesuur=55)
    enr.establish_version(version_id, people["commissie@demo.nl"], uow)
    past_start = now - timedelta(days=7)
    past = enr.plan_moment(version_id, past_start, "Lokaal 2.14", 20, past_start - timedelta(days=21), bureau, uow,
                           enrol_until=past_start - timedelta(days=2))
    enr.plan_moment(version_id, now + timedelta(days=30), "Aula", 60, now - timedelta(days=1), bureau, uow,
                    enrol_until=now + timedelta(days=20))
    with clock.use_clock(past_start - timedelta(days=14)):
        registrations.register_cohort(school_id, None, uow)
    with uow:
        instances = uow.session.scalars(
            select(ExamRegistration.instance_id)
            .where(ExamRegistration.exam_id == exam_id).order_by(ExamRegistration.student_id)).all()
    # All but the first two students got the Go and enrolled for last week's moment, which was held.
    for instance_id in instances[2:]:
        with clock.use_clock(past_start - timedelta(days=14)):
            _complete(uow, instance_id, "go_geven", teacher, {"bevestiging": True})
            _complete(uow, instance_id, "examenmoment_kiezen", None, {"moment": past, "bevestiging": True})
    # The second student has his Go: choosing a moment is his task; the demo student has hers too.
    for instance_id in instances[:2]:
        _complete(uow, instance_id, "go_geven", teacher, {"bevestiging": True})


def _complete(uow: UnitOfWork, instance_id: int, element_id: str, actor_id: int | None, data: dict) -> None:
    with uow:
        task = uow.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                          HumanTask.element_id == element_id,
                                                          HumanTask.status == "open"))
        task_id, assignee = task.id, task.assignee_id
    runner.complete_task(task_id, actor_id or assignee, data, uow)


def demo_logins() -> list[str]:
    return [s[0] for s in STAFF] + [s[0] for s in STUDENTS if s[3]]


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
    bank = {
        "ZORG": create_assignment(school_id, "ZORG", "Zorg verlenen in de thuissituatie",
                                  "Je verleent een dagdeel zorg aan een cliënt en legt dit vast.", ZORG_MODEL,
                                  uow, established=True),
        "BEGELEIDEN": create_assignment(school_id, "BEGELEIDEN", "Een groep begeleiden",
                                        "Je begeleidt een groepsactiviteit van begin tot eind.", BEGELEIDEN_MODEL,
                                        uow),
    }
    student_ids: dict[str, int] = {}
    for email, name, number, can_login in STUDENTS:
        uid = accounts.create_user(email, name, DEMO_PASSWORD if can_login else None, uow)
        student_ids[email] = accounts.create_student(uid, school_id, number, "2024", "25655", uow)
    for email, code, park_at, fail, days_ago in EXAMS:
        with clock.use_clock(clock.now() - timedelta(days=days_ago)):
            result = runner.start_pvb(school_id, student_ids[email], people["begeleider@demo.nl"], uow,
                                      assignment_id=bank[code])
            _walk(uow, result.instance_id, park_at, people, fail)
    _exam_moments(uow, school_id, people)
    # One sweep now: the exam whose assessment is overdue gets its escalation (as the scheduler would).
    fire_due_timers(lambda: uow, clock.now())
    lines.append(f"Demo-school 'ROC Demo' met {len(EXAMS)} PvB's en een examen op examenmomenten aangemaakt.")
    lines.append(f"Inloggen met bijvoorbeeld begeleider@demo.nl / {DEMO_PASSWORD}")
    return lines
