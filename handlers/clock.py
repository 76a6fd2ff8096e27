"""The one clock (design decision 6): engine timers, the scheduler, the working-day calendar and
the overdue views all ask `now()`.

`now()` reads, in this order:

1. the context-local override set by `use_clock` (a `contextvars.ContextVar`: it holds for the
   current thread or asyncio task only; a new thread starts without it and sees 2 or 3);
2. the process-wide clock set by `set_process_clock` (a callable returning an aware datetime);
3. the real time, ``datetime.now(UTC)``.

Every instant it hands out is aware and in UTC. Naive datetimes are refused everywhere: a time
without a zone would be read with the server's offset, which is what design decision 7 forbids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

__all__ = ["aware", "now", "parse_instant", "set_process_clock", "use_clock"]

_override: ContextVar[datetime | None] = ContextVar("examenflow_clock", default=None)
_process_clock: Callable[[], datetime] | None = None


def aware(value: datetime, what: str = "tijdstip") -> datetime:
    """``value`` in UTC; a naive datetime (no time zone) is refused with a ValueError."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} moet een datetime zijn, geen {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} {value.isoformat()} is zonder tijdzone (naive datetime without a time zone); "
            "geef een tijdstip met tijdzone, zoals 2026-05-01T09:00:00+02:00"
        )
    return value.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date-time with an offset (``...+02:00`` or ``...Z``) as an aware UTC datetime,
    e.g. for ``scheduler --once --now``. Without an offset it is refused, not guessed."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"'{text}' is geen ISO 8601-tijdstip; schrijf bijvoorbeeld 2026-05-01T09:00:00+02:00"
        ) from None
    return aware(value, f"'{text}':")


def now() -> datetime:
    """The current instant: aware, in UTC."""
    at = _override.get()
    if at is not None:
        return at
    clock = _process_clock
    if clock is not None:
        return aware(clock(), "de procesklok gaf")
    return datetime.now(UTC)


@contextmanager
def use_clock(at: datetime) -> Iterator[datetime]:
    """Within the block, in this context only, `now()` is the fixed instant ``at``.

    Nests; each thread (or asyncio task) sets its own. Yields ``at`` in UTC.
    """
    instant = aware(at, "use_clock:")
    token = _override.set(instant)
    try:
        yield instant
    finally:
        _override.reset(token)


def set_process_clock(clock: Callable[[], datetime] | None) -> None:
    """Makes ``clock`` the clock of every context without a `use_clock`; None restores real time."""
    global _process_clock
    if clock is not None and not callable(clock):
        raise TypeError("set_process_clock wil een functie die een datetime geeft, of None")
    _process_clock = clock
