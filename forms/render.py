"""What a template needs to show a form: one plain dict per field, no HTML here.

The Jinja macro ``render_fields`` in ``webapp/templates/forms/_fields.html`` draws these dicts. Values
may be clean data (after validation, e.g. a task's stored data) or a rejected post as it came in, so
every value is turned back into the string an input shows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .criteria import OORDELEN, check_criteria_model
from .model import FieldDef, FormDef
from .validation import SCHOOL_TZ, SEP, parse_bool, unflatten_form

# Up to this many options a choice shows as radio buttons (all visible, one tap on a phone).
RADIO_LIMIT = 4

_INPUT_TYPES = {
    "text": "text",
    "textarea": "textarea",
    "integer": "number",
    "date": "date",
    "datetime": "datetime-local",
    "person": "select",
    "moment": "select",
    "boolean": "checkbox",
    "confirm": "checkbox",
    "criteria": "criteria",
}
_OORDEEL_LABELS = {"voldaan": "Voldaan", "onvoldoende": "Onvoldoende"}


def render_description(
    form: FormDef,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, list[str]] | None = None,
    choices: dict[str, list] | None = None,
    criteria_model: dict | None = None,
) -> list[dict]:
    """One dict per field: name, id, label, type, input_type, required, help, options, value,
    checked, errors, describedby, required_when (data for a client hint) and condition_text; a
    criteria field also carries its werkprocessen with each criterion's current judgement."""
    values = unflatten_form(form, values or {})
    errors = errors or {}
    choices = choices or {}
    return [_describe(form, f, values, errors, choices, criteria_model) for f in form.fields]


def unplaced_errors(form: FormDef, errors: Mapping[str, list[str]]) -> list[str]:
    """Messages that belong to no field of the form (unknown fields, a malformed post)."""
    names = set(form.field_names)
    out = []
    for key, messages in errors.items():
        if key.split(SEP)[0] not in names:
            out.extend(messages if key == "_schema" else [f"{key}: {m}" for m in messages])
    return out


def _describe(
    form: FormDef,
    f: FieldDef,
    values: Mapping[str, Any],
    errors: Mapping[str, list[str]],
    choices: dict[str, list],
    criteria_model: dict | None,
) -> dict:
    field_id = f"veld-{f.name}"
    value = values.get(f.name)
    field_errors = list(errors.get(f.name, []))
    d: dict[str, Any] = {
        "name": f.name,
        "id": field_id,
        "label": f.label,
        "type": f.type,
        "input_type": _INPUT_TYPES.get(f.type, "text"),
        "required": f.required,
        "help": f.help,
        "help_id": f"{field_id}-hulp" if f.help else None,
        "errors": field_errors,
        "error_id": f"{field_id}-fout" if field_errors else None,
        "options": [],
        "value": _display(f, value),
        "checked": f.type in {"boolean", "confirm"} and parse_bool(value) is True,
        "max_length": f.max_length,
        "min": f.min,
        "max": f.max,
        "role": f.role,
        "required_when": None,
        "required_when_json": "",
        "condition_text": "",
        "condition_id": None,
    }
    if f.required_when:
        target = form.field(f.required_when["field"])
        wanted = f.condition_values()
        d["required_when"] = {"field": target.name, "values": wanted}
        d["required_when_json"] = json.dumps(d["required_when"], ensure_ascii=False)
        d["condition_text"] = _condition_text(target, wanted)
        d["condition_id"] = f"{field_id}-voorwaarde"
    if f.type == "choice":
        d["input_type"] = "radio" if len(f.options) <= RADIO_LIMIT else "select"
        d["options"] = _options(field_id, f.options, value)
    elif f.type in ("person", "moment"):
        d["options"] = _options(field_id, choices.get(f.name, []), value)
    elif f.type == "criteria":
        d["incomplete_confirm"] = f.incomplete_confirm
        d["werkprocessen"] = _werkprocessen(f, value, errors, criteria_model)
    d["describedby"] = " ".join(i for i in (d["help_id"], d["condition_id"], d["error_id"]) if i)
    return d


def _display(f: FieldDef, value: Any) -> str:
    if value is None or f.type in {"boolean", "confirm", "criteria"}:
        return ""
    if f.type == "datetime" and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(SCHOOL_TZ)
        return parsed.strftime("%Y-%m-%dT%H:%M")
    return str(value)


def _options(field_id: str, options: list[dict], value: Any) -> list[dict]:
    current = "" if value is None else str(value)
    return [
        {
            "value": str(o["value"]),
            "label": o["label"],
            "id": f"{field_id}-{i}",
            "selected": current != "" and str(o["value"]) == current,
        }
        for i, o in enumerate(options, start=1)
    ]


def _condition_text(target: FieldDef, wanted: list) -> str:
    if target.type in {"boolean", "confirm"}:
        state = " of ".join("is aangevinkt" if v else "niet is aangevinkt" for v in wanted)
        return f"Verplicht als '{target.label}' {state}."
    labels = {o["value"]: o["label"] for o in target.options}
    shown = " of ".join(f"'{labels.get(v, v)}'" for v in wanted)
    if target.type == "choice":
        return f"Verplicht als bij '{target.label}' is gekozen voor {shown}."
    return f"Verplicht als '{target.label}' gelijk is aan {shown}."


def _werkprocessen(
    f: FieldDef, value: Any, errors: Mapping[str, list[str]], criteria_model: dict | None
) -> list[dict]:
    if criteria_model is None:
        return []
    model = check_criteria_model(criteria_model)
    judgements = value if isinstance(value, Mapping) else {}
    out = []
    for wp in model["werkprocessen"]:
        criteria = []
        for c in wp["criteria"]:
            base = f"{f.name}{SEP}{c['id']}"
            css_id = f"veld-{f.name}-{c['id']}"
            entry = judgements.get(c["id"])
            entry = entry if isinstance(entry, Mapping) else {}
            oordeel = entry.get("oordeel") or ""
            oordeel_errors = list(errors.get(base, [])) + list(errors.get(f"{base}{SEP}oordeel", []))
            note_errors = list(errors.get(f"{base}{SEP}toelichting", []))
            criteria.append(
                {
                    "id": c["id"],
                    "text": c["text"],
                    "crucial": c["crucial"],
                    "fieldset_id": css_id,
                    "name_oordeel": f"{base}{SEP}oordeel",
                    "name_toelichting": f"{base}{SEP}toelichting",
                    "options": [
                        {
                            "value": o,
                            "label": _OORDEEL_LABELS[o],
                            "id": f"{css_id}-{o}",
                            "selected": oordeel == o,
                        }
                        for o in OORDELEN
                    ],
                    "oordeel": oordeel,
                    "toelichting": entry.get("toelichting") or "",
                    "toelichting_id": f"{css_id}-toelichting",
                    "errors": oordeel_errors,
                    "error_id": f"{css_id}-fout" if oordeel_errors else None,
                    "toelichting_errors": note_errors,
                    "toelichting_error_id": f"{css_id}-toelichting-fout" if note_errors else None,
                }
            )
        out.append({"code": wp["code"], "title": wp["title"], "rule": wp["rule"], "criteria": criteria})
    return out
