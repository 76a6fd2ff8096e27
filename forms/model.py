"""Form definitions: the files in ``forms/`` read into dataclasses, strictly checked.

A form file is written by a process owner, not a programmer, so every mistake in it is reported
in Dutch with the form and the field it is in (``FormFileError``). The format is described in
``forms/README.md``. No Flask here: the core validates with these definitions too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIELD_TYPES = frozenset(
    {"text", "textarea", "integer", "date", "datetime", "choice", "boolean", "confirm", "person", "moment", "criteria"}
)

# The role codes of shared/domain.md; kept in step with processes.models.ROLES (a unit test compares
# them). forms/ sits below processes/ and cannot import it.
ROLE_CODES = frozenset(
    {
        "beheerder",
        "student",
        "roc_begeleider",
        "praktijkbegeleider",
        "praktijkbeoordelaar",
        "roc_beoordelaar",
        "examencommissie",
        "examenbureau",
        "surveillant",
    }
)

# Types whose value a required_when condition may compare with.
CONDITION_TARGET_TYPES = frozenset({"choice", "boolean", "confirm", "text", "integer"})

_FORM_KEYS = {"key", "title", "description", "fields", "version"}
_FIELD_KEYS = {
    "name",
    "label",
    "type",
    "required",
    "help",
    "options",
    "max_length",
    "min",
    "max",
    "required_when",
    "role",
    "incomplete_confirm",
}
# "__" is reserved: it joins a criteria field's name to a criterion id in HTML posts.
_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


class FormFileError(ValueError):
    """A form file that cannot be used; the message is Dutch and names the form and the field."""

    def __init__(self, message: str, *, form: str | None = None, field: str | None = None):
        where = []
        if form:
            where.append(f"formulier '{form}'")
        if field:
            where.append(f"veld '{field}'")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix[:1].upper() + prefix[1:] + message if prefix else message)
        self.form = form
        self.field = field


@dataclass(frozen=True)
class FieldDef:
    name: str
    label: str
    type: str
    required: bool = False
    help: str = ""
    options: list[dict] = field(default_factory=list)
    max_length: int | None = None
    min: int | None = None
    max: int | None = None
    # {"field": "besluit", "equals": "afgewezen"} or {"field": ..., "in": [...]}
    required_when: dict | None = None
    role: str | None = None
    # For a criteria field: the confirm field that, ticked, allows criteria left unjudged (R26).
    incomplete_confirm: str | None = None

    def condition_values(self) -> list:
        """The target values that make this field required ([] when it has no condition)."""
        if not self.required_when:
            return []
        if "equals" in self.required_when:
            return [self.required_when["equals"]]
        return list(self.required_when["in"])


@dataclass(frozen=True)
class FormDef:
    key: str
    title: str
    description: str
    fields: list[FieldDef]
    version: int = 1

    def field(self, name: str) -> FieldDef:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


def parse_form(raw: Any) -> FormDef:
    """Read one form file's content (a dict) into a FormDef, or raise FormFileError."""
    if not isinstance(raw, dict):
        raise FormFileError("een formulier is een JSON-object met key, title en fields.")
    key = raw.get("key")
    if not isinstance(key, str) or not _NAME_RE.match(key):
        raise FormFileError(
            "'key' ontbreekt of is ongeldig: gebruik kleine letters, cijfers en losse '_' "
            "(bijv. 'opdracht_goedkeuren')."
        )
    unknown = sorted(set(raw) - _FORM_KEYS)
    if unknown:
        raise FormFileError(f"onbekende sleutel '{unknown[0]}'.", form=key)
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise FormFileError("'title' ontbreekt of is leeg.", form=key)
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise FormFileError("'description' moet tekst zijn.", form=key)
    version = raw.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FormFileError("'version' moet een geheel getal vanaf 1 zijn.", form=key)
    raw_fields = raw.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise FormFileError("'fields' moet een lijst met ten minste één veld zijn.", form=key)

    fields: list[FieldDef] = []
    seen: set[str] = set()
    for i, raw_field in enumerate(raw_fields, start=1):
        f = _parse_field(key, i, raw_field)
        if f.name in seen:
            raise FormFileError("deze veldnaam komt twee keer voor.", form=key, field=f.name)
        seen.add(f.name)
        fields.append(f)
    form = FormDef(key=key, title=title, description=description, fields=fields, version=version)
    for f in fields:
        _check_references(form, f)
    return form


def _parse_field(form_key: str, position: int, raw: Any) -> FieldDef:
    if not isinstance(raw, dict):
        raise FormFileError(f"veld nummer {position} is geen JSON-object.", form=form_key)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise FormFileError(
            f"veld nummer {position}: 'name' ontbreekt of is ongeldig ({name!r}); gebruik kleine letters, "
            "cijfers en losse '_'.",
            form=form_key,
        )

    def fail(message: str) -> FormFileError:
        return FormFileError(message, form=form_key, field=name)

    unknown = sorted(set(raw) - _FIELD_KEYS)
    if unknown:
        raise fail(f"onbekende sleutel '{unknown[0]}'.")
    ftype = raw.get("type")
    if ftype not in FIELD_TYPES:
        raise fail(f"onbekend type {ftype!r}; kies uit: {', '.join(sorted(FIELD_TYPES))}.")
    label = raw.get("label")
    if not isinstance(label, str) or not label.strip():
        raise fail("'label' ontbreekt of is leeg.")
    help_text = raw.get("help", "")
    if not isinstance(help_text, str):
        raise fail("'help' moet tekst zijn.")
    required = raw.get("required", False)
    if not isinstance(required, bool):
        raise fail("'required' moet true of false zijn.")

    def only_for(attr: str, types: set[str]) -> None:
        if attr in raw and ftype not in types:
            raise fail(f"'{attr}' hoort niet bij type '{ftype}'.")

    only_for("options", {"choice"})
    only_for("max_length", {"text", "textarea", "criteria"})
    only_for("min", {"integer"})
    only_for("max", {"integer"})
    only_for("role", {"person"})
    only_for("incomplete_confirm", {"criteria"})

    options = raw.get("options", [])
    if ftype == "choice":
        options = _parse_options(options, fail)
    max_length = raw.get("max_length")
    if max_length is not None and (not _is_int(max_length) or max_length < 1):
        raise fail("'max_length' moet een geheel getal vanaf 1 zijn.")
    low, high = raw.get("min"), raw.get("max")
    for attr, value in (("min", low), ("max", high)):
        if value is not None and not _is_int(value):
            raise fail(f"'{attr}' moet een geheel getal zijn.")
    if low is not None and high is not None and low > high:
        raise fail("'min' is groter dan 'max'.")
    role = raw.get("role")
    if ftype == "person" and role not in ROLE_CODES:
        raise fail(f"'role' ontbreekt of is onbekend ({role!r}); kies uit: {', '.join(sorted(ROLE_CODES))}.")
    if ftype == "boolean" and (required or "required_when" in raw):
        raise fail("een vinkje van type 'boolean' kan niet verplicht zijn; gebruik type 'confirm'.")
    required_when = raw.get("required_when")
    if required_when is not None:
        if required:
            raise fail("gebruik 'required' of 'required_when', niet allebei.")
        required_when = _parse_condition(required_when, fail)
    incomplete_confirm = raw.get("incomplete_confirm")
    if incomplete_confirm is not None and not isinstance(incomplete_confirm, str):
        raise fail("'incomplete_confirm' moet de naam van een veld van type 'confirm' zijn.")
    return FieldDef(
        name=name,
        label=label,
        type=ftype,
        required=required,
        help=help_text,
        options=options,
        max_length=max_length,
        min=low,
        max=high,
        required_when=required_when,
        role=role,
        incomplete_confirm=incomplete_confirm,
    )


def _parse_options(options: Any, fail) -> list[dict]:
    if not isinstance(options, list) or not options:
        raise fail('een keuzeveld heeft \'options\' nodig: een lijst van {"value": ..., "label": ...}.')
    clean, values = [], set()
    for option in options:
        if (
            not isinstance(option, dict)
            or set(option) != {"value", "label"}
            or not isinstance(option["value"], str)
            or not option["value"]
            or not isinstance(option["label"], str)
        ):
            raise fail('elke optie is {"value": "...", "label": "..."} met tekst als value.')
        if option["value"] in values:
            raise fail(f"optie '{option['value']}' komt twee keer voor.")
        values.add(option["value"])
        clean.append({"value": option["value"], "label": option["label"]})
    return clean


def _parse_condition(cond: Any, fail) -> dict:
    if not isinstance(cond, dict) or not isinstance(cond.get("field"), str):
        raise fail('\'required_when\' is {"field": "...", "equals": ...} of {"field": "...", "in": [...]}.')
    extra = set(cond) - {"field", "equals", "in"}
    if extra:
        raise fail(f"'required_when' kent de sleutel '{sorted(extra)[0]}' niet.")
    if ("equals" in cond) == ("in" in cond):
        raise fail("'required_when' heeft precies één van 'equals' en 'in' nodig.")
    if "in" in cond and (not isinstance(cond["in"], list) or not cond["in"]):
        raise fail("'in' in 'required_when' moet een niet-lege lijst zijn.")
    return dict(cond)


def _check_references(form: FormDef, f: FieldDef) -> None:
    def fail(message: str) -> FormFileError:
        return FormFileError(message, form=form.key, field=f.name)

    if f.required_when:
        target_name = f.required_when["field"]
        if target_name == f.name:
            raise fail("'required_when' verwijst naar het veld zelf.")
        if target_name not in form.field_names:
            raise fail(f"'required_when' verwijst naar veld '{target_name}', dat niet bestaat.")
        target = form.field(target_name)
        if target.type not in CONDITION_TARGET_TYPES:
            raise fail(f"'required_when' kan niet kijken naar veld '{target_name}' van type '{target.type}'.")
        for value in f.condition_values():
            if not _fits(target, value):
                raise fail(f"'required_when': {value!r} is geen mogelijke waarde van veld '{target_name}'.")
    if f.incomplete_confirm is not None:
        name = f.incomplete_confirm
        if name not in form.field_names or form.field(name).type != "confirm":
            raise fail(f"'incomplete_confirm' verwijst naar '{name}', dat geen veld van type 'confirm' is.")
        if form.field(name).required or form.field(name).required_when:
            raise fail(f"'incomplete_confirm': veld '{name}' mag niet verplicht zijn.")


def _fits(target: FieldDef, value: Any) -> bool:
    if target.type == "choice":
        return value in {o["value"] for o in target.options}
    if target.type in {"boolean", "confirm"}:
        return isinstance(value, bool)
    if target.type == "integer":
        return _is_int(value)
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def load_form_file(path: str | Path) -> FormDef:
    """Read and check one form file; its name must be its key plus ``.json``."""
    return _load(Path(path))[1]


def load_form_dir(path: str | Path) -> dict[str, dict]:
    """Every ``*.json`` form in a folder, checked, as raw dicts by key (what a deployed version stores)."""
    forms: dict[str, dict] = {}
    for file in sorted(Path(path).glob("*.json")):
        raw, form = _load(file)
        forms[form.key] = raw
    return forms


def _load(path: Path) -> tuple[Any, FormDef]:
    raw = _read_json(path)
    form = parse_form(raw)
    if path.stem != form.key:
        raise FormFileError(f"het bestand heet '{path.name}', maar de key is '{form.key}'.", form=form.key)
    return raw, form


def shipped_forms_dir() -> Path:
    """The ``forms/`` folder of this package, which holds the shipped form files."""
    return Path(__file__).resolve().parent


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FormFileError(f"bestand '{path}' kan niet gelezen worden: {exc.strerror}.") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormFileError(
            f"bestand '{path.name}' is geen geldige JSON: {exc.msg} (regel {exc.lineno}, kolom {exc.colno})."
        ) from exc
