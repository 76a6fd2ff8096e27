"""Chunked, resumable uploads of an exam's files (design decision 12, issue 8).

A client announces a file (name, type, size), then sends it in chunks, each saying at which offset it
starts. The bytes received so far sit in ``<storage>/.partial/<upload id>``; that file's size is the
offset to resume from, so a connection broken halfway resumes from the last byte that arrived instead
of starting over. When the last byte is in, the file is hashed (SHA-256, read in chunks), moved to its
content-addressed name and recorded as an attachment or piece of evidence in the same step as its
audit event. Whether the user may add the file is checked when he announces it and again at every
chunk (R23 can lock the evidence in between). Nothing is held in memory whole.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from processes import attachments, policy
from processes.attachments import CHUNK, StoredFile, TooLarge
from processes.db import UnitOfWork
from processes.errors import BadRequest, Conflict, Forbidden, NotFound
from processes.models import Attachment, ProcessInstance, Upload, utcnow

PARTIAL = ".partial"


class OffsetMismatch(Conflict):
    """The chunk does not start where the received bytes end; ``offset`` says where it should."""

    def __init__(self, offset: int):
        super().__init__(f"Dit deel begint niet waar het ontvangen deel ophoudt: ga verder vanaf byte {offset}.")
        self.offset = offset


@dataclass(frozen=True)
class UploadStatus:
    id: str
    instance_id: int
    kind: str
    name: str
    size: int
    offset: int
    attachment_id: int | None
    sha256: str | None = None

    @property
    def done(self) -> bool:
        return self.attachment_id is not None


def _partial(storage_dir: Path, upload_id: str) -> Path:
    return storage_dir / PARTIAL / upload_id


def begin_upload(instance_id: int, actor_id: int, kind: str, original_name: str, content_type: str, size,
                 storage_dir: Path, max_bytes: int, uow: UnitOfWork) -> UploadStatus:
    """Announces a file; refuses before any byte is sent when it is too large or the user may not add it."""
    name = attachments.clean_name(original_name)
    if isinstance(size, bool) or not isinstance(size, int):
        raise BadRequest("Geef de grootte van het bestand in bytes.")
    if size <= 0:
        raise BadRequest("Het bestand is leeg.")
    if size > max_bytes:
        raise TooLarge(f"Het bestand is te groot: de grens is {attachments.human_size(max_bytes)} per bestand.")
    with uow:
        s = uow.session
        inst, actor = attachments.exam_and_actor(s, instance_id, actor_id)
        attachments.check_rights(s, inst, actor, kind)
        upload = Upload(id=secrets.token_hex(16), instance_id=inst.id, user_id=actor.id, kind=kind,
                        original_name=name, content_type=attachments.clean_type(content_type),
                        size=size, created_at=utcnow())
        s.add(upload)
        path = _partial(storage_dir, upload.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        uow.commit()
        return UploadStatus(upload.id, inst.id, kind, name, size, 0, None)


def _own_upload(s, upload_id: str, actor_id: int) -> Upload:
    upload = s.get(Upload, upload_id) if upload_id and len(upload_id) <= 32 else None
    if upload is None:
        raise NotFound("Onbekende upload: begin opnieuw.")
    if upload.user_id != actor_id:
        raise Forbidden("Deze upload is van iemand anders.")
    return upload


def upload_status(upload_id: str, actor_id: int, storage_dir: Path, uow: UnitOfWork) -> UploadStatus:
    """Where an upload stands: the offset to resume from, or the attachment it became."""
    with uow:
        s = uow.session
        upload = _own_upload(s, upload_id, actor_id)
        if upload.attachment_id is not None:
            return UploadStatus(upload.id, upload.instance_id, upload.kind, upload.original_name, upload.size,
                                upload.size, upload.attachment_id, s.get(Attachment, upload.attachment_id).sha256)
        path = _partial(storage_dir, upload.id)
        offset = path.stat().st_size if path.exists() else 0
        return UploadStatus(upload.id, upload.instance_id, upload.kind, upload.original_name, upload.size, offset,
                            None)


def append_chunk(upload_id: str, actor_id: int, offset: int, stream: BinaryIO, length: int, storage_dir: Path,
                 uow: UnitOfWork, now: datetime | None = None) -> UploadStatus:
    """Appends ``length`` bytes from ``stream`` at ``offset``; on the last byte the file is stored and
    recorded. A chunk cut off by a broken connection keeps what arrived: the next one starts there."""
    with uow:
        s = uow.session
        upload = _own_upload(s, upload_id, actor_id)
        if upload.attachment_id is not None:
            # The last chunk sent again (its answer was lost on the way): the file is there, say so.
            return UploadStatus(upload.id, upload.instance_id, upload.kind, upload.original_name, upload.size,
                                upload.size, upload.attachment_id, s.get(Attachment, upload.attachment_id).sha256)
        inst = s.get(ProcessInstance, upload.instance_id)
        actor = policy.active_user(s, actor_id)
        # R23: the evidence may have been locked since the upload began.
        attachments.check_rights(s, inst, actor, upload.kind)
        size, instance_id, kind, name = upload.size, upload.instance_id, upload.kind, upload.original_name
    if length < 0:
        raise BadRequest("Geef de lengte van dit deel (Content-Length).")
    path = _partial(storage_dir, upload_id)
    if not path.exists():
        raise NotFound("Het ontvangen deel van deze upload is er niet meer: begin opnieuw.")
    with open(path, "r+b") as out:
        try:
            fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict("Er wordt al een deel van dit bestand ontvangen; probeer het zo opnieuw.") from None
        received = out.seek(0, os.SEEK_END)
        if offset != received:
            raise OffsetMismatch(received)
        if received + length > size:
            raise TooLarge(f"Dit deel gaat voorbij het einde van het bestand ({size} bytes).")
        left = length
        # The lock is held while the bytes arrive; what was written stays when the connection breaks.
        while left > 0:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:
                break
            out.write(chunk)
            left -= len(chunk)
        out.flush()
        received = out.tell()
    if received < size:
        if left > 0:
            raise BadRequest(f"Het deel kwam niet helemaal aan: ga verder vanaf byte {received}.")
        return UploadStatus(upload_id, instance_id, kind, name, size, received, None)
    return _finish(upload_id, actor_id, path, storage_dir, uow, now or utcnow())


def _finish(upload_id: str, actor_id: int, path: Path, storage_dir: Path, uow: UnitOfWork,
            now: datetime) -> UploadStatus:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    stored = StoredFile(digest.hexdigest(), path.stat().st_size)
    with uow:
        s = uow.session
        upload = _own_upload(s, upload_id, actor_id)
        inst = s.get(ProcessInstance, upload.instance_id)
        actor = policy.active_user(s, actor_id)
        attachments.check_rights(s, inst, actor, upload.kind)
        # Content-addressed: the same bytes are one file; moving it in is atomic, so a reader never
        # sees half of it.
        os.replace(path, storage_dir / stored.sha256)
        att = attachments.record_attachment(s, inst, actor, upload.kind, upload.original_name,
                                            upload.content_type, stored, now)
        upload.attachment_id = att.id
        uow.commit()
        return UploadStatus(upload.id, inst.id, upload.kind, upload.original_name, upload.size, upload.size, att.id,
                            stored.sha256)


def remove_abandoned(storage_dir: Path, older_than: datetime, uow: UnitOfWork) -> int:
    """Removes the received bytes of uploads begun before ``older_than`` and never finished: they were
    never a document of the exam (R27 keeps documents, not half-sent files). Returns how many."""
    with uow:
        s = uow.session
        stale = s.scalars(select(Upload).where(Upload.attachment_id.is_(None), Upload.created_at < older_than)).all()
        removed = 0
        for upload in stale:
            path = _partial(storage_dir, upload.id)
            if path.exists():
                path.unlink()
                removed += 1
        return removed
