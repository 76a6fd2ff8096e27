"""R48 in the shipped PvB: the 5 working days from the end of execution until both assessments are
recorded, and the 2 working days from the establishment until the result is delivered, as
non-interrupting boundary timers on embedded subprocesses (design decision 7).

Walked in memory as the server does (load, complete, run, dump per step) on the app's clock,
with the shipped handlers and a stand-in for the exam they act on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from forms import load_form_dir, shipped_forms_dir
from handlers.calendar import add_working_days
from handlers.clock import use_clock
from handlers.registry import HandlerContext
from processes.engine import Engine
from processes.models import ROLES

ROOT = Path(__file__).resolve().parents[2]
CEST = timezone(timedelta(hours=2))

# Thursday; +5 working days skips the weekend and Koningsdag (Monday 27 April 2026).
START = datetime(2026, 4, 20, 9, 0, tzinfo=CEST)
END_OF_EXECUTION = datetime(2026, 4, 23, 10, 0, tzinfo=CEST)
ASSESSMENT_DUE = datetime(2026, 5, 1, 10, 0, tzinfo=CEST)
FOUR_WORKING_DAYS_LATER = datetime(2026, 4, 30, 10, 0, tzinfo=CEST)
# Monday; +2 working days (Bevrijdingsdag 2026 is no public holiday: not a lustrum year).
ESTABLISHED = datetime(2026, 5, 4, 14, 0, tzinfo=CEST)
DELIVERY_DUE = datetime(2026, 5, 6, 14, 0, tzinfo=CEST)

SETTINGS = {"bewijsstukken_gebruiken": True, "een_beoordelaar_toegestaan": False}
JUDGED = {"c1": {"oordeel": "voldaan", "toelichting": ""}}
CONFIRM = {"bevestiging": True}
FORM_DATA = {
    "opdracht_aanmaken": {"titel": "Onderhoud installaties", "gewenste_einddatum": "2026-06-30"},
    "opdracht_verwerven": {"examenlocatie": "Installatiebedrijf De Vries", "context": "Storingsdienst"},
    "deelnemers_vastleggen": {
        "praktijkbegeleider": 11,
        "praktijkbeoordelaar": 12,
        "roc_beoordelaar": 13,
        "vaststeller": 14,
    },
    "goedkeuren_student": {"informatie_gelezen": True, "goedkeuring": True},
    "goedkeuren_roc_begeleider": {"goedkeuring": True},
    "goedkeuren_praktijkbegeleider": {"goedkeuring": True},
    "opdracht_vaststellen": {"opdracht_besluit": "vastgesteld", **CONFIRM},
    "afspraken_plannen": {"uitvoeringsdatum": "2026-04-22", "beoordelingsdatum": "2026-04-28"},
    "bewijsstukken_uploaden": {"bewijs_beschrijving": "Foto's", "uitvoering_afgerond": True},
    "bewijsstukken_aanvullen": {"bewijs_beschrijving": "Foto's en video", "uitvoering_afgerond": True},
    "bewijsstukken_controleren": {"bewijs_besluit": "compleet", **CONFIRM},
    "uitvoering_afronden": {"uitvoering_afgerond": True},
    "beoordelen_roc": {"beoordeling": JUDGED, "uitslag": "voldaan", **CONFIRM},
    "beoordelen_praktijk": {"beoordeling": JUDGED, "uitslag": "voldaan", **CONFIRM},
    "beoordelen_alleen": {"beoordeling": JUDGED, "uitslag": "voldaan", **CONFIRM},
    "consensus_vastleggen": {"beoordeling": JUDGED, "uitslag": "voldaan", **CONFIRM},
    "consensus_bevestigen": {"consensus_akkoord": "akkoord", **CONFIRM},
    "eindbeoordeling_vaststellen": {"eind_besluit": "vastgesteld", **CONFIRM},
    "escalatie_beoordeling": {"escalatie_actie": "Beoordelaars gebeld.", **CONFIRM},
    "escalatie_uitwisseling": {"escalatie_actie": "Studentenadministratie gebeld.", **CONFIRM},
    "afsluiten": CONFIRM,
    "vervolg_bepalen": {"vervolg_toelichting": "Werkproces 2 opnieuw", **CONFIRM},
}


class FakeExam:
    """The ExamServices the shipped handlers use, recording what they did."""

    def __init__(self, people: dict[str, int]):
        self.people = people
        self.warnings: list[tuple[str, str]] = []
        self.done: list[str] = []

    def participants(self) -> dict[str, int]:
        return dict(self.people)

    def lock_assignment(self) -> None:
        self.done.append("lock")

    def unlock_assignment(self) -> None:
        self.done.append("unlock")

    def establish_assignment(self) -> None:
        self.done.append("establish")

    def lock_evidence(self) -> None:
        self.done.append("lock_evidence")

    def warn(self, code: str, message: str) -> None:
        self.warnings.append((code, message))

    def record_result(self) -> dict:
        self.done.append("result")
        return {"uitslag": "voldaan"}

    def start_follow_up(self, note: str) -> int:
        self.done.append("follow_up")
        return 99

    def archive(self) -> None:
        self.done.append("archive")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture(scope="module")
def pvb(engine):
    return engine.compile(
        {"pvb.bpmn": (ROOT / "bpmn" / "pvb.bpmn").read_bytes()},
        "pvb",
        known_roles=set(ROLES),
        known_forms=set(load_form_dir(shipped_forms_dir())),
    )


class Walk:
    """One PvB, kept as the server keeps it: a dumped state between steps."""

    def __init__(self, engine: Engine, pvb, settings: dict, people: dict[str, int]):
        self.engine, self.pvb, self.settings = engine, pvb, settings
        self.exam = FakeExam(people)
        with use_clock(START):
            wf = engine.new_workflow("pvb:1", pvb.spec_json)
            engine.set_start_data(wf, settings)
            engine.run(wf, self.ctx)
        self.state = engine.dump(wf)

    def ctx(self, element_id: str) -> HandlerContext:
        return HandlerContext(instance_id=1, school_id=1, element_id=element_id, settings=self.settings, exam=self.exam)

    def wf(self):
        return self.engine.load("pvb:1", self.pvb.spec_json, self.state)

    def ready(self) -> dict:
        return {t.element_id: t for t in self.engine.ready_user_tasks(self.wf())}

    def complete(self, element_id: str, at: datetime, data: dict | None = None) -> None:
        wf = self.wf()
        (task,) = [t for t in self.engine.ready_user_tasks(wf) if t.element_id == element_id]
        with use_clock(at):
            self.engine.complete_user_task(wf, task.guid, FORM_DATA[element_id] if data is None else data)
            self.engine.run(wf, self.ctx)
        self.state = self.engine.dump(wf)

    def tick(self, at: datetime) -> None:
        """What the scheduler's sweep does at ``at``."""
        wf = self.wf()
        with use_clock(at):
            self.engine.refresh_timers(wf)
            self.engine.run(wf, self.ctx)
        self.state = self.engine.dump(wf)

    def deliver(self, at: datetime, payload: dict | None = None) -> bool:
        wf = self.wf()
        with use_clock(at):
            taken = self.engine.deliver_message(wf, "resultaat_afgeleverd", payload)
            self.engine.run(wf, self.ctx)
        self.state = self.engine.dump(wf)
        return taken

    def walk_until(self, element_id: str, at: datetime) -> None:
        """Completes open tasks (alphabetically) until ``element_id`` is open."""
        for _ in range(40):
            ready = self.ready()
            if element_id in ready:
                return
            self.complete(sorted(ready)[0], at)
        raise AssertionError(f"{element_id} never opened")

    def windows(self) -> dict:
        return {w.kind: w for w in self.engine.deadline_windows(self.wf())}

    def timers(self) -> dict:
        return {t.element_id: t for t in self.engine.waiting_timers(self.wf())}


TWO_ASSESSORS = {"roc_beoordelaar": 13, "praktijkbeoordelaar": 12}


def test_the_compiled_pvb_has_the_deadline_tasks_in_their_lanes(pvb):
    by_id = {t.element_id: t for t in pvb.user_tasks}
    assert (by_id["escalatie_beoordeling"].lane, by_id["escalatie_beoordeling"].form_key) == (
        "examenbureau",
        "termijn_escalatie",
    )
    assert (by_id["escalatie_uitwisseling"].lane, by_id["escalatie_uitwisseling"].form_key) == (
        "examenbureau",
        "termijn_escalatie",
    )
    # Inside the subprocess every task keeps its own lane.
    assert (by_id["bewijsstukken_aanvullen"].lane, by_id["bewijsstukken_aanvullen"].form_key) == (
        "student",
        "bewijsstukken_uploaden",
    )
    assert by_id["bewijsstukken_controleren"].lane == "roc_beoordelaar"
    assert by_id["beoordelen_praktijk"].lane == "praktijkbeoordelaar"
    assert "examenbureau" in pvb.lanes
    assert {"record_execution_end", "remind_assessors"} <= pvb.service_handlers


def test_the_expected_instants_follow_the_calendar():
    assert add_working_days(END_OF_EXECUTION.isoformat(), 5) == ASSESSMENT_DUE.isoformat()
    assert add_working_days(ESTABLISHED.isoformat(), 2) == DELIVERY_DUE.isoformat()


def test_both_deadlines_open_fire_close_and_the_exam_goes_on(engine, pvb):
    walk = Walk(engine, pvb, SETTINGS, TWO_ASSESSORS)
    walk.walk_until("bewijsstukken_uploaden", START)
    assert walk.windows() == {}
    assert walk.timers() == {}

    # The student marks the end of execution: the 5 working days start.
    walk.complete("bewijsstukken_uploaden", END_OF_EXECUTION)
    timer = walk.timers()["termijn_beoordeling"]
    assert timer.due_at == ASSESSMENT_DUE.astimezone(UTC)
    assert timer.properties == {"deadline": "beoordeling"}
    (window,) = walk.windows().values()
    assert (window.kind, window.element_id, window.state, window.closed) == (
        "beoordeling",
        "termijn_beoordeling",
        "waiting",
        False,
    )
    assert window.due_at == ASSESSMENT_DUE.astimezone(UTC)
    assert window.timer_guid == timer.guid
    assert walk.ready()["bewijsstukken_controleren"].data["uitvoering_einde"] == END_OF_EXECUTION.isoformat()

    # Incomplete evidence goes back to the student inside the window; the end of execution stays.
    walk.complete(
        "bewijsstukken_controleren",
        END_OF_EXECUTION + timedelta(hours=2),
        {"bewijs_besluit": "onvolledig", "bewijs_reden": "Video ontbreekt", **CONFIRM},
    )
    aanvullen = walk.ready()["bewijsstukken_aanvullen"]
    assert (aanvullen.lane, aanvullen.form_key) == ("student", "bewijsstukken_uploaden")
    walk.complete("bewijsstukken_aanvullen", END_OF_EXECUTION + timedelta(days=1))
    walk.complete("bewijsstukken_controleren", END_OF_EXECUTION + timedelta(days=1, hours=1))
    assert set(walk.ready()) == {"beoordelen_praktijk", "beoordelen_roc"}
    assert walk.timers()["termijn_beoordeling"].due_at == ASSESSMENT_DUE.astimezone(UTC)

    # Four working days later, and a second before the due time, nothing fires.
    for at in (FOUR_WORKING_DAYS_LATER, ASSESSMENT_DUE - timedelta(seconds=1)):
        walk.tick(at)
        assert set(walk.ready()) == {"beoordelen_praktijk", "beoordelen_roc"}
        assert walk.windows()["beoordeling"].state == "waiting"
    assert walk.exam.warnings == []

    # At the due time: a warning, the exam bureau gets the escalation, the assessments stay open.
    walk.tick(ASSESSMENT_DUE)
    ready = walk.ready()
    assert set(ready) == {"beoordelen_praktijk", "beoordelen_roc", "escalatie_beoordeling"}
    assert (ready["escalatie_beoordeling"].lane, ready["escalatie_beoordeling"].form_key) == (
        "examenbureau",
        "termijn_escalatie",
    )
    assert [code for code, _ in walk.exam.warnings] == ["beoordeling_te_laat"]
    assert "termijn_beoordeling" not in walk.timers()
    window = walk.windows()["beoordeling"]
    assert (window.state, window.closed, window.due_at) == ("fired", False, ASSESSMENT_DUE.astimezone(UTC))
    walk.tick(ASSESSMENT_DUE + timedelta(days=1))  # a fired timer does not fire again
    assert [code for code, _ in walk.exam.warnings] == ["beoordeling_te_laat"]

    # Both assessments recorded: the window closes; the escalation stays open on its own.
    later = ASSESSMENT_DUE + timedelta(days=1)
    walk.complete("beoordelen_praktijk", later)
    assert walk.windows()["beoordeling"].closed is False
    walk.complete("beoordelen_roc", later)
    window = walk.windows()["beoordeling"]
    assert (window.state, window.closed) == ("fired", True)
    assert set(walk.ready()) == {"consensus_vastleggen", "escalatie_beoordeling"}
    walk.complete("escalatie_beoordeling", later)
    assert set(walk.ready()) == {"consensus_vastleggen"}

    # The establishment opens the 2 working days for the delivery.
    walk.complete("consensus_vastleggen", later)
    walk.complete("consensus_bevestigen", later)
    walk.complete("eindbeoordeling_vaststellen", ESTABLISHED)
    assert walk.exam.done[-1] == "result"
    timer = walk.timers()["termijn_uitwisseling"]
    assert (timer.due_at, timer.properties) == (DELIVERY_DUE.astimezone(UTC), {"deadline": "uitwisseling"})
    window = walk.windows()["uitwisseling"]
    assert (window.state, window.closed, window.due_at) == ("waiting", False, DELIVERY_DUE.astimezone(UTC))
    assert walk.windows()["beoordeling"].closed is True
    assert walk.ready() == {}  # waiting for the delivery
    assert not engine.is_completed(walk.wf())

    # The outbox reports the delivery: the window closes in time, the exam goes on.
    assert walk.deliver(ESTABLISHED + timedelta(hours=1), {"bericht": 7}) is True
    window = walk.windows()["uitwisseling"]
    assert (window.state, window.closed) == ("cancelled", True)
    assert "termijn_uitwisseling" not in walk.timers()
    afsluiten = walk.ready()["afsluiten"]
    assert afsluiten.data["resultaat_vastgesteld_op"] == ESTABLISHED.isoformat()
    assert afsluiten.data["resultaat_aflevering"] == {"bericht": 7}
    assert walk.deliver(ESTABLISHED + timedelta(hours=2)) is False  # nobody waits any more
    walk.tick(DELIVERY_DUE + timedelta(days=1))
    assert set(walk.ready()) == {"afsluiten"}
    walk.complete("afsluiten", ESTABLISHED + timedelta(days=1))
    assert engine.is_completed(walk.wf())
    assert walk.exam.done[-1] == "archive"


def test_a_late_delivery_is_escalated_to_the_exam_bureau_and_the_exam_still_ends(engine, pvb):
    """No evidence, one assessor who is in time: the assessment window is cancelled, closed."""
    walk = Walk(
        engine,
        pvb,
        {"bewijsstukken_gebruiken": False, "een_beoordelaar_toegestaan": True},
        {"roc_beoordelaar": 13},
    )
    walk.walk_until("uitvoering_afronden", START)
    walk.complete("uitvoering_afronden", END_OF_EXECUTION)
    assert set(walk.ready()) == {"beoordelen_alleen"}
    assert walk.windows()["beoordeling"].state == "waiting"
    walk.complete("beoordelen_alleen", FOUR_WORKING_DAYS_LATER)
    window = walk.windows()["beoordeling"]
    assert (window.state, window.closed, window.due_at) == ("cancelled", True, ASSESSMENT_DUE.astimezone(UTC))
    assert "termijn_beoordeling" not in walk.timers()

    walk.complete("consensus_vastleggen", FOUR_WORKING_DAYS_LATER)
    walk.complete("eindbeoordeling_vaststellen", ESTABLISHED)
    walk.tick(DELIVERY_DUE - timedelta(seconds=1))
    assert walk.ready() == {}
    walk.tick(DELIVERY_DUE)
    ready = walk.ready()
    assert set(ready) == {"escalatie_uitwisseling"}
    assert ready["escalatie_uitwisseling"].lane == "examenbureau"
    assert walk.windows()["uitwisseling"].state == "fired"
    assert walk.windows()["uitwisseling"].closed is False
    walk.complete("escalatie_uitwisseling", DELIVERY_DUE + timedelta(hours=1))
    assert walk.ready() == {}

    assert walk.deliver(DELIVERY_DUE + timedelta(days=1)) is True
    assert walk.windows()["uitwisseling"].closed is True
    assert set(walk.ready()) == {"afsluiten"}
    walk.complete("afsluiten", DELIVERY_DUE + timedelta(days=1))
    assert engine.is_completed(walk.wf())
    assert [code for code, _ in walk.exam.warnings] == ["een_beoordelaar"]  # no beoordeling_te_laat


def test_a_message_nobody_waits_for_is_not_taken(engine, pvb):
    walk = Walk(engine, pvb, SETTINGS, TWO_ASSESSORS)
    assert walk.deliver(START) is False
    assert walk.engine.deliver_message(walk.wf(), "iets_anders") is False
    assert set(walk.ready()) == {"opdracht_aanmaken"}
