"""Dutch formatting of dates for templates, in the school's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(AMSTERDAM).strftime("%d-%m-%Y %H:%M")
