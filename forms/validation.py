"""Server-side validation of submitted form data: a marshmallow schema built from a FormDef.

The server always validates; the browser's hints (``required``, the required_when hint) are a
convenience only. Data arrives in two shapes and both are accepted: HTML posts (every value a
string, an unticked checkbox absent, criteria flattened: see ``unflatten_form``) and JSON posts
(typed values, criteria nested). The clean result is JSON-serialisable (dates as ISO strings).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError, fields, pre_load, validates_schema

from .criteria import ONVOLDOENDE, OORDELEN, check_criteria_model, compute_result, criterion_ids
from .model import FieldDef, FormDef

__all__ = [
    "FormInvalid",
    "build_schema",
    "compute_result",
    "condition_met",
    "parse_bool",
    "unflatten_form",
    "validate",
]

# Deadlines and appointments are in the school's time zone (shared/domain.md); a datetime-local
# input sends no offset, so a naive value is read as Amsterdam time.
SCHOOL_TZ = ZoneInfo("Europe/Amsterdam")

REQUIRED = "Dit veld is verplicht."
UNKNOWN = "Onbekend veld."
INVALID = "Ongeldige invoer."
CHOOSE = "Kies een van de opties."
INTEGER = "Vul een geheel getal in."
DATE = "Vul een geldige datum in (jjjj-mm-dd)."
DATETIME = "Vul een geldige datum en tijd in (jjjj-mm-dd uu:mm)."
CONFIRM = "Bevestig dit om verder te gaan."
BOOLEAN = "Vink dit aan of laat het leeg."
TOO_LONG = "Maximaal {max} tekens."
TOO_SMALL = "Vul een getal van minimaal {min} in."
TOO_LARGE = "Vul een getal van maximaal {max} in."
OORDEEL = "Kies voldaan of onvoldoende."
OORDEEL_FOR_NOTE = "Kies voldaan of onvoldoende, of laat de toelichting leeg."
UNKNOWN_CRITERION = "Onbekend criterium."
R25_JUSTIFY = "Een toelichting is verplicht bij onvoldoende."
R26_INCOMPLETE = "Niet alle criteria zijn beoordeeld: bevestig dat u een onvolledige beoordeling vastlegt."
NOTHING_JUDGED = "Beoordeel ten minste één criterium."

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
# ASCII digits only ("²".isdigit() is true, int("²") fails); 15 digits is plenty for a form.
_INT_RE = re.compile(r"^[+-]?[0-9]{1,15}$")
_TRUE = {"on", "true", "1", "ja", "yes"}
_FALSE = {"off", "false", "0", "nee", "no"}
# The separator between a criteria field, a criterion id and a part in flattened HTML names.
SEP = "__"
# Flask-WTF adds its token to every HTML post; it is not form data.
_IGNORED_POST_KEYS = {"csrf_token"}


class FormInvalid(ValueError):
    """Submitted data that does not fit the form. ``errors`` maps a field name to Dutch messages.

    Criteria errors use the flattened HTML names (``beoordeling__c1__toelichting``); an error about
    the data as a whole is under ``_schema``.
    """

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def parse_bool(value: Any) -> bool | None:
    """True/False for a checkbox value from HTML ("on") or JSON (true); None if it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE or lowered == "":
            return False
    return None


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def condition_met(field: FieldDef, clean: Mapping[str, Any]) -> bool:
    """Whether a field's required_when holds for the (clean) values of the other fields."""
    if not field.required_when:
        return False
    value = clean.get(field.required_when["field"])
    # bool is an int in Python: never let True match 1.
    return any(type(value) is type(v) and value == v for v in field.condition_values())


class _FormField(fields.Field):
    """Base: Dutch messages for the cases marshmallow itself reports."""

    def __init__(self, definition: FieldDef, **kwargs):
        messages = {"required": REQUIRED, "null": REQUIRED, "invalid": INVALID}
        messages.update(kwargs.pop("error_messages", {}))
        super().__init__(error_messages=messages, **kwargs)
        self.definition = definition


class _Text(_FormField):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        value = value.strip()
        limit = self.definition.max_length
        if limit is not None and len(value) > limit:
            raise ValidationError(TOO_LONG.format(max=limit))
        return value


class _Integer(_FormField):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and _INT_RE.match(value.strip()):
            value = int(value.strip())
        # A float such as 12.5 is refused rather than truncated.
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError(INTEGER)
        low, high = self.definition.min, self.definition.max
        if low is not None and value < low:
            raise ValidationError(TOO_SMALL.format(min=low))
        if high is not None and value > high:
            raise ValidationError(TOO_LARGE.format(max=high))
        return value


class _Date(_FormField):
    def _deserialize(self, value, attr, data, **kwargs):
        # date.fromisoformat also takes 20250301 and 2025-W09-6; the form promises jjjj-mm-dd.
        if not isinstance(value, str) or not _DATE_RE.match(value.strip()):
            raise ValidationError(DATE)
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValidationError(DATE) from None


class _DateTime(_FormField):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _DATETIME_RE.match(value.strip()):
            raise ValidationError(DATETIME)
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(DATETIME) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=SCHOOL_TZ)
        return parsed.isoformat()


class _Choice(_FormField):
    def __init__(self, definition: FieldDef, values: list, **kwargs):
        super().__init__(definition, **kwargs)
        # A person's id arrives as "15" from HTML and 15 from JSON; compare as text.
        self.by_text = {str(v): v for v in values}

    def _deserialize(self, value, attr, data, **kwargs):
        dynamic = self.definition.type in ("person", "moment")
        if dynamic and isinstance(value, int | str) and not isinstance(value, bool):
            value = str(value).strip()
        if not isinstance(value, str) or value not in self.by_text:
            raise ValidationError(CHOOSE)
        return self.by_text[value]


class _Bool(_FormField):
    def _deserialize(self, value, attr, data, **kwargs):
        parsed = parse_bool(value)
        if parsed is None:
            raise ValidationError(BOOLEAN)
        if self.definition.type == "confirm" and self.definition.required and not parsed:
            raise ValidationError(CONFIRM)
        return parsed


class _Criteria(_FormField):
    """Judgements per criterion (R25), complete unless the form's confirmation is ticked (R26)."""

    def __init__(self, definition: FieldDef, model: dict, **kwargs):
        super().__init__(definition, **kwargs)
        self.ids = criterion_ids(model)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        errors: dict[str, Any] = {}
        clean: dict[str, dict] = {}
        for cid, entry in value.items():
            if cid not in self.ids:
                errors[cid] = [UNKNOWN_CRITERION]
                continue
            if entry is None:
                continue
            entry_errors = self._check_entry(entry, cid, clean)
            if entry_errors:
                errors[cid] = entry_errors
        unjudged = [cid for cid in self.ids if cid not in clean and cid not in errors]
        whole: list[str] = []
        if unjudged:
            confirm = self.definition.incomplete_confirm
            if self.definition.required and not clean and not errors:
                whole.append(NOTHING_JUDGED)
            elif not (confirm and parse_bool(data.get(confirm)) is True):
                whole.append(R26_INCOMPLETE)
        if whole:
            errors["_schema"] = whole
        if errors:
            raise ValidationError(errors)
        return {cid: clean[cid] for cid in self.ids if cid in clean}

    def _check_entry(self, entry: Any, cid: str, clean: dict) -> Any:
        if not isinstance(entry, Mapping):
            return [INVALID]
        errors: dict[str, list[str]] = {}
        for key in set(entry) - {"oordeel", "toelichting"}:
            errors[key] = [UNKNOWN]
        oordeel = entry.get("oordeel")
        if _is_blank(oordeel):
            oordeel = None
        elif oordeel not in OORDELEN:
            errors["oordeel"] = [OORDEEL]
        note = entry.get("toelichting")
        note = "" if note is None else note
        if not isinstance(note, str):
            errors["toelichting"] = [INVALID]
            note = ""
        note = note.strip()
        limit = self.definition.max_length
        if limit is not None and len(note) > limit:
            errors["toelichting"] = [TOO_LONG.format(max=limit)]
        if oordeel == ONVOLDOENDE and not note:
            errors["toelichting"] = [R25_JUSTIFY]
        if oordeel is None and note and "oordeel" not in errors:
            # Losing a written note silently would be worse than asking.
            errors["oordeel"] = [OORDEEL_FOR_NOTE]
        if not errors and oordeel is not None:
            clean[cid] = {"oordeel": oordeel, "toelichting": note}
        return errors


class _FormSchema(Schema):
    error_messages = {"unknown": UNKNOWN, "type": "Ongeldige invoer: verwacht een formulier."}
    # Underscored: form field names cannot start with "_", so no field shadows it.
    _form_def: FormDef

    @pre_load
    def _blank_is_missing(self, data, **kwargs):
        if not isinstance(data, Mapping):
            return data
        out = {k: v for k, v in data.items() if k not in self.fields or not _is_blank(v)}
        for f in self._form_def.fields:
            # An absent criteria section still has to pass the completeness check (R26).
            if f.type == "criteria" and f.name not in out:
                out[f.name] = {}
        return out

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _required_when(self, data, original_data, **kwargs):
        errors = {}
        for f in self._form_def.fields:
            if condition_met(f, data) and _missing(f, data, original_data):
                errors[f.name] = [CONFIRM if f.type == "confirm" else REQUIRED]
        if errors:
            raise ValidationError(errors)


def _missing(f: FieldDef, clean: Mapping[str, Any], original: Any) -> bool:
    if f.name in clean:
        return f.type == "confirm" and clean[f.name] is not True
    # Not in the clean data: either absent, or refused already with its own message.
    return not isinstance(original, Mapping) or _is_blank(original.get(f.name))


def build_schema(
    form: FormDef, choices: dict[str, list] | None = None, criteria_model: dict | None = None
) -> Schema:
    """A marshmallow schema for one form.

    ``choices`` gives, per person field, the allowed users as ``[{"value": user_id, "label": ...}]``
    (per moment field, the exam moments open to this exam the same way);
    ``criteria_model`` is the exam's assessment model for a criteria field. A form that has such a
    field cannot be validated without them (ValueError), so that nobody can name an arbitrary user.
    """
    attrs: dict[str, Any] = {"_form_def": form}
    for f in form.fields:
        attrs[f.name] = _make_field(form, f, choices or {}, criteria_model)
    cls = type(f"FormSchema_{form.key}", (_FormSchema,), attrs)
    return cls()


def _make_field(form: FormDef, f: FieldDef, choices: dict, criteria_model: dict | None) -> fields.Field:
    kwargs: dict[str, Any] = {"required": f.required}
    if f.type in {"text", "textarea"}:
        return _Text(f, **kwargs)
    if f.type == "integer":
        return _Integer(f, **kwargs)
    if f.type == "date":
        return _Date(f, **kwargs)
    if f.type == "datetime":
        return _DateTime(f, **kwargs)
    if f.type == "choice":
        return _Choice(f, [o["value"] for o in f.options], **kwargs)
    if f.type in ("person", "moment"):
        if f.name not in choices:
            raise ValueError(f"form {form.key}: {f.type} field {f.name!r} needs its choices")
        return _Choice(f, [o["value"] for o in choices[f.name]], **kwargs)
    if f.type in {"boolean", "confirm"}:
        if f.required:
            return _Bool(f, error_messages={"required": CONFIRM}, **kwargs)
        return _Bool(f, load_default=False)
    if f.type == "criteria":
        if criteria_model is None:
            raise ValueError(f"form {form.key}: criteria field {f.name!r} needs the assessment model")
        return _Criteria(f, check_criteria_model(criteria_model), required=False)
    raise AssertionError(f.type)  # parse_form admits no other type


def validate(
    form: FormDef,
    data: Mapping[str, Any],
    choices: dict[str, list] | None = None,
    criteria_model: dict | None = None,
) -> dict:
    """Clean, JSON-serialisable data, or FormInvalid with Dutch messages per field."""
    schema = _cached_schema(form) if _static(form) else build_schema(form, choices, criteria_model)
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise FormInvalid(_flatten(exc.messages)) from None


# A form without person or criteria fields always builds the same schema: build it once per FormDef
# (deployed versions keep their FormDef objects for the life of the process).
_SCHEMAS: dict[int, tuple[weakref.ref, Schema]] = {}


def _static(form: FormDef) -> bool:
    return not any(f.type in ("person", "moment", "criteria") for f in form.fields)


def _cached_schema(form: FormDef) -> Schema:
    hit = _SCHEMAS.get(id(form))
    if hit is not None and hit[0]() is form:
        return hit[1]
    schema = build_schema(form)
    _SCHEMAS[id(form)] = (weakref.ref(form), schema)
    return schema


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if not isinstance(messages, Mapping):
        out.setdefault(prefix or "_schema", []).extend(messages if isinstance(messages, list) else [messages])
        return out
    for key, value in messages.items():
        name = prefix if key == "_schema" and prefix else (f"{prefix}{SEP}{key}" if prefix else str(key))
        for k, v in _flatten(value, name).items():
            out.setdefault(k, []).extend(v)
    return out


def unflatten_form(form: FormDef, data: Mapping[str, Any]) -> dict:
    """Turn an HTML post (e.g. ``request.form.to_dict()``) into the shape the schema expects.

    ``beoordeling__c1__oordeel=voldaan`` becomes ``{"beoordeling": {"c1": {"oordeel": "voldaan"}}}``
    for each criteria field; other keys pass unchanged (unknown ones are refused by validation),
    except Flask-WTF's ``csrf_token``.
    """
    criteria_fields = {f.name for f in form.fields if f.type == "criteria"}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in _IGNORED_POST_KEYS:
            continue
        parts = key.split(SEP)
        if len(parts) == 3 and parts[0] in criteria_fields:
            section = out.setdefault(parts[0], {})
            if isinstance(section, dict):
                section.setdefault(parts[1], {})[parts[2]] = value
                continue
        out[key] = value
    return out
