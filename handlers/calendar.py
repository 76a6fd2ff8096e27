"""Working days of a school (shared/domain.md, "Working days"), in Europe/Amsterdam.

A working day is Monday to Friday, not a Dutch public holiday and not one of the school's closing
days. The public holidays come from the ``holidays`` package (NL): Nieuwjaarsdag, Goede Vrijdag,
Tweede Paasdag, Koningsdag, Bevrijdingsdag (there only in lustrum years: 2025, 2030, ...),
Hemelvaartsdag, Tweede Pinksterdag and both Kerstdagen. A school's settings change that:

- ``goede_vrijdag_werkdag`` (bool): Goede Vrijdag is a working day at this school;
- ``bevrijdingsdag_vrij`` (bool): 5 May is off every year, not only in lustrum years;
- ``sluitingsdagen`` (list of str): closing days, each an ISO date (``"2026-10-19"``) or an
  inclusive range (``"2026-12-21/2027-01-01"``). A closing day is never given back by the other
  settings.

Counting (`SchoolCalendar.add_working_days`): the result is the n-th working day *after* the start's
date, at the start's wall-clock time in Amsterdam. The start day itself never counts, so a start on a
non-working day simply counts from the next working day on (Saturday + 1 = Monday, as is Friday + 1).
``n == 0`` gives the start itself when that is a working day, else the next working day at the same
time; a negative ``n`` counts back. A start given as a bare date (``date`` or ``"2026-05-01"``) means
the start of that day, 00:00 in Amsterdam.

The calendar the diagrams' expressions see is context-local (`use_school_calendar`), like the clock:
the runner sets the school's calendar around a step; without one, no closing days apply.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from handlers import clock
from handlers.registry import expression_helper

__all__ = [
    "AMSTERDAM",
    "MAX_WORKING_DAYS",
    "SchoolCalendar",
    "current_calendar",
    "to_amsterdam",
    "use_school_calendar",
]

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# About ten school years: more is a mistake in a diagram, and must not keep a step busy.
MAX_WORKING_DAYS = 2600
# A closing range longer than a year is a typing error (2062 for 2026), not a holiday.
MAX_CLOSING_RANGE_DAYS = 366

_SETTINGS_BOOLS = ("goede_vrijdag_werkdag", "bevrijdingsdag_vrij")


# ----------------------------------------------------------------------------- input


def to_amsterdam(value: datetime | date | str) -> datetime:
    """An instant as an aware datetime in Europe/Amsterdam.

    Accepts an aware datetime, an ISO 8601 string with an offset (``...+02:00`` or ``...Z``), or a
    bare date (``date`` or ``"2026-05-01"``), meaning 00:00 in Amsterdam on that day. A datetime or
    string without a time zone is refused with a ValueError: it would be read with a wrong offset.
    """
    if isinstance(value, datetime):
        return clock.aware(value).astimezone(AMSTERDAM)
    if isinstance(value, date):
        return datetime.combine(value, time(0), AMSTERDAM)
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.combine(date.fromisoformat(text), time(0), AMSTERDAM)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"'{value}' is geen ISO 8601-datum of -tijdstip; schrijf bijvoorbeeld "
                "2026-05-01 of 2026-05-01T09:00:00+02:00"
            ) from None
        if moment.tzinfo is None:
            raise ValueError(
                f"'{value}' is een tijdstip zonder tijdzone (no UTC offset); schrijf een tijdstip met "
                "tijdzone, zoals 2026-05-01T09:00:00+02:00"
            )
        return moment.astimezone(AMSTERDAM)
    raise TypeError(f"Verwacht een datum of tijdstip, geen {type(value).__name__}")


def _day(value: datetime | date | str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return to_amsterdam(value).date()


def _closing_range(entry: object) -> tuple[date, date]:
    if isinstance(entry, date) and not isinstance(entry, datetime):
        return entry, entry
    if not isinstance(entry, str):
        raise ValueError(f"Sluitingsdag {entry!r} is geen datum (JJJJ-MM-DD) of periode (JJJJ-MM-DD/JJJJ-MM-DD)")
    parts = entry.strip().split("/")
    try:
        if len(parts) == 1:
            first = last = date.fromisoformat(parts[0].strip())
        elif len(parts) == 2:
            first, last = (date.fromisoformat(p.strip()) for p in parts)
        else:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"Sluitingsdag '{entry}' is geen datum (2026-10-19) of periode (2026-12-21/2027-01-01)"
        ) from None
    if last < first:
        raise ValueError(f"Sluitingsperiode '{entry}' eindigt voor ze begint")
    if (last - first).days >= MAX_CLOSING_RANGE_DAYS:
        raise ValueError(f"Sluitingsperiode '{entry}' is langer dan een jaar")
    return first, last


# ----------------------------------------------------------------------------- public holidays


@lru_cache(maxsize=128)
def _public_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("NL", years=year))


def _easter(year: int) -> date:
    # Anonymous Gregorian algorithm (Meeus/Jones/Butcher).
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return date(year, month, day + 1)


def _good_friday(year: int) -> date:
    return _easter(year) - timedelta(days=2)


# ----------------------------------------------------------------------------- the calendar


@dataclass(frozen=True)
class SchoolCalendar:
    """A school's working days. Immutable, so one may be shared between threads."""

    goede_vrijdag_werkdag: bool = False
    bevrijdingsdag_vrij: bool = False
    sluitingsdagen: tuple[tuple[date, date], ...] = ()  # inclusive (first, last) ranges

    @classmethod
    def from_settings(cls, settings: Mapping | None) -> SchoolCalendar:
        """From a school's settings; keys other than the three of this module are ignored."""
        settings = settings or {}
        flags = {}
        for key in _SETTINGS_BOOLS:
            value = settings.get(key, False)
            if value is None:
                value = False
            if not isinstance(value, bool):
                raise ValueError(f"Schoolinstelling '{key}' moet waar of onwaar zijn, niet {value!r}")
            flags[key] = value
        entries = settings.get("sluitingsdagen") or []
        if isinstance(entries, str | bytes) or not isinstance(entries, list | tuple):
            raise ValueError("Schoolinstelling 'sluitingsdagen' moet een lijst van datums en periodes zijn")
        ranges = tuple(sorted(_closing_range(entry) for entry in entries))
        return cls(sluitingsdagen=ranges, **flags)

    def is_closing_day(self, day: datetime | date | str) -> bool:
        d = _day(day)
        return any(first <= d <= last for first, last in self.sluitingsdagen)

    def is_working_day(self, day: datetime | date | str) -> bool:
        """Monday to Friday, not a public holiday (as this school observes them), not a closing day."""
        d = _day(day)
        if d.weekday() >= 5 or self.is_closing_day(d):
            return False
        if self.bevrijdingsdag_vrij and (d.month, d.day) == (5, 5):
            return False
        if d in _public_holidays(d.year):
            return self.goede_vrijdag_werkdag and d == _good_friday(d.year)
        return True

    def add_working_days(self, start: datetime | date | str, n: int) -> datetime:
        """The n-th working day after ``start``'s date, at ``start``'s wall-clock time in Amsterdam.

        Aware, in Europe/Amsterdam (so the offset follows summer time). See the module docstring
        for a start on a non-working day, ``n == 0`` and negative ``n``.
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"Het aantal werkdagen moet een geheel getal zijn, geen {n!r}")
        if abs(n) > MAX_WORKING_DAYS:
            raise ValueError(f"Meer dan {MAX_WORKING_DAYS} werkdagen ({n}) is geen termijn")
        moment = to_amsterdam(start)
        d = moment.date()
        if n == 0:
            while not self.is_working_day(d):
                d += timedelta(days=1)
        step = timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        while remaining:
            d += step
            if self.is_working_day(d):
                remaining -= 1
        # Working days are weekdays; the clocks change on Sundays, so this wall time always exists.
        return datetime.combine(d, moment.time(), AMSTERDAM)

    def working_days_between(self, a: datetime | date | str, b: datetime | date | str) -> int:
        """Working days after ``a``'s date up to and including ``b``'s date; negative if b is earlier.

        The inverse of `add_working_days` for a working-day start: between(a, add(a, k)) == k. For
        "days overdue": ``working_days_between(due_at, now())``, positive once overdue.
        """
        first, last = _day(a), _day(b)
        sign = 1
        if last < first:
            first, last, sign = last, first, -1
        count = 0
        d = first
        while d < last:
            d += timedelta(days=1)
            if self.is_working_day(d):
                count += 1
        return sign * count


DEFAULT_CALENDAR = SchoolCalendar()
_current: ContextVar[SchoolCalendar | None] = ContextVar("examenflow_school_calendar", default=None)


def current_calendar() -> SchoolCalendar:
    """The calendar set by `use_school_calendar` in this context; else public holidays only."""
    return _current.get() or DEFAULT_CALENDAR


@contextmanager
def use_school_calendar(settings: Mapping | SchoolCalendar | None) -> Iterator[SchoolCalendar]:
    """Within the block, in this context only, `current_calendar()` is the school's calendar."""
    calendar = settings if isinstance(settings, SchoolCalendar) else SchoolCalendar.from_settings(settings)
    token = _current.set(calendar)
    try:
        yield calendar
    finally:
        _current.reset(token)


# ----------------------------------------------------------------------------- expression helpers


@expression_helper("add_working_days")
def add_working_days(start: datetime | date | str, n: int) -> str:
    """For timer expressions (design decision 7): ISO 8601 with the Amsterdam offset,
    e.g. ``add_working_days("2026-04-30T09:00:00+02:00", 5)`` -> ``"2026-05-07T09:00:00+02:00"``."""
    return current_calendar().add_working_days(start, n).isoformat()


@expression_helper("nu")
def nu() -> str:
    """The clock's now (`handlers.clock.now`) as ISO 8601 with the Amsterdam offset."""
    return clock.now().astimezone(AMSTERDAM).isoformat()
