"""Attachments to an exam's assignment (R18), stored as files (design decision 12).

A file is streamed to the storage folder in chunks while its SHA-256 is computed, never held whole in
memory and never put in task data; it is kept under its digest (content-addressed: the same file twice
is stored once). A file over the limit is refused and leaves nothing behind. Who may add: the exam's
ROC-begeleider, and the student when the assignment is his own (not from the school's bank), until
the three approvals lock the assignment (R14). Whoever may see the exam may open its attachments.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from processes import policy
from processes.db import UnitOfWork
from processes.errors import BadRequest, Conflict, Forbidden, NotFound
from processes.exam import ExamContext, participants
from processes.models import Attachment, ExamAssignment, ProcessInstance, User, utcnow
from processes.queries import viewable_instance

CHUNK = 1024 * 1024
# 537 MB per file (seed 001): 512 MiB.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class TooLarge(BadRequest):
    pass


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int


def store_stream(stream: BinaryIO, storage_dir: Path, max_bytes: int) -> StoredFile:
    """Copies ``stream`` into ``storage_dir`` chunk by chunk under its SHA-256; refuses more than
    ``max_bytes`` and then leaves no file behind."""
    storage_dir.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, tmp_name = tempfile.mkstemp(dir=storage_dir, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"Het bestand is te groot: de grens is {_human(max_bytes)} per bestand.")
                digest.update(chunk)
                out.write(chunk)
        name = digest.hexdigest()
        os.replace(tmp_name, storage_dir / name)
        return StoredFile(name, size)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _human(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n} bytes"


def _may_add(s, inst: ProcessInstance, actor: User) -> str:
    people = participants(s, inst.id)
    ea = s.get(ExamAssignment, inst.id)
    if ea is None:
        raise NotFound("Dit examen heeft geen opdracht.")
    if people.get("roc_begeleider") == actor.id:
        role = "roc_begeleider"
    elif people.get("student") == actor.id and ea.assignment_id is None:
        role = "student"
    else:
        raise Forbidden("Bijlagen toevoegen kan de ROC-begeleider van dit examen, en de student die zijn eigen "
                        "opdracht schrijft (R18).")
    if ea.locked_at is not None:
        raise Conflict("De opdracht ligt vast na de drie goedkeuringen: er kunnen geen bijlagen meer bij (R14).")
    return role


def check_may_add(instance_id: int, actor_id: int, uow: UnitOfWork) -> None:
    """Refuses before a single byte is stored when the actor may not add to this exam."""
    with uow:
        s = uow.session
        inst = s.get(ProcessInstance, instance_id)
        if inst is None:
            raise NotFound("Onbekend examen.")
        actor = policy.active_user(s, actor_id)
        _may_add(s, inst, actor)


def add_attachment(instance_id: int, actor_id: int, original_name: str, content_type: str, stored: StoredFile,
                   uow: UnitOfWork, now: datetime | None = None) -> int:
    """Records a stored file as an attachment of the exam's assignment, in its audit trail."""
    name = (original_name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:255]
    if not name:
        raise BadRequest("Kies een bestand.")
    if not _DIGEST.match(stored.sha256):
        raise BadRequest("Onbekend opgeslagen bestand.")
    now = now or utcnow()
    with uow:
        s = uow.session
        inst = s.get(ProcessInstance, instance_id)
        if inst is None:
            raise NotFound("Onbekend examen.")
        actor = policy.active_user(s, actor_id)
        role = _may_add(s, inst, actor)
        att = Attachment(instance_id=inst.id, original_name=name, content_type=(content_type or
                         "application/octet-stream")[:200], size=stored.size, sha256=stored.sha256,
                         uploaded_by_id=actor.id, uploaded_role=role, uploaded_at=now)
        s.add(att)
        s.flush()
        ExamContext(s, inst, actor, role, now).audit(
            "attachment_added", f"Bijlage '{name}' toegevoegd aan de opdracht ({_human(stored.size)})",
            details={"attachment": att.id, "name": name, "sha256": stored.sha256, "size": stored.size})
        uow.commit()
        return att.id


@dataclass(frozen=True)
class AttachmentView:
    id: int
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


def list_attachments(instance_id: int, user_id: int, uow: UnitOfWork) -> list[AttachmentView]:
    with uow:
        s = uow.session
        viewable_instance(s, instance_id, user_id)
        rows = s.execute(select(Attachment, User.name).join(User, User.id == Attachment.uploaded_by_id)
                         .where(Attachment.instance_id == instance_id).order_by(Attachment.id)).all()
        return [AttachmentView(a.id, a.original_name, a.content_type, a.size, a.sha256, name, a.uploaded_at)
                for a, name in rows]


def open_attachment(instance_id: int, attachment_id: int, user_id: int, uow: UnitOfWork) -> AttachmentView:
    """The attachment, for someone who may see the exam (else 403/404)."""
    with uow:
        s = uow.session
        viewable_instance(s, instance_id, user_id)
        att = s.get(Attachment, attachment_id)
        if att is None or att.instance_id != instance_id:
            raise NotFound("Onbekende bijlage.")
        by = s.get(User, att.uploaded_by_id).name
        return AttachmentView(att.id, att.original_name, att.content_type, att.size, att.sha256, by, att.uploaded_at)
