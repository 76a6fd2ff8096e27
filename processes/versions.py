"""Deploying process versions: immutable bundles of a diagram, its forms and the parsed spec."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import forms as formlib
from processes.db import UnitOfWork
from processes.engine import DiagramError, default_engine
from processes.errors import BadRequest, NotFound
from processes.models import ROLES, ProcessChange, ProcessVersion, User

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_BPMN_DIR = REPO_ROOT / "bpmn"


@dataclass(frozen=True)
class LoadedVersion:
    """What a step needs of a version, cached in memory: versions never change."""

    id: int
    process_id: str
    version: int
    sha256: str
    spec_json: str
    forms: dict[str, formlib.FormDef]

    @property
    def key(self) -> str:
        """The engine's cache key for the parsed spec: content-addressed, so never stale."""
        return f"{self.process_id}:{self.sha256}"


_cache: dict[int, LoadedVersion] = {}
_cache_lock = threading.Lock()


def loaded_version(session: Session, version_id: int) -> LoadedVersion:
    cached = _cache.get(version_id)
    if cached is not None:
        return cached
    row = session.execute(
        select(
            ProcessVersion.id,
            ProcessVersion.process_id,
            ProcessVersion.version,
            ProcessVersion.sha256,
            ProcessVersion.spec_json,
            ProcessVersion.forms,
        ).where(ProcessVersion.id == version_id)
    ).one_or_none()
    if row is None:
        raise NotFound("Onbekende procesversie.")
    lv = LoadedVersion(
        id=row.id,
        process_id=row.process_id,
        version=row.version,
        sha256=row.sha256,
        spec_json=row.spec_json,
        forms={key: formlib.parse_form(raw) for key, raw in (row.forms or {}).items()},
    )
    with _cache_lock:
        _cache[version_id] = lv
    return lv


def clear_cache() -> None:
    """For tests, whose databases reuse ids."""
    with _cache_lock:
        _cache.clear()


def latest_version_id(session: Session, process_id: str, school_id: int | None = None) -> int:
    """The version new exams start on: the school's own newest variant when it has one, else the
    newest shipped default (decision D15)."""
    vid = None
    if school_id is not None:
        vid = session.scalar(
            select(ProcessVersion.id)
            .where(ProcessVersion.process_id == process_id, ProcessVersion.school_id == school_id)
            .order_by(ProcessVersion.version.desc())
            .limit(1)
        )
    if vid is None:
        vid = session.scalar(
            select(ProcessVersion.id)
            .where(ProcessVersion.process_id == process_id, ProcessVersion.school_id.is_(None))
            .order_by(ProcessVersion.version.desc())
            .limit(1)
        )
    if vid is None:
        raise NotFound(f"Proces '{process_id}' is nog niet in gebruik genomen (geen versie gedeployed).")
    return vid


@dataclass(frozen=True)
class DeployResult:
    version_id: int
    process_id: str
    version: int
    unchanged: bool


def deploy_process(
    bpmn_xml: bytes,
    process_id: str,
    form_files: dict[str, dict],
    actor_id: int | None,
    uow: UnitOfWork,
    called_files: dict[str, bytes] | None = None,
    *,
    school_id: int | None = None,
    change_note: str = "",
    role: str | None = None,
) -> DeployResult:
    """Validates and stores a new version of ``process_id``; the same bundle twice is a no-op.

    ``called_files`` (file name → XML) are the diagrams of the processes its call activities call:
    they become part of the version (design decision 3), so a running exam never changes underneath.
    ``school_id`` makes it that school's own variant (D15); every new version is logged in
    ``process_change`` with who, in which ``role``, and the ``change_note``.
    """
    called_files = dict(sorted((called_files or {}).items()))
    try:
        parsed_forms = {key: formlib.parse_form(raw) for key, raw in form_files.items()}
    except formlib.FormFileError as exc:
        raise BadRequest(f"Formulier ongeldig: {exc}") from exc
    try:
        compiled = default_engine().compile(
            {f"{process_id}.bpmn": bpmn_xml, **called_files},
            process_id,
            known_roles=set(ROLES),
            known_forms=set(parsed_forms),
        )
    except DiagramError as exc:
        raise BadRequest(
            "Het diagram is afgekeurd: "
            + "; ".join(f"{e.element_id or 'diagram'}: {e.message}" for e in exc.errors)
        ) from exc
    # Keep only the forms the diagram uses, so a version is a closed bundle.
    used = {t.form_key for t in compiled.user_tasks}
    bundle_forms = {k: v for k, v in form_files.items() if k in used}
    sha = hashlib.sha256(
        bpmn_xml + b"".join(name.encode() + b"\0" + xml for name, xml in called_files.items())
        + json.dumps(bundle_forms, sort_keys=True).encode()
    ).hexdigest()
    with uow:
        s = uow.session
        try:
            current_id = latest_version_id(s, process_id, school_id)
        except NotFound:
            current_id = None
        last = s.get(ProcessVersion, current_id) if current_id is not None else None
        if last is not None and last.sha256 == sha:
            return DeployResult(last.id, process_id, last.version, unchanged=True)
        actor = s.get(User, actor_id) if actor_id is not None else None
        if actor_id is not None and actor is None:
            raise NotFound("Onbekende gebruiker.")
        number = (s.scalar(select(func.max(ProcessVersion.version)).where(
            ProcessVersion.process_id == process_id)) or 0) + 1
        pv = ProcessVersion(
            process_id=process_id,
            version=number,
            bpmn_xml=bpmn_xml.decode("utf-8"),
            sha256=sha,
            forms=bundle_forms,
            spec_json=compiled.spec_json,
            called_xml={name: xml.decode("utf-8") for name, xml in called_files.items()} or None,
            deployed_by_id=actor_id,
            school_id=school_id,
            change_note=change_note,
            deployed_role=role,
        )
        s.add(pv)
        s.flush()
        s.add(ProcessChange(
            school_id=school_id, process_id=process_id, action="version_deployed", version_id=pv.id,
            actor_id=actor_id, actor_name=actor.name if actor else "beheer (opdrachtregel)",
            role=role or "operator", summary=f"Versie {number} in gebruik genomen"[:500],
            details={"version": number, "sha256": sha, "change_note": change_note,
                     "previous_version_id": current_id},
        ))
        uow.commit()
        return DeployResult(pv.id, process_id, number, unchanged=False)


_CALLED = re.compile(rb'calledElement="([^"]+)"')


def called_files_for(path: Path) -> dict[str, bytes]:
    """The diagrams beside ``path`` that its call activities call, directly or through others
    (a called process ``x`` lives in ``x.bpmn``)."""
    found: dict[str, bytes] = {}
    todo = [path.read_bytes()]
    while todo:
        for called in _CALLED.findall(todo.pop()):
            name = called.decode() + ".bpmn"
            target = path.parent / name
            if name in found or target == path or not target.is_file():
                continue
            found[name] = target.read_bytes()
            todo.append(found[name])
    return found


def deploy_shipped(uow: UnitOfWork, actor_id: int | None = None, forms_dir: Path | None = None,
                   bpmn_dir: Path | None = None) -> list[DeployResult]:
    """Deploys every shipped diagram in ``bpmn/`` with the forms in ``forms/``; a diagram that another
    one calls goes into that one's bundle instead of becoming a process of its own."""
    form_files = formlib.load_form_dir(forms_dir or formlib.shipped_forms_dir())
    paths = sorted((bpmn_dir or SHIPPED_BPMN_DIR).glob("*.bpmn"))
    bundles = {path: called_files_for(path) for path in paths}
    called = {name for files in bundles.values() for name in files}
    results = []
    for path in paths:
        if path.name not in called:
            results.append(deploy_process(path.read_bytes(), path.stem, form_files, actor_id, uow,
                                          called_files=bundles[path]))
    return results
