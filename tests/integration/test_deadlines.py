"""The PvB's deadlines run themselves (R48): the 5-working-day assessment window and the 2-working-day
delivery window, through the process and the scheduler, around Dutch holidays and a school closing week."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from handlers.clock import use_clock
from processes import deadlines, queries
from processes.models import Deadline, HumanTask, School
from scheduler import sweep_once
from tests.conftest import run_cli
from tests.support.walk import deliver_results, open_tasks, start_and_walk_to, walk_to


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def deadline_rows(uow_factory, instance_id: int) -> list[Deadline]:
    with uow_factory() as uow:
        rows = uow.session.scalars(select(Deadline).where(Deadline.instance_id == instance_id)
                                   .order_by(Deadline.id)).all()
        for r in rows:
            uow.session.expunge(r)
        return list(rows)


def listed(world, uow_factory, now: datetime, who: str = "commissie_a") -> dict[int, str]:
    rows = deadlines.list_deadlines(world.users[who], uow_factory(), now)
    return {r.instance_id: r.status for r in rows}


def sweep(app, uow_factory, now: datetime) -> int:
    svc = app.extensions["examenflow"]
    return sweep_once(uow_factory, svc.session_factory, now).timers.fired


# (end of execution, its 5th working day after, school closing days): Koningsdag, Hemelvaart,
# Pinksteren, Kerst, and an autumn closing week across the end of summer time.
ASSESSMENT_CASES = [
    ("2026-04-23T10:00:00+02:00", "2026-05-01T10:00:00+02:00", []),
    ("2026-05-13T10:00:00+02:00", "2026-05-21T10:00:00+02:00", []),
    ("2026-05-20T10:00:00+02:00", "2026-05-28T10:00:00+02:00", []),
    ("2026-12-22T10:00:00+01:00", "2026-12-30T10:00:00+01:00", []),
    ("2026-10-15T10:00:00+02:00", "2026-10-29T10:00:00+01:00", ["2026-10-19/2026-10-23"]),
]


@pytest.mark.parametrize(("ended", "due", "closing"), ASSESSMENT_CASES)
def test_r48_assessment_due_five_working_days_after_execution(app, world, uow_factory, ended, due, closing):
    if closing:
        with uow_factory() as uow:
            school = uow.session.get(School, world.schools["a"])
            school.settings = {**(school.settings or {}), "sluitingsdagen": closing}
            uow.commit()
    with use_clock(at(ended)):
        instance_id, task_id = start_and_walk_to(world, uow_factory, "bewijsstukken_controleren")
    (window,) = deadline_rows(uow_factory, instance_id)
    assert (window.kind, window.due_at) == ("beoordeling", at(due))
    with uow_factory() as uow:
        assert uow.session.get(HumanTask, task_id).due_at == at(due)  # "uiterlijk" in the inbox

    assert sweep(app, uow_factory, at(due) - timedelta(seconds=1)) == 0
    assert sweep(app, uow_factory, at(due)) == 1
    assert deadline_rows(uow_factory, instance_id)[0].overdue_at is not None


def test_r48_assessment_window_overdue_escalated_and_cleared_by_the_assessments(app, world, uow_factory):
    with use_clock(at("2026-04-23T10:00:00+02:00")):
        instance_id, _ = start_and_walk_to(world, uow_factory, "bewijsstukken_controleren")

    # Four working days later (Thursday 30 April; Koningsdag lies between): nothing is overdue.
    result = run_cli(app, "scheduler", "--once", "--now", "2026-04-30T10:00+02:00")
    assert result.exit_code == 0 and result.output.startswith("0 termijnen afgevuurd"), result.output
    assert listed(world, uow_factory, at("2026-04-30T10:00:00+02:00")).get(instance_id) == "bijna"
    assert not [t for t in open_tasks(uow_factory, instance_id) if t.lane_role == "examenbureau"]

    # After five: a reminder for the assessors, an escalation for the exam bureau, listed as late.
    result = run_cli(app, "scheduler", "--once", "--now", "2026-05-01T10:00+02:00")
    assert result.output.startswith("1 termijnen afgevuurd"), result.output
    escalation = [t for t in open_tasks(uow_factory, instance_id) if t.lane_role == "examenbureau"]
    assert [t.element_id for t in escalation] == ["escalatie_beoordeling"]
    bureau_inbox = queries.list_my_tasks(world.users["bureau_a"], uow_factory())
    assert escalation[0].id in {r.task_id for r in bureau_inbox.items}
    view = queries.get_instance(instance_id, world.users["rocbeoordelaar_a"], uow_factory())
    assert any("niet binnen 5 werkdagen" in w for w in view.warnings)
    now = at("2026-05-04T09:00:00+02:00")
    assert listed(world, uow_factory, now)[instance_id] == "te laat"
    (row,) = deadlines.list_deadlines(world.users["commissie_a"], uow_factory(), now)
    assert row.working_days_overdue == 1
    assert instance_id not in listed(world, uow_factory, now, "commissie_b")  # another school's committee

    # The exam goes on; recording both assessments clears the deadline, and its history stays.
    with use_clock(now):
        walk_to(world, uow_factory, instance_id, "consensus_vastleggen")
    assert instance_id not in listed(world, uow_factory, now)
    (window,) = deadline_rows(uow_factory, instance_id)
    assert window.overdue_at is not None and window.closed_at is not None


def test_r48_delivery_window_two_working_days_after_establishment(app, world, uow_factory):
    # Established on Wednesday 13 May 2026: Hemelvaart (14th) does not count, so due Monday 18 May.
    with use_clock(at("2026-05-13T14:00:00+02:00")):
        instance_id, _ = start_and_walk_to(world, uow_factory, None, deliver=False)
    windows = {d.kind: d for d in deadline_rows(uow_factory, instance_id)}
    assert windows["uitwisseling"].due_at == at("2026-05-18T14:00:00+02:00")
    assert sweep(app, uow_factory, at("2026-05-15T14:00:00+02:00")) == 0
    assert sweep(app, uow_factory, at("2026-05-18T14:00:00+02:00")) == 1
    assert [t.element_id for t in open_tasks(uow_factory, instance_id)] == ["escalatie_uitwisseling"]
    assert listed(world, uow_factory, at("2026-05-18T15:00:00+02:00"))[instance_id] == "te laat"

    # Delivery (by the outbox) ends the window; the exam goes on to its closing step.
    with use_clock(at("2026-05-19T09:00:00+02:00")):
        assert deliver_results(uow_factory, instance_id)
    assert instance_id not in listed(world, uow_factory, at("2026-05-19T10:00:00+02:00"))
    assert {t.element_id for t in open_tasks(uow_factory, instance_id)} == {"escalatie_uitwisseling", "afsluiten"}
    window = {d.kind: d for d in deadline_rows(uow_factory, instance_id)}["uitwisseling"]
    assert window.closed_at == at("2026-05-19T09:00:00+02:00")


def test_r48_delivered_in_time_nothing_is_escalated(app, world, uow_factory):
    with use_clock(at("2026-05-13T14:00:00+02:00")):
        instance_id, task_id = start_and_walk_to(world, uow_factory, "afsluiten")
    assert sweep(app, uow_factory, at("2026-05-30T14:00:00+02:00")) == 0
    assert not [t for t in open_tasks(uow_factory, instance_id) if t.lane_role == "examenbureau"]
    assert all(d.overdue_at is None and d.closed_at is not None for d in deadline_rows(uow_factory, instance_id))


def test_r48_goede_vrijdag_given_back_as_a_working_day(app, world, uow_factory):
    with uow_factory() as uow:
        uow.session.get(School, world.schools["a"]).settings = {"goede_vrijdag_werkdag": True}
        uow.commit()
    # Thursday 2 April 2026 + 5: Friday 3 April (Goede Vrijdag, worked) counts, Easter Monday does not.
    with use_clock(at("2026-04-02T10:00:00+02:00")):
        instance_id, _ = start_and_walk_to(world, uow_factory, "bewijsstukken_controleren")
    (window,) = deadline_rows(uow_factory, instance_id)
    assert window.due_at == at("2026-04-10T10:00:00+02:00")


def test_closing_days_are_set_from_the_cli_and_bad_ones_refused(app, world, uow_factory):
    ok = run_cli(app, "school", "set", "roc-a", "sluitingsdagen", "2026-10-19/2026-10-23, 2026-12-24")
    assert ok.exit_code == 0, ok.output
    with uow_factory() as uow:
        assert uow.session.get(School, world.schools["a"]).settings["sluitingsdagen"] == [
            "2026-10-19/2026-10-23", "2026-12-24"]
    bad = run_cli(app, "school", "set", "roc-a", "sluitingsdagen", "2026-13-40")
    assert bad.exit_code == 1 and "Ongeldige sluitingsdagen" in bad.output


def test_r48_the_assessor_sees_his_late_task_marked_in_the_inbox(app, world, uow_factory):
    from tests.conftest import login

    with use_clock(at("2026-04-23T10:00:00+02:00")):
        instance_id, _ = start_and_walk_to(world, uow_factory, "beoordelen_roc")
    client = app.test_client()
    with use_clock(at("2026-04-30T10:00:00+02:00")):
        login(client, "rocbeoordelaar_a@test.nl")
        before = client.get("/taken").get_data(as_text=True)
    assert "01-05-2026 10:00" in before and "te laat" not in before
    with use_clock(at("2026-05-04T10:00:00+02:00")):
        after = client.get("/taken").get_data(as_text=True)
    assert "01-05-2026 10:00 · te laat" in after
