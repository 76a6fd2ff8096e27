"""Working days (shared/domain.md, "Working days"): Dutch public holidays, school settings, Amsterdam time."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest

from handlers import calendar
from handlers.calendar import SchoolCalendar, current_calendar, use_school_calendar
from handlers.clock import use_clock
from handlers.registry import expression_helpers
from processes.expressions import evaluate

PLAIN = SchoolCalendar()


def helper(name: str):
    return expression_helpers()[name]


# ----------------------------------------------------------------------------- public holidays


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 1, 1), "Nieuwjaarsdag"),
        (date(2026, 4, 3), "Goede Vrijdag"),
        (date(2026, 4, 6), "Tweede Paasdag"),
        (date(2026, 4, 27), "Koningsdag (a Monday)"),
        (date(2026, 5, 14), "Hemelvaartsdag"),
        (date(2026, 5, 25), "Tweede Pinksterdag"),
        (date(2026, 12, 25), "Eerste Kerstdag"),
        (date(2027, 4, 27), "Koningsdag 2027 (a Tuesday)"),
        (date(2025, 5, 5), "Bevrijdingsdag in a lustrum year"),
    ],
)
def test_public_holidays_are_not_working_days(day, name):
    assert day.weekday() < 5, name
    assert not PLAIN.is_working_day(day), name


def test_weekdays_around_the_holidays_are_working_days():
    for day in (date(2026, 4, 28), date(2026, 5, 15), date(2026, 5, 26), date(2026, 12, 24), date(2026, 12, 28)):
        assert PLAIN.is_working_day(day), day
    assert not PLAIN.is_working_day(date(2026, 5, 2))  # Saturday
    assert not PLAIN.is_working_day(date(2026, 5, 3))  # Sunday


def test_koningsdag_hemelvaart_and_pinksteren_are_skipped():
    # Friday 24 April + 1: Monday 27 April is Koningsdag.
    assert PLAIN.add_working_days(date(2026, 4, 24), 1).date() == date(2026, 4, 28)
    # Wednesday 13 May + 1: Hemelvaart on Thursday 14 May.
    assert PLAIN.add_working_days(date(2026, 5, 13), 1).date() == date(2026, 5, 15)
    # Friday 22 May + 1: Whit Monday 25 May.
    assert PLAIN.add_working_days(date(2026, 5, 22), 1).date() == date(2026, 5, 26)


def test_christmas_and_a_school_closing_week():
    # Friday 18 December 2026 + 5: 21, 22, 23, 24 and (after Kerst on 25 and 26) Monday 28.
    assert PLAIN.add_working_days(date(2026, 12, 18), 5).date() == date(2026, 12, 28)
    school = SchoolCalendar.from_settings({"sluitingsdagen": ["2026-12-21/2027-01-01"]})
    assert not school.is_working_day(date(2026, 12, 28))
    assert school.add_working_days(date(2026, 12, 18), 1).date() == date(2027, 1, 4)
    assert school.add_working_days(date(2026, 12, 18), 5).date() == date(2027, 1, 8)
    single = SchoolCalendar.from_settings({"sluitingsdagen": ["2026-05-15"]})  # the day after Hemelvaart
    assert single.add_working_days(date(2026, 5, 13), 1).date() == date(2026, 5, 18)


def test_goede_vrijdag_given_back():
    given_back = SchoolCalendar.from_settings({"goede_vrijdag_werkdag": True})
    assert not PLAIN.is_working_day(date(2026, 4, 3))
    assert given_back.is_working_day(date(2026, 4, 3))
    assert given_back.is_working_day(date(2027, 3, 26))  # Goede Vrijdag 2027
    assert not given_back.is_working_day(date(2026, 4, 6))  # Tweede Paasdag stays a holiday
    assert PLAIN.add_working_days(date(2026, 4, 2), 1).date() == date(2026, 4, 7)
    assert given_back.add_working_days(date(2026, 4, 2), 1).date() == date(2026, 4, 3)
    closed = SchoolCalendar.from_settings({"goede_vrijdag_werkdag": True, "sluitingsdagen": ["2026-04-03"]})
    assert not closed.is_working_day(date(2026, 4, 3))  # a closing day is never given back


def test_bevrijdingsdag_setting():
    assert date(2026, 5, 5).weekday() == 1  # a Tuesday
    assert PLAIN.is_working_day(date(2026, 5, 5))  # the package counts it only in lustrum years
    free = SchoolCalendar.from_settings({"bevrijdingsdag_vrij": True})
    assert not free.is_working_day(date(2026, 5, 5))
    assert free.add_working_days(date(2026, 5, 4), 1).date() == date(2026, 5, 6)
    assert PLAIN.add_working_days(date(2026, 5, 4), 1).date() == date(2026, 5, 5)


# ----------------------------------------------------------------------------- counting


def test_the_start_day_never_counts():
    # Thursday 30 April 09:00 + 5: 1 May, 4, 5, 6, 7 May.
    start = datetime.fromisoformat("2026-04-30T09:00:00+02:00")
    assert PLAIN.add_working_days(start, 5) == datetime.fromisoformat("2026-05-07T09:00:00+02:00")
    # A start on a Saturday counts from the next working day on: Saturday + 1 == Friday + 1.
    assert PLAIN.add_working_days(date(2026, 5, 2), 1).date() == date(2026, 5, 4)
    assert PLAIN.add_working_days(date(2026, 5, 1), 1).date() == date(2026, 5, 4)
    # Saturday 25 April + 1: Monday is Koningsdag.
    assert PLAIN.add_working_days(date(2026, 4, 25), 1).date() == date(2026, 4, 28)


def test_zero_and_negative_counts():
    assert PLAIN.add_working_days(date(2026, 5, 6), 0).date() == date(2026, 5, 6)
    assert PLAIN.add_working_days(date(2026, 4, 25), 0).date() == date(2026, 4, 28)
    assert PLAIN.add_working_days(date(2026, 4, 28), -1).date() == date(2026, 4, 24)
    assert PLAIN.add_working_days(date(2026, 5, 26), -2).date() == date(2026, 5, 21)


def test_the_day_is_the_amsterdam_day():
    # 22:30 UTC on Friday 1 May is 00:30 on Saturday 2 May in Amsterdam.
    result = PLAIN.add_working_days("2026-05-01T22:30:00Z", 1)
    assert result.isoformat() == "2026-05-04T00:30:00+02:00"
    assert PLAIN.is_working_day(datetime(2026, 5, 1, 21, 59, tzinfo=UTC))
    assert not PLAIN.is_working_day(datetime(2026, 5, 1, 22, 0, tzinfo=UTC))


def test_working_days_between():
    assert PLAIN.working_days_between(date(2026, 4, 30), date(2026, 5, 7)) == 5
    assert PLAIN.working_days_between(date(2026, 5, 7), date(2026, 4, 30)) == -5
    assert PLAIN.working_days_between(date(2026, 5, 7), date(2026, 5, 7)) == 0
    assert PLAIN.working_days_between(date(2026, 5, 1), date(2026, 5, 3)) == 0  # a weekend
    due = PLAIN.add_working_days("2026-12-18T09:00:00+01:00", 7)
    assert PLAIN.working_days_between("2026-12-18T09:00:00+01:00", due) == 7


# ----------------------------------------------------------------------------- the expression helper


def test_helper_returns_iso_with_the_offset_across_summer_time():
    add = helper("add_working_days")
    # Summer time begins on Sunday 29 March 2026 and ends on Sunday 25 October 2026.
    assert add("2026-03-27T09:00:00+01:00", 1) == "2026-03-30T09:00:00+02:00"
    assert add("2026-10-23T09:00:00+02:00", 1) == "2026-10-26T09:00:00+01:00"
    assert add("2026-10-23T07:00:00Z", 1) == "2026-10-26T09:00:00+01:00"
    assert add("2026-04-30T09:00:00+02:00", 5) == "2026-05-07T09:00:00+02:00"
    assert datetime.fromisoformat(add("2026-03-27T09:00:00+01:00", 1)).utcoffset().total_seconds() == 7200


def test_helper_reads_a_bare_date_as_the_start_of_the_day_in_amsterdam():
    add = helper("add_working_days")
    assert add("2026-05-01", 0) == "2026-05-01T00:00:00+02:00"
    assert add(date(2026, 3, 27), 1) == "2026-03-30T00:00:00+02:00"
    assert add(datetime(2026, 3, 27, 8, tzinfo=UTC), 1) == "2026-03-30T09:00:00+02:00"


@pytest.mark.parametrize("start", ["2026-05-01T09:00:00", "2026-05-01 09:00", datetime(2026, 5, 1, 9)])
def test_naive_starts_are_refused(start):
    with pytest.raises(ValueError, match="zonder tijdzone"):
        helper("add_working_days")(start, 5)


@pytest.mark.parametrize(("start", "n"), [("volgende week", 5), ("2026-05-01", 2.5), ("2026-05-01", True), (5, 1)])
def test_other_bad_arguments_are_refused(start, n):
    with pytest.raises((TypeError, ValueError)):
        helper("add_working_days")(start, n)


def test_absurd_counts_are_refused():
    with pytest.raises(ValueError, match="werkdagen"):
        helper("add_working_days")("2026-05-01", calendar.MAX_WORKING_DAYS + 1)


def test_the_safe_evaluator_calls_the_helper_with_task_data():
    result = evaluate("add_working_days(start, 5)", {"start": "2026-04-30T09:00:00+02:00"})
    assert result == "2026-05-07T09:00:00+02:00"


def test_nu_is_the_clock_in_amsterdam():
    with use_clock(datetime(2026, 7, 1, 7, 30, tzinfo=UTC)):
        assert helper("nu")() == "2026-07-01T09:30:00+02:00"
        assert evaluate("nu()", {}) == "2026-07-01T09:30:00+02:00"


# ----------------------------------------------------------------------------- the current calendar


def test_the_current_calendar_is_context_local():
    add = helper("add_working_days")
    assert current_calendar() == SchoolCalendar()
    closed = {"sluitingsdagen": ["2026-05-04/2026-05-08"], "een_beoordelaar_toegestaan": True}
    seen_in_thread = []
    with use_school_calendar(closed) as school:
        assert current_calendar() is school
        # 1 May, (4-8 May closed), 11, 12, 13, (Hemelvaart 14), 15.
        assert add("2026-04-30T09:00:00+02:00", 5) == "2026-05-15T09:00:00+02:00"
        with use_school_calendar({}):
            assert add("2026-04-30T09:00:00+02:00", 5) == "2026-05-07T09:00:00+02:00"
        assert current_calendar() is school
        thread = threading.Thread(target=lambda: seen_in_thread.append(current_calendar()))
        thread.start()
        thread.join()
    assert seen_in_thread == [SchoolCalendar()]
    assert add("2026-04-30T09:00:00+02:00", 5) == "2026-05-07T09:00:00+02:00"


@pytest.mark.parametrize(
    "settings",
    [
        {"sluitingsdagen": ["2026-13-01"]},
        {"sluitingsdagen": ["2027-01-01/2026-12-21"]},
        {"sluitingsdagen": ["2026-01-01/2062-01-01"]},
        {"sluitingsdagen": ["2026-01-01/2026-01-02/2026-01-03"]},
        {"sluitingsdagen": "2026-12-21/2027-01-01"},
        {"goede_vrijdag_werkdag": "ja"},
    ],
)
def test_bad_settings_are_refused(settings):
    with pytest.raises(ValueError):
        SchoolCalendar.from_settings(settings)


def test_settings_defaults():
    assert SchoolCalendar.from_settings(None) == SchoolCalendar()
    assert SchoolCalendar.from_settings({"sluitingsdagen": None, "bevrijdingsdag_vrij": None}) == SchoolCalendar()
