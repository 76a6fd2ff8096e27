"""Files of an exam, stored as files (design decision 12): attachments to its assignment (R18) and the
student's evidence (R20, R23, R24).

A file is streamed to the storage folder in chunks while its SHA-256 is computed, never held whole in
memory and never put in task data; it is kept under its digest (content-addressed: the same file twice
is stored once). A file over the limit is refused and leaves nothing behind. Who may add: the exam's
ROC-begeleider, and the student when the assignment is his own (not from the school's bank), until
the three approvals lock the assignment (R14). Evidence: the student, while his upload step is open and
until the evidence check locks it (R23). Whoever may see the exam may open its files.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from handlers.calendar import to_amsterdam
from processes import policy
from processes.db import UnitOfWork
from processes.errors import BadRequest, Conflict, Forbidden, NotFound
from processes.exam import ExamContext, participants
from processes.models import Attachment, ExamAssignment, HumanTask, ProcessInstance, School, User, utcnow
from processes.queries import viewable_instance

CHUNK = 1024 * 1024
# 537 MB per file (seed 001): 512 MiB.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class TooLarge(BadRequest):
    status = 413


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
                    raise TooLarge(f"Het bestand is te groot: de grens is {human_size(max_bytes)} per bestand.")
                digest.update(chunk)
                out.write(chunk)
        name = digest.hexdigest()
        os.replace(tmp_name, storage_dir / name)
        return StoredFile(name, size)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def human_size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.0f} MiB"
    return f"{n / 2**10:.0f} kB" if n >= 2**10 else f"{n} bytes"


KINDS = ("bijlage", "bewijs")
# A user task with this form is the student's step for adding evidence (PvB step 6, and "aanvullen"
# after an incomplete check): evidence goes in only while such a step of his is open.
EVIDENCE_FORM = "bewijsstukken_uploaden"


def _evidence_step(s, inst: ProcessInstance) -> HumanTask | None:
    return s.scalars(select(HumanTask).where(HumanTask.instance_id == inst.id, HumanTask.status == "open",
                                             HumanTask.form_key == EVIDENCE_FORM)
                     .order_by(HumanTask.id).limit(1)).first()


def check_rights(s, inst: ProcessInstance, actor: User, kind: str = "bijlage") -> str:
    """The role in which ``actor`` may add a file of ``kind`` to this exam now; refuses otherwise."""
    if kind not in KINDS:
        raise BadRequest("Onbekende soort bestand: kies bijlage of bewijs.")
    people = participants(s, inst.id)
    ea = s.get(ExamAssignment, inst.id)
    if ea is None:
        raise NotFound("Dit examen heeft geen opdracht.")
    if kind == "bewijs":
        return _may_add_evidence(s, inst, actor, people, ea)
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


def _may_add_evidence(s, inst: ProcessInstance, actor: User, people: dict[str, int], ea: ExamAssignment) -> str:
    if people.get("student") != actor.id:
        raise Forbidden("Bewijsstukken voegt alleen de student van dit examen toe (R20).")
    if ea.evidence_locked_at is not None:
        raise Conflict(f"De bewijsstukken liggen vast sinds {_local(ea.evidence_locked_at)}: de beoordeling is "
                       "begonnen, er kan niets meer bij of af (R23).")
    if _evidence_step(s, inst) is None:
        school = s.get(School, inst.school_id)
        if not (school.settings or {}).get("bewijsstukken_gebruiken", True):
            raise Conflict("Op deze school worden geen bewijsstukken geüpload; de beoordeling gaat zonder (R24).")
        raise Conflict("Bewijsstukken toevoegen of intrekken kan alleen tijdens de uitvoering, zolang de stap "
                       "'Bewijsstukken uploaden' openstaat; daarna controleert de ROC-beoordelaar ze (R23).")
    return "student"


def _local(at: datetime) -> str:
    return f"{to_amsterdam(at):%d-%m-%Y %H:%M}"


def exam_and_actor(s, instance_id: int, actor_id: int) -> tuple[ProcessInstance, User]:
    """The exam a file goes to and the (active) account adding it; 404 for an unknown exam."""
    inst = s.get(ProcessInstance, instance_id)
    if inst is None:
        raise NotFound("Onbekend examen.")
    return inst, policy.active_user(s, actor_id)


def check_may_add(instance_id: int, actor_id: int, uow: UnitOfWork, kind: str = "bijlage") -> None:
    """Refuses before a single byte is stored when the actor may not add to this exam."""
    with uow:
        s = uow.session
        inst, actor = exam_and_actor(s, instance_id, actor_id)
        check_rights(s, inst, actor, kind)


def clean_name(original_name: str) -> str:
    """The file's own name, without a client's folder and without control characters (which no name
    needs and PostgreSQL cannot store)."""
    name = (original_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc").strip()[:255]
    if not name:
        raise BadRequest("Kies een bestand.")
    return name


def clean_type(content_type: str | None) -> str:
    """A media type is printable ASCII; anything else (or nothing) is a plain file of bytes."""
    kept = "".join(ch for ch in (content_type or "") if " " < ch <= "~")[:200]
    return kept or "application/octet-stream"


def record_attachment(s, inst: ProcessInstance, actor: User, kind: str, name: str, content_type: str,
                      stored: StoredFile, now: datetime) -> Attachment:
    """Within the caller's transaction: the stored file becomes a file of the exam, in its audit trail."""
    role = check_rights(s, inst, actor, kind)
    att = Attachment(instance_id=inst.id, original_name=name, content_type=clean_type(content_type),
                     size=stored.size, sha256=stored.sha256,
                     uploaded_by_id=actor.id, uploaded_role=role, uploaded_at=now, kind=kind)
    s.add(att)
    s.flush()
    action, what = (("evidence_added", "Bewijsstuk") if kind == "bewijs" else
                    ("attachment_added", "Bijlage"))
    where = "" if kind == "bewijs" else " aan de opdracht"
    ExamContext(s, inst, actor, role, now).audit(
        action, f"{what} '{name}' toegevoegd{where} ({human_size(stored.size)})",
        details={"attachment": att.id, "name": name, "sha256": stored.sha256, "size": stored.size, "kind": kind})
    return att


def add_attachment(instance_id: int, actor_id: int, original_name: str, content_type: str, stored: StoredFile,
                   uow: UnitOfWork, now: datetime | None = None, kind: str = "bijlage") -> int:
    """Records a stored file as an attachment of the exam's assignment (or as evidence), in its audit trail."""
    name = clean_name(original_name)
    if not _DIGEST.match(stored.sha256):
        raise BadRequest("Onbekend opgeslagen bestand.")
    now = now or utcnow()
    with uow:
        s = uow.session
        inst, actor = exam_and_actor(s, instance_id, actor_id)
        att = record_attachment(s, inst, actor, kind, name, content_type, stored, now)
        uow.commit()
        return att.id


def withdraw_attachment(instance_id: int, attachment_id: int, actor_id: int, uow: UnitOfWork,
                        now: datetime | None = None) -> str:
    """Withdraws a file before the lock: it stays stored and in the dossier, marked withdrawn (R27);
    only who may still add a file of that kind may withdraw one. Returns its name."""
    now = now or utcnow()
    with uow:
        s = uow.session
        inst = s.get(ProcessInstance, instance_id)
        att = s.get(Attachment, attachment_id)
        if inst is None or att is None or att.instance_id != instance_id:
            raise NotFound("Onbekend bestand.")
        actor = policy.active_user(s, actor_id)
        role = check_rights(s, inst, actor, att.kind)
        if att.withdrawn_at is not None:
            raise Conflict(f"'{att.original_name}' is al ingetrokken.")
        att.withdrawn_at, att.withdrawn_by_id = now, actor.id
        what = "Bewijsstuk" if att.kind == "bewijs" else "Bijlage"
        ExamContext(s, inst, actor, role, now).audit(
            "evidence_withdrawn" if att.kind == "bewijs" else "attachment_withdrawn",
            f"{what} '{att.original_name}' ingetrokken (het bestand blijft bewaard)",
            details={"attachment": att.id, "sha256": att.sha256})
        uow.commit()
        return att.original_name


@dataclass(frozen=True)
class EvidenceState:
    """What the dossier and the upload step show about evidence (R23, R24)."""

    in_use: bool
    locked_at: datetime | None
    step_open: bool
    step_due_at: datetime | None
    may_add: bool
    refusal: str | None


def evidence_state(instance_id: int, user_id: int, uow: UnitOfWork) -> EvidenceState:
    with uow:
        s = uow.session
        inst = viewable_instance(s, instance_id, user_id)
        ea = s.get(ExamAssignment, inst.id)
        school = s.get(School, inst.school_id)
        step = _evidence_step(s, inst)
        refusal = None
        try:
            check_rights(s, inst, s.get(User, user_id), "bewijs")
        except (Conflict, Forbidden, NotFound) as exc:
            refusal = exc.message
        return EvidenceState(
            in_use=bool((school.settings or {}).get("bewijsstukken_gebruiken", True)),
            locked_at=ea.evidence_locked_at if ea else None, step_open=step is not None,
            step_due_at=step.due_at if step else None, may_add=refusal is None, refusal=refusal)


@dataclass(frozen=True)
class AttachmentView:
    id: int
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime
    kind: str = "bijlage"
    withdrawn_at: datetime | None = None


def list_attachments(instance_id: int, user_id: int, uow: UnitOfWork, kind: str = "bijlage") -> list[AttachmentView]:
    with uow:
        s = uow.session
        viewable_instance(s, instance_id, user_id)
        rows = s.execute(select(Attachment, User.name).join(User, User.id == Attachment.uploaded_by_id)
                         .where(Attachment.instance_id == instance_id, Attachment.kind == kind)
                         .order_by(Attachment.id)).all()
        return [AttachmentView(a.id, a.original_name, a.content_type, a.size, a.sha256, name, a.uploaded_at,
                               a.kind, a.withdrawn_at) for a, name in rows]


def open_attachment(instance_id: int, attachment_id: int, user_id: int, uow: UnitOfWork) -> AttachmentView:
    """The attachment, for someone who may see the exam (else 403/404)."""
    with uow:
        s = uow.session
        viewable_instance(s, instance_id, user_id)
        att = s.get(Attachment, attachment_id)
        if att is None or att.instance_id != instance_id:
            raise NotFound("Onbekende bijlage.")
        by = s.get(User, att.uploaded_by_id).name
        return AttachmentView(att.id, att.original_name, att.content_type, att.size, att.sha256, by, att.uploaded_at,
                              att.kind, att.withdrawn_at)
