"""The process owner's work on a school's processes: drafts, validation, deploy, versions, diff (issue 6).

A process owner (role ``beheerder`` or ``examencommissie`` at the school, decision D14) edits a
*draft* of a process: the diagram and any forms he changed. Saving a draft validates it but changes
nothing that runs; deploying it makes an immutable new version that is the school's own variant
(D15): new exams of that school start on it, running exams stay on theirs until migrated
(`processes.migration`). Every deploy is logged in ``process_change``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

import forms as formlib
from processes import policy
from processes.bpmn_validation import BPMN, DiagramError, parse_xml
from processes.db import UnitOfWork
from processes.engine import default_engine
from processes.errors import BadRequest, NotFound, ValidationFailed
from processes.models import (
    ROLES,
    ProcessChange,
    ProcessDraft,
    ProcessInstance,
    ProcessVersion,
    School,
    User,
    utcnow,
)
from processes.versions import DeployResult, deploy_process, latest_version_id

PROCESS_OWNER_ROLES = ("beheerder", "examencommissie")
MAX_DIAGRAM_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Finding:
    """One validation finding; ``element_id`` None concerns the diagram or a form as a whole."""

    element_id: str | None
    message: str


@dataclass(frozen=True)
class ProcessSummary:
    school_id: int
    school_name: str
    process_id: str
    version: int
    own_variant: bool
    has_draft: bool


@dataclass(frozen=True)
class DraftView:
    school_id: int
    school_name: str
    process_id: str
    bpmn_xml: str
    forms: dict[str, dict]  # every form the draft may use: key → raw form file
    changed_forms: list[str]
    base_version: int
    base_version_id: int
    updated_at: datetime | None
    role: str


@dataclass(frozen=True)
class VersionRow:
    id: int
    version: int
    school_id: int | None
    deployed_at: datetime
    deployed_by: str
    role: str
    change_note: str
    running: int
    current: bool


@dataclass(frozen=True)
class ElementChange:
    element_id: str
    kind: str  # Dutch element type
    name: str
    what: str = ""


@dataclass
class VersionDiff:
    old_version: int
    new_version: int
    added: list[ElementChange] = field(default_factory=list)
    removed: list[ElementChange] = field(default_factory=list)
    changed: list[ElementChange] = field(default_factory=list)
    forms_changed: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- policy


def require_process_owner(session: Session, user_id: int, school_id: int) -> tuple[User, str]:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("Onbekende gebruiker.")
    if session.get(School, school_id) is None:
        raise NotFound("Onbekende school.")
    role = policy.require_role(session, user, school_id, PROCESS_OWNER_ROLES, "processen wijzigen")
    return user, role


def owned_schools(user_id: int, uow: UnitOfWork) -> list[tuple[int, str]]:
    from processes.models import RoleMembership

    with uow:
        rows = uow.session.execute(
            select(School.id, School.name).join(RoleMembership, RoleMembership.school_id == School.id)
            .where(RoleMembership.user_id == user_id, RoleMembership.role.in_(PROCESS_OWNER_ROLES))
            .distinct().order_by(School.name)
        ).all()
    return [(r.id, r.name) for r in rows]


# ----------------------------------------------------------------------------- validation


def validate_bundle(bpmn_xml: bytes, process_id: str, form_files: dict[str, dict],
                    called_files: dict[str, bytes] | None = None) -> list[Finding]:
    """Every finding about a diagram with the forms it may use: XML, BPMN schema, SpiffWorkflow's
    parser, roles on lanes, forms on user tasks, handlers on service tasks, the safe evaluator on every
    expression, ids the engine mistakes. Never raises for bad input."""
    findings: list[Finding] = []
    if len(bpmn_xml) > MAX_DIAGRAM_BYTES:
        return [Finding(None, f"Het diagram is te groot (maximaal {MAX_DIAGRAM_BYTES // 1024} kB).")]
    known_forms = set()
    for key, raw in form_files.items():
        try:
            formlib.parse_form(raw)
            known_forms.add(key)
        except formlib.FormFileError as exc:
            findings.append(Finding(None, f"Formulier '{key}': {exc}"))
    try:
        default_engine().compile({f"{process_id}.bpmn": bpmn_xml, **(called_files or {})}, process_id,
                                 known_roles=set(ROLES), known_forms=known_forms)
    except DiagramError as exc:
        findings += [Finding(e.element_id, e.message) for e in exc.errors]
        return findings
    return findings + timer_sample_findings(bpmn_xml)


SAMPLE_MOMENT = "2026-01-05T10:00:00+01:00"
_TIMER_TAGS = {f"{{{BPMN}}}{t}" for t in ("timeDate", "timeDuration", "timeCycle")}


def timer_sample_findings(bpmn_xml: bytes) -> list[Finding]:
    """Every timer expression evaluated in the safe evaluator with sample data (each name it reads is a
    moment, as the data a deadline counts from is): it must give an ISO 8601 moment with a time zone,
    a duration or a cycle. Catches a missing argument or a number where a moment is meant, on save."""
    import ast

    from handlers.calendar import use_school_calendar
    from handlers.registry import expression_helpers
    from processes.expressions import SAFE_BUILTINS, evaluate, iso_literal

    helpers = expression_helpers()
    findings = []
    tree = parse_xml("diagram.bpmn", bpmn_xml)
    for el in tree.iter(*_TIMER_TAGS):
        source = (el.text or "").strip()
        if not source or iso_literal(source) is not None:
            continue
        owner = el.getparent().getparent()
        parsed = ast.parse(source, mode="eval")
        names = {n.id for n in ast.walk(parsed) if isinstance(n, ast.Name)} - set(helpers) - set(SAFE_BUILTINS)
        # Data read as afname["einde"] is a record of moments.
        records = {n.value.id for n in ast.walk(parsed)
                   if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name)}
        sample = {n: defaultdict(lambda: SAMPLE_MOMENT) if n in records else SAMPLE_MOMENT for n in names}
        try:
            with use_school_calendar({}):
                value = evaluate(source, sample, helpers)
        except Exception as exc:  # noqa: BLE001 - any failure is the process owner's finding
            findings.append(Finding(owner.get("id"), f"De timer kan met voorbeeldgegevens ({SAMPLE_MOMENT} voor "
                                                     f"{', '.join(sorted(sample)) or 'geen gegevens'}) niet worden "
                                                     f"berekend: {exc}"))
            continue
        if not isinstance(value, str) or (iso_literal(value) is None and not _aware_moment(value)):
            findings.append(Finding(owner.get("id"), f"De timer geeft met voorbeeldgegevens {value!r}: geen "
                                                     "ISO 8601-tijdstip met tijdzone, duur of herhaling."))
    return findings


def _aware_moment(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


# ----------------------------------------------------------------------------- drafts


def _called_files(version: ProcessVersion) -> dict[str, bytes]:
    return {name: xml.encode("utf-8") for name, xml in (version.called_xml or {}).items()}


def _available_forms(version: ProcessVersion, draft: ProcessDraft | None) -> dict[str, dict]:
    """Shipped forms, overlaid by the version's (deployed) forms, overlaid by the draft's changes."""
    available = formlib.load_form_dir(formlib.shipped_forms_dir())
    available.update(version.forms or {})
    if draft is not None:
        available.update(draft.forms or {})
    return available


def list_processes(user_id: int, uow: UnitOfWork) -> list[ProcessSummary]:
    """The deployed processes (top-level ones) of every school the user owns processes at."""
    schools = owned_schools(user_id, uow)
    result = []
    with uow:
        s = uow.session
        process_ids = sorted(set(s.scalars(select(ProcessVersion.process_id))))
        drafts = set(s.execute(select(ProcessDraft.school_id, ProcessDraft.process_id)).tuples())
        for school_id, school_name in schools:
            for pid in process_ids:
                try:
                    pv = s.get(ProcessVersion, latest_version_id(s, pid, school_id))
                except NotFound:
                    continue  # only another school's variant exists
                result.append(ProcessSummary(school_id, school_name, pid, pv.version, pv.school_id == school_id,
                                             (school_id, pid) in drafts))
    return result


def _current(s: Session, school_id: int, process_id: str) -> ProcessVersion:
    return s.get(ProcessVersion, latest_version_id(s, process_id, school_id))


def _draft(s: Session, school_id: int, process_id: str) -> ProcessDraft | None:
    return s.scalar(select(ProcessDraft).where(ProcessDraft.school_id == school_id,
                                               ProcessDraft.process_id == process_id))


def open_draft(school_id: int, process_id: str, user_id: int, uow: UnitOfWork) -> DraftView:
    """The draft of a process at a school; without one, the version new exams start on."""
    with uow:
        s = uow.session
        _user, role = require_process_owner(s, user_id, school_id)
        current = _current(s, school_id, process_id)
        draft = _draft(s, school_id, process_id)
        return DraftView(
            school_id=school_id, school_name=s.get(School, school_id).name, process_id=process_id,
            bpmn_xml=draft.bpmn_xml if draft else current.bpmn_xml,
            forms=_available_forms(current, draft),
            changed_forms=sorted((draft.forms or {}) if draft else {}),
            base_version=current.version, base_version_id=current.id,
            updated_at=draft.updated_at if draft else None, role=role,
        )


def _decode(bpmn_xml: bytes) -> str:
    try:
        return bpmn_xml.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("Het diagram is geen UTF-8-tekst.") from None


def check_draft(school_id: int, process_id: str, bpmn_xml: bytes, user_id: int, uow: UnitOfWork) -> list[Finding]:
    """Validates a diagram against the draft's forms without saving it."""
    with uow:
        s = uow.session
        require_process_owner(s, user_id, school_id)
        current = _current(s, school_id, process_id)
        draft = _draft(s, school_id, process_id)
        forms, called = _available_forms(current, draft), _called_files(current)
    _decode(bpmn_xml)
    return validate_bundle(bpmn_xml, process_id, forms, called)


def save_draft(school_id: int, process_id: str, bpmn_xml: bytes, user_id: int, uow: UnitOfWork) -> list[Finding]:
    """Keeps the diagram as the draft (also when it has findings: work in progress) and returns the
    findings. Nothing that runs changes."""
    findings = check_draft(school_id, process_id, bpmn_xml, user_id, uow)
    if len(bpmn_xml) > MAX_DIAGRAM_BYTES:
        raise BadRequest(findings[0].message)
    text = _decode(bpmn_xml)
    with uow:
        s = uow.session
        current = _current(s, school_id, process_id)
        draft = _draft(s, school_id, process_id)
        if draft is None:
            draft = ProcessDraft(school_id=school_id, process_id=process_id, forms={}, base_version_id=current.id)
            s.add(draft)
        draft.bpmn_xml = text
        draft.updated_by_id = user_id
        draft.updated_at = utcnow()
        uow.commit()
    return findings


def save_draft_form(school_id: int, process_id: str, form_key: str, raw: dict, user_id: int,
                    uow: UnitOfWork) -> None:
    """Keeps a changed form in the draft; a form file that does not pass the checks is refused (422)."""
    if not isinstance(raw, dict):
        raise ValidationFailed({"formulier": ["Het formulier moet een object zijn."]})
    if raw.get("key") != form_key:
        raise ValidationFailed({"key": [f"De sleutel van het formulier moet '{form_key}' blijven."]})
    try:
        formlib.parse_form(raw)
    except formlib.FormFileError as exc:
        raise ValidationFailed({"formulier": [str(exc)]}, f"Het formulier is ongeldig: {exc}") from exc
    with uow:
        s = uow.session
        require_process_owner(s, user_id, school_id)
        current = _current(s, school_id, process_id)
        draft = _draft(s, school_id, process_id)
        if draft is None:
            draft = ProcessDraft(school_id=school_id, process_id=process_id, bpmn_xml=current.bpmn_xml,
                                 forms={}, base_version_id=current.id)
            s.add(draft)
        draft.forms = {**(draft.forms or {}), form_key: raw}
        draft.updated_by_id = user_id
        draft.updated_at = utcnow()
        uow.commit()


def discard_draft(school_id: int, process_id: str, user_id: int, uow: UnitOfWork) -> None:
    with uow:
        s = uow.session
        require_process_owner(s, user_id, school_id)
        draft = _draft(s, school_id, process_id)
        if draft is not None:
            s.delete(draft)
            uow.commit()


def deploy_draft(school_id: int, process_id: str, user_id: int, change_note: str, uow: UnitOfWork) -> DeployResult:
    """Makes the draft the school's new version (immutable); refuses with every finding when it is not
    valid. The draft is gone afterwards: the next edit starts from the new version."""
    change_note = (change_note or "").strip()
    if not change_note:
        raise ValidationFailed({"wijziging": ["Beschrijf kort wat er verandert."]},
                               "Beschrijf kort wat er verandert (de wijzigingsnotitie is verplicht).")
    if len(change_note) > 2000:
        raise ValidationFailed({"wijziging": ["Maximaal 2000 tekens."]}, "De wijzigingsnotitie is te lang.")
    with uow:
        s = uow.session
        _user, role = require_process_owner(s, user_id, school_id)
        current = _current(s, school_id, process_id)
        draft = _draft(s, school_id, process_id)
        if draft is None:
            raise BadRequest("Er is geen concept om in gebruik te nemen; sla eerst een wijziging op.")
        xml = draft.bpmn_xml.encode("utf-8")
        forms, called = _available_forms(current, draft), _called_files(current)
    findings = validate_bundle(xml, process_id, forms, called)
    if findings:
        raise ValidationFailed(
            {f.element_id or "diagram": [f.message] for f in findings},
            "Het concept is niet in gebruik genomen: " + "; ".join(
                f"{f.element_id or 'diagram'}: {f.message}" for f in findings),
        )
    result = deploy_process(xml, process_id, forms, user_id, uow, called_files=called, school_id=school_id,
                            change_note=change_note, role=role)
    discard_draft(school_id, process_id, user_id, uow)
    return result


# ----------------------------------------------------------------------------- versions


def list_versions(school_id: int, process_id: str, user_id: int, uow: UnitOfWork) -> list[VersionRow]:
    """The shipped defaults and the school's own versions of a process, newest first."""
    from sqlalchemy import func, or_

    with uow:
        s = uow.session
        require_process_owner(s, user_id, school_id)
        current_id = latest_version_id(s, process_id, school_id)
        running = {vid: n for vid, n in s.execute(
            select(ProcessInstance.version_id, func.count()).where(
                ProcessInstance.school_id == school_id, ProcessInstance.status == "running")
            .group_by(ProcessInstance.version_id)).tuples()}
        rows = s.execute(
            select(ProcessVersion.id, ProcessVersion.version, ProcessVersion.school_id, ProcessVersion.deployed_at,
                   ProcessVersion.deployed_role, ProcessVersion.change_note, User.name)
            .outerjoin(User, User.id == ProcessVersion.deployed_by_id)
            .where(ProcessVersion.process_id == process_id,
                   or_(ProcessVersion.school_id.is_(None), ProcessVersion.school_id == school_id))
            .order_by(ProcessVersion.version.desc())
        ).all()
    return [VersionRow(r.id, r.version, r.school_id, r.deployed_at, r.name or "beheer (opdrachtregel)",
                       r.deployed_role or "operator", r.change_note or "", running.get(r.id, 0), r.id == current_id)
            for r in rows]


def version_for(school_id: int, process_id: str, version_id: int, user_id: int, uow: UnitOfWork) -> ProcessVersion:
    """A version the school may see (a default or its own), with its XML and forms loaded."""
    from sqlalchemy.orm import undefer

    with uow:
        s = uow.session
        require_process_owner(s, user_id, school_id)
        pv = s.get(ProcessVersion, version_id,
                   options=[undefer(ProcessVersion.bpmn_xml), undefer(ProcessVersion.forms)])
        if pv is None or pv.process_id != process_id or pv.school_id not in (None, school_id):
            raise NotFound("Onbekende versie van dit proces.")
        s.expunge(pv)
        return pv


def process_log(school_id: int, process_id: str, user_id: int, uow: UnitOfWork, limit: int = 50) -> list[ProcessChange]:
    with uow:
        s = uow.session
        require_process_owner(s, user_id, school_id)
        rows = s.scalars(
            select(ProcessChange).where(ProcessChange.process_id == process_id,
                                        (ProcessChange.school_id == school_id) | ProcessChange.school_id.is_(None))
            .order_by(ProcessChange.created_at.desc(), ProcessChange.id.desc()).limit(limit)
        ).all()
        for row in rows:
            s.expunge(row)
        return list(rows)


_KINDS = {
    "userTask": "gebruikerstaak", "serviceTask": "servicetaak", "scriptTask": "scripttaak",
    "exclusiveGateway": "gateway", "parallelGateway": "parallelle gateway", "inclusiveGateway": "gateway",
    "eventBasedGateway": "gateway", "startEvent": "startgebeurtenis", "endEvent": "eindgebeurtenis",
    "boundaryEvent": "grensgebeurtenis (termijn)", "intermediateCatchEvent": "tussengebeurtenis",
    "intermediateThrowEvent": "tussengebeurtenis", "subProcess": "subproces", "callActivity": "procesaanroep",
    "sequenceFlow": "verbinding", "lane": "baan",
}


def _elements(xml: str) -> dict[str, tuple[str, str, str]]:
    """id → (kind, name, canonical content) of every element of the processes that has an id."""
    try:
        tree = parse_xml("diagram.bpmn", xml.encode("utf-8"))
    except DiagramError:
        return {}
    found = {}
    for process in tree.getroot().iterfind(f"{{{BPMN}}}process"):
        for el in process.iter(etree.Element):
            el_id = el.get("id")
            local = etree.QName(el).localname
            if el_id is None or local not in _KINDS:
                continue
            copy = etree.fromstring(etree.tostring(el))
            for child in list(copy):
                if child.get("id") is not None and etree.QName(child).localname in _KINDS:
                    copy.remove(child)  # nested elements are compared on their own
            found[el_id] = (_KINDS[local], el.get("name") or "", etree.tostring(copy, method="c14n").decode())
    return found


def diff_versions(old: ProcessVersion, new: ProcessVersion) -> VersionDiff:
    """Elements added, removed and changed between two versions (by BPMN id), and the changed forms."""
    a, b = _elements(old.bpmn_xml), _elements(new.bpmn_xml)
    diff = VersionDiff(old.version, new.version)
    for el_id in sorted(b.keys() - a.keys()):
        diff.added.append(ElementChange(el_id, b[el_id][0], b[el_id][1]))
    for el_id in sorted(a.keys() - b.keys()):
        diff.removed.append(ElementChange(el_id, a[el_id][0], a[el_id][1]))
    for el_id in sorted(a.keys() & b.keys()):
        if a[el_id][2] != b[el_id][2]:
            what = f"naam '{a[el_id][1]}' → '{b[el_id][1]}'" if a[el_id][1] != b[el_id][1] else "eigenschappen"
            diff.changed.append(ElementChange(el_id, b[el_id][0], b[el_id][1], what))
    old_forms, new_forms = old.forms or {}, new.forms or {}
    diff.forms_changed = sorted(k for k in old_forms.keys() | new_forms.keys() if old_forms.get(k) != new_forms.get(k))
    return diff
