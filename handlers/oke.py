"""OKE messages (OOAPI v5, MBO profile; ``shared/oke/``): building them and checking them against the spec.

Pure functions: no database, no network, no Flask. ``processes/exchange.py`` puts what is built here
into the outbox and delivers it (design 13).

Flow 3 (Toetsafname → Toetsplanning/SIS) sends a PvB's established result as
``PATCH /associations/{associationId}`` with a JSON merge patch; flow 4.1 sends a sitting's report
(zittingsverslag) as ``PATCH /offerings/{offeringId}``. Flow 2 comes in: the planner's
``PUT /offerings/{offeringId}`` and ``PUT /associations/{associationId}``. Every body is validated
twice: against the request schema of that operation in ``ooapiv5_MBO.yaml``, and its ``nl-test-admin``
consumer entries against ``consumers/nl-test-admin-*.yaml`` — the main spec lists consumer entries
as ``anyOf`` a generic consumer, so without the second check the OKE fields (attendance, final…)
are never checked.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from openapi_schema_validator import OAS30Validator, OAS30WriteValidator, oas30_format_checker

CONSUMER_KEY = "nl-test-admin"
ASSOCIATION_TYPE = "componentOfferingAssociation"
# OOAPI's PATCH accepts only this media type (the spec lists no application/json for it).
MERGE_PATCH = "application/merge-patch+json"
SPEC_DIR_ENV = "EXAMENFLOW_OKE_SPEC_DIR"
SPEC_FILE = "ooapiv5_MBO.yaml"
PATCH_ASSOCIATION = ("/associations/{associationId}", "patch")
PATCH_OFFERING = ("/offerings/{offeringId}", "patch")
PUT_OFFERING = ("/offerings/{offeringId}", "put")
PUT_ASSOCIATION = ("/associations/{associationId}", "put")

# Result dates are the school's calendar dates, not UTC ones: a result established at 00:30 in
# Amsterdam is established that day.
SCHOOL_TZ = ZoneInfo("Europe/Amsterdam")

# Namespace of the identifiers Examenflow makes up itself (uuid5): fixed forever, or ids change.
EXAMENFLOW_NAMESPACE = uuid.UUID("7f1d2c1e-5b0a-5c7e-9a51-0e6b8c4f3a10")

ATTENDANCE = ("notKnown", "notPresent", "notStarted", "notFinished", "present")
DOCUMENT_TYPES = ("assessmentForm", "assessmentFormWithAnswers", "assessmentModel", "other")
# Flow 4.1: the documents of a sitting's report (nl-test-admin-Offering ``documents``).
OFFERING_DOCUMENT_TYPES = ("sessionReport", "attendanceReport", "assessmentModel", "other")
# Examenflow's outcome of a PvB → OOAPI ``pass`` and, with resultValueType pass-or-fail, ``score``.
PASS_STATES = {"voldaan": "passed", "onvoldoende": "failed"}
ROLE_LABELS = {"roc_beoordelaar": "ROC-beoordelaar", "praktijkbeoordelaar": "praktijkbeoordelaar"}


class OkeMessageInvalid(ValueError):
    """A message that does not validate against the OKE specification; ``errors`` lists every finding."""

    def __init__(self, what: str, errors: list[str]):
        self.what = what
        self.errors = errors
        super().__init__(f"{what} voldoet niet aan de OKE-specificatie: " + "; ".join(errors))


@dataclass(frozen=True)
class Assessor:
    """Someone who assessed the PvB. ``assessor_id``/``code`` go into OKE's ``assessorId``/``assessorCode``."""

    name: str
    role: str
    assessor_id: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class Document:
    """A document the receiver may fetch with ``GET /documents/{documentId}`` (flow 3.3)."""

    document_id: str
    document_type: str
    document_name: str


def association_id_for(school_code: str, instance_id: int) -> str:
    """The association id of one exam until enrolments arrive through OKE (flow 2).

    Deterministic (uuid5 of school code and exam id), so every message about the same exam, and every
    retry, names the same association. The enrolment flow (issue "exams at exam moments") will record
    the association id that the planner or SIS sent with ``PUT /associations/{id}``; that id then wins.
    """
    return str(uuid.uuid5(EXAMENFLOW_NAMESPACE, f"association/{school_code}/{instance_id}"))


def offering_id_for(school_code: str, moment_id: int) -> str:
    """The offering id of an exam moment that did not come in through flow 2 (no ``external_id``).

    Deterministic (uuid5 of school code and moment id), like :func:`association_id_for`; a moment
    the planner sent keeps the planner's offeringId (``ExamMoment.external_id``) instead.
    """
    return str(uuid.uuid5(EXAMENFLOW_NAMESPACE, f"offering/{school_code}/{moment_id}"))


def assessor_id_for(school_code: str, user_id: int) -> str:
    """A stable pseudonymous id for an assessor (OKE asks for minimal exposure of people's data)."""
    return str(uuid.uuid5(EXAMENFLOW_NAMESPACE, f"assessor/{school_code}/{user_id}"))


def build_result_association(
    association_id: str,
    *,
    result: str,
    werkprocessen: Mapping[str, str],
    assessors: Iterable[Assessor],
    established_at: datetime,
    attendance: str = "present",
    final: bool = True,
    test_date: datetime | None = None,
    documents: Iterable[Document] = (),
    irregularities: str | None = None,
) -> tuple[str, dict]:
    """Flow 3.1/3.2.B: the established result of a PvB as ``(path, body)`` of PATCH /associations/{id}.

    ``result`` is ``voldaan`` or ``onvoldoende``; ``werkprocessen`` maps werkproces codes to the same.
    The first assessor fills OKE's single ``assessorId``/``assessorCode``; the result's ``comment``
    names every assessor and the werkproces outcomes, which OOAPI has no field for.
    """
    if result not in PASS_STATES:
        raise ValueError(f"uitslag {result!r} is geen voldaan/onvoldoende")
    if attendance not in ATTENDANCE:
        raise ValueError(f"aanwezigheid {attendance!r} is geen van {ATTENDANCE}")
    if established_at.tzinfo is None or established_at.utcoffset() is None:
        raise ValueError("established_at zonder tijdzone")
    assessors = list(assessors)
    pass_state = PASS_STATES[result]

    entry: dict = {"consumerKey": CONSUMER_KEY, "attendance": attendance, "final": bool(final)}
    if assessors and assessors[0].assessor_id:
        entry["assessorId"] = assessors[0].assessor_id
    if assessors and assessors[0].code:
        entry["assessorCode"] = assessors[0].code
    if irregularities:
        entry["irregularities"] = irregularities
    if test_date is not None:
        if test_date.tzinfo is None or test_date.utcoffset() is None:
            raise ValueError("test_date zonder tijdzone")
        entry["testDate"] = test_date.astimezone(SCHOOL_TZ).isoformat(timespec="seconds")
    docs = [{"documentId": d.document_id, "documentType": d.document_type, "documentName": d.document_name}
            for d in documents]
    if docs:
        entry["documents"] = docs

    body = {
        "associationType": ASSOCIATION_TYPE,
        "result": {
            "state": "completed",
            "pass": pass_state,
            # A PvB's offering has resultValueType pass-or-fail: the score is from {passed, failed}.
            "score": pass_state,
            "resultDate": established_at.astimezone(SCHOOL_TZ).date().isoformat(),
            # Required for a component result, ignored by OKE: always 100 (flow 3).
            "weight": 100,
            "comment": result_comment(result, werkprocessen, assessors),
            "consumers": [entry],
        },
    }
    return association_path(association_id), body


def result_comment(result: str, werkprocessen: Mapping[str, str], assessors: Iterable[Assessor]) -> str:
    parts = [f"PvB {result}."]
    if werkprocessen:
        parts.append("Werkprocessen: " + ", ".join(f"{code} {werkprocessen[code]}" for code in sorted(werkprocessen))
                     + ".")
    names = [f"{a.name} ({ROLE_LABELS.get(a.role, a.role)})" for a in assessors]
    if names:
        parts.append("Beoordelaars: " + ", ".join(names) + ".")
    return " ".join(parts)


def enrolment_association_id(school_code: str, enrolment_id: int) -> str:
    """The association id of an enrolment that did not come through OKE flow 2 (uuid5, stable)."""
    return str(uuid.uuid5(EXAMENFLOW_NAMESPACE, f"association/{school_code}/enrolment/{enrolment_id}"))


def build_exam_result_association(
    association_id: str,
    *,
    score: int,
    passed: bool | None,
    assessed_at: datetime,
    final: bool,
    test_date: datetime | None = None,
    assessor: Assessor | None = None,
    cesuur: int | None = None,
    attendance: str = "present",
) -> tuple[str, dict]:
    """Flow 3 for an exam taken at an exam moment: the (provisional or established) score as
    ``(path, body)`` of PATCH /associations/{id}. ``passed`` is None while the cut-off score is unknown
    (variant 2, R38): OOAPI's ``pass`` is then ``unknown``; ``final`` is true only once established."""
    if assessed_at.tzinfo is None or assessed_at.utcoffset() is None:
        raise ValueError("assessed_at zonder tijdzone")
    if attendance not in ATTENDANCE:
        raise ValueError(f"aanwezigheid {attendance!r} is geen van {ATTENDANCE}")
    entry: dict = {"consumerKey": CONSUMER_KEY, "attendance": attendance, "final": bool(final), "rawScore": score}
    if assessor is not None and assessor.assessor_id:
        entry["assessorId"] = assessor.assessor_id
    if test_date is not None:
        if test_date.tzinfo is None or test_date.utcoffset() is None:
            raise ValueError("test_date zonder tijdzone")
        entry["testDate"] = test_date.astimezone(SCHOOL_TZ).isoformat(timespec="seconds")
    pass_state = "unknown" if passed is None else ("passed" if passed else "failed")
    comment = f"Score {score}" + (f", cesuur {cesuur}" if cesuur is not None else ", cesuur nog niet bekend")
    comment += ". Definitief vastgesteld." if final else ". Voorlopig resultaat."
    body = {
        "associationType": ASSOCIATION_TYPE,
        "result": {
            "state": "completed",
            "pass": pass_state,
            "score": str(score),
            "resultDate": assessed_at.astimezone(SCHOOL_TZ).date().isoformat(),
            "weight": 100,
            "comment": comment,
            "consumers": [entry],
        },
    }
    return association_path(association_id), body


def association_path(association_id: str) -> str:
    _check_uuid(association_id, "associationId")
    return f"/associations/{association_id}"


def build_offering_report(offering_id: str, *, irregularities: str = "",
                          documents: Iterable[Document] = ()) -> tuple[str, dict]:
    """Flow 4.1: a sitting's report (zittingsverslag) as ``(path, body)`` of PATCH /offerings/{offeringId}.

    ``offering_id`` is the moment's ``external_id`` or :func:`offering_id_for`. ``irregularities`` is
    what affected every student of the sitting (the proces-verbaal's incidents); left out when empty.
    ``documents`` are files the receiver fetches with ``GET /documents/{documentId}``, each of a type in
    :data:`OFFERING_DOCUMENT_TYPES` (``sessionReport`` the proces-verbaal, ``attendanceReport`` the
    signed attendance list, ``assessmentModel``, ``other``). Attendance per student has no field in
    nl-test-admin-Offering: it travels per association with flow 3 (``attendance``) and, signed, as an
    ``attendanceReport`` document here. Send the body as :data:`MERGE_PATCH`; check it with
    :func:`validate_offering_patch`.
    """
    docs = list(documents)
    unknown = sorted({d.document_type for d in docs} - set(OFFERING_DOCUMENT_TYPES))
    if unknown:
        raise ValueError(f"documentType {', '.join(unknown)} is geen van {OFFERING_DOCUMENT_TYPES}")
    entry: dict = {"consumerKey": CONSUMER_KEY}
    if irregularities.strip():
        entry["irregularities"] = irregularities.strip()
    if docs:
        entry["documents"] = [{"documentId": d.document_id, "documentType": d.document_type,
                               "documentName": d.document_name} for d in docs]
    return offering_path(offering_id), {"offeringType": "component", "consumers": [entry]}


def offering_path(offering_id: str) -> str:
    _check_uuid(offering_id, "offeringId")
    return f"/offerings/{offering_id}"


# --- validation against the specification ---------------------------------------------------------


def spec_dir() -> Path:
    """Where ``ooapiv5_MBO.yaml`` and ``consumers/`` are: ``$EXAMENFLOW_OKE_SPEC_DIR``, else a copy
    beside this module (``handlers/oke_spec``), else ``shared/oke`` next to the project checkout."""
    configured = os.environ.get(SPEC_DIR_ENV)
    candidates = [Path(configured)] if configured else [
        Path(__file__).resolve().parent / "oke_spec",
        Path(__file__).resolve().parents[2] / "shared" / "oke",
    ]
    for candidate in candidates:
        if (candidate / SPEC_FILE).is_file():
            return candidate
    raise FileNotFoundError(
        f"OKE-specificatie ({SPEC_FILE}) niet gevonden in {', '.join(map(str, candidates))}; zet {SPEC_DIR_ENV}"
    )


def _load_yaml(path: Path):
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as f:
        # The spec shares schemas through YAML anchors (some cyclic): load once, never serialize back.
        return yaml.load(f, Loader=loader)  # noqa: S506 — a safe loader


@functools.cache
def _spec() -> dict:
    return _load_yaml(spec_dir() / SPEC_FILE)


@functools.cache
def _request_validator(path: str, method: str) -> OAS30Validator:
    """The request-body schema of one operation. PATCH bodies are merge patches checked with the
    spec's write rules. PUT bodies are checked without read/write rules: the spec marks
    ``primaryCode`` and ``person`` readOnly, yet the OKE profile requires them in flow 2's PUTs (the
    spec's own PUT examples carry them), so the write rules would refuse every flow-2 message."""
    if method == "patch":
        schema = _spec()["paths"][path][method]["requestBody"]["content"][MERGE_PATCH]["schema"]
        return OAS30WriteValidator(schema, format_checker=oas30_format_checker)
    schema = _spec()["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return OAS30Validator(schema, format_checker=oas30_format_checker)


@functools.cache
def _consumer_validator(name: str, partial: bool = False) -> OAS30WriteValidator:
    schema = _load_yaml(spec_dir() / "consumers" / f"{name}.yaml")
    if partial:
        # A PATCH may leave out required fields it does not change (technical-reference.md); the
        # spec's own flow 4.1 example sends an offering's entry without its required offeringState.
        schema = {key: value for key, value in schema.items() if key != "required"}
    return OAS30WriteValidator(schema, format_checker=oas30_format_checker)


def consumer_schema_properties(name: str) -> set[str]:
    """The fields a consumer schema (e.g. ``nl-test-admin-Result``) defines."""
    return set(_consumer_validator(name).schema.get("properties", {}))


def validate_association_patch(body: dict, association_id: str | None = None) -> None:
    """Raises :class:`OkeMessageInvalid` unless ``body`` is a valid PATCH /associations/{id} body.

    Checks the request schema of ``ooapiv5_MBO.yaml`` and each ``nl-test-admin`` consumer entry against
    its consumer schema (the association's against nl-test-admin-Association, the result's against
    nl-test-admin-Result); ``association_id``, when given, must be a UUID (the path parameter's format).
    """
    _validate(PATCH_ASSOCIATION, body, ("associationId", association_id),
              [((), "nl-test-admin-Association"), (("result",), "nl-test-admin-Result")])


def validate_offering_patch(body: dict, offering_id: str | None = None) -> None:
    """Raises :class:`OkeMessageInvalid` unless ``body`` is a valid PATCH /offerings/{id} body (flow 2.5,
    4.1): the spec's request schema, and its ``nl-test-admin`` entries against nl-test-admin-Offering
    with required fields optional (a PATCH sends what changes); ``offering_id``, when given, a UUID."""
    _validate(PATCH_OFFERING, body, ("offeringId", offering_id), [((), "nl-test-admin-Offering")],
              partial=True)


def validate_offering_put(body: dict, offering_id: str | None = None) -> None:
    """Raises :class:`OkeMessageInvalid` unless ``body`` is a valid flow-2 PUT /offerings/{id} body.

    Checks the spec's request schema, the ``nl-test-admin`` entries against nl-test-admin-Offering,
    and, with ``offering_id`` (the path's), that it is a UUID and the body's ``offeringId`` is the same.
    """
    _validate(PUT_OFFERING, body, ("offeringId", offering_id), [((), "nl-test-admin-Offering")])


def validate_association_put(body: dict, association_id: str | None = None) -> None:
    """Raises :class:`OkeMessageInvalid` unless ``body`` is a valid flow-2 PUT /associations/{id} body.

    Checks the spec's request schema, the ``nl-test-admin`` entries of the association, of an embedded
    person and of an embedded offering against their consumer schemas, and, with ``association_id``
    (the path's), that it is a UUID and the body's ``associationId`` is the same.
    """
    _validate(PUT_ASSOCIATION, body, ("associationId", association_id),
              [((), "nl-test-admin-Association"), (("person",), "nl-test-admin-Person"),
               (("offering",), "nl-test-admin-Offering")])


def _validate(operation: tuple[str, str], body, path_id: tuple[str, str | None],
              consumer_checks: list[tuple[tuple[str, ...], str]], partial: bool = False) -> None:
    path, method = operation
    id_name, id_value = path_id
    errors: list[str] = []
    if id_value is not None:
        try:
            _check_uuid(id_value, id_name)
        except ValueError as exc:
            errors.append(str(exc))
        if isinstance(body, dict) and id_name in body and body[id_name] != id_value:
            errors.append(f"body.{id_name}: {body[id_name]!r} is niet de {id_name} uit het pad ({id_value!r})")
    errors += _errors(_request_validator(path, method), body, "body")
    for keys, schema_name in consumer_checks:
        node = body
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict) or not isinstance(node.get("consumers"), list):
            continue
        where = ".".join(("body", *keys, "consumers"))
        for i, entry in enumerate(node["consumers"]):
            if isinstance(entry, dict) and entry.get("consumerKey") == CONSUMER_KEY:
                errors += _errors(_consumer_validator(schema_name, partial), entry, f"{where}[{i}]")
    if errors:
        raise OkeMessageInvalid(f"{method.upper()} {path}", errors)


def consumer_entry(node) -> dict:
    """The ``nl-test-admin`` entry of a message's (or a part's) ``consumers``, or ``{}``."""
    entries = node.get("consumers") if isinstance(node, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("consumerKey") == CONSUMER_KEY:
            return entry
    return {}


def _errors(validator: OAS30WriteValidator, instance, where: str) -> list[str]:
    found = []
    for error in validator.iter_errors(instance):
        for leaf in _leaves(error):
            location = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in leaf.absolute_path)
            found.append(f"{location}: {leaf.message}")
    return sorted(set(found))


def _leaves(error):
    # anyOf/oneOf report one error "not valid under any"; its context holds the real findings.
    if error.context:
        for sub in error.context:
            yield from _leaves(sub)
    else:
        yield error


def _check_uuid(value: str, what: str) -> None:
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise ValueError(f"{what} {value!r} is geen UUID") from None
