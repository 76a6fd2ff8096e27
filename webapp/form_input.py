"""Reading the fields of a posted HTML form: a wrong value is a ValidationFailed with a Dutch message
(a 422), never a 500, and nothing is written."""

from __future__ import annotations

from datetime import datetime

from flask import request

from handlers.calendar import AMSTERDAM
from processes.errors import ValidationFailed


def text(name: str) -> str:
    return (request.form.get(name) or "").strip()


def optional_text(name: str) -> str | None:
    return text(name) or None


def _filled(name: str, label: str, required: bool) -> str | None:
    raw = text(name)
    if not raw and required:
        raise ValidationFailed({name: [f"{label}: dit veld is verplicht."]})
    return raw or None


def integer(name: str, label: str, *, required: bool = True) -> int | None:
    raw = _filled(name, label, required)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed({name: [f"{label}: vul een geheel getal in."]}) from None


def local_datetime(name: str, label: str, *, required: bool = True) -> datetime | None:
    """A ``datetime-local`` value (``2027-01-25T10:00``), meant in the school's time zone."""
    raw = _filled(name, label, required)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed({name: [f"{label}: vul een datum en tijd in, zoals 25-01-2027 10:00."]}) from None
    return value.replace(tzinfo=AMSTERDAM) if value.tzinfo is None else value


def checked(name: str) -> bool:
    return request.form.get(name) in ("on", "true", "1", "ja")


def require_confirmation(what: str) -> None:
    """R13: an irreversible step needs the explicit confirmation box; without it nothing happens."""
    if not checked("bevestiging"):
        raise ValidationFailed({"bevestiging": [f"Vink de bevestiging aan om {what}."]},
                               "Bevestig eerst; er is niets opgeslagen.")
