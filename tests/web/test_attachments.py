"""R18: attachments to an assignment, streamed to storage under their SHA-256 (design 12)."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from sqlalchemy import select

from processes import runner
from processes.models import Attachment, AuditEvent
from tests.conftest import csrf_from, login
from tests.support.walk import start_and_walk_to

LIMIT = 64 * 1024


@pytest.fixture
def small_uploads(app):
    app.config["EXAMENFLOW_UPLOAD_MAX_BYTES"] = LIMIT
    return app.config["EXAMENFLOW_STORAGE_DIR"]


def _client(app, world, key):
    client = app.test_client()
    login(client, world.email(key))
    return client


def _upload(client, instance_id: int, payload: bytes, name: str = "werkinstructie.pdf"):
    token = csrf_from(client, f"/examens/{instance_id}")
    return client.post(f"/examens/{instance_id}/bijlagen", content_type="multipart/form-data",
                       data={"csrf_token": token, "bestand": (io.BytesIO(payload), name, "application/pdf")})


def _rows(uow_factory, instance_id):
    with uow_factory() as uow:
        rows = uow.session.scalars(select(Attachment).where(Attachment.instance_id == instance_id)).all()
        uow.session.expunge_all()
        return rows


def test_r18_the_roc_begeleider_adds_an_attachment_stored_under_its_checksum(app, world, uow_factory,
                                                                             small_uploads):
    inst, _ = start_and_walk_to(world, uow_factory, "opdracht_verwerven")
    payload = b"%PDF-1.4 werkinstructie " * 1000
    begeleider = _client(app, world, "begeleider_a")
    resp = _upload(begeleider, inst, payload)
    assert resp.status_code == 303
    [row] = _rows(uow_factory, inst)
    assert (row.original_name, row.size, row.uploaded_role) == ("werkinstructie.pdf", len(payload), "roc_begeleider")
    assert row.sha256 == hashlib.sha256(payload).hexdigest()
    assert (small_uploads / row.sha256).read_bytes() == payload
    page = begeleider.get(f"/examens/{inst}").get_data(as_text=True)
    link = re.search(rf'href="(/examens/{inst}/bijlagen/\d+)"', page).group(1)
    # The student of the exam opens it; the original name comes back.
    student = _client(app, world, "student_a")
    with student.get(link) as download:
        assert download.status_code == 200 and download.data == payload
        assert "werkinstructie.pdf" in download.headers["Content-Disposition"]
    with uow_factory() as uow:
        actions = uow.session.scalars(select(AuditEvent.action).where(AuditEvent.instance_id == inst)).all()
    assert "attachment_added" in actions


def test_r18_others_may_neither_add_nor_open(app, world, uow_factory, small_uploads):
    inst, _ = start_and_walk_to(world, uow_factory, "opdracht_verwerven")
    assert _upload(_client(app, world, "begeleider_a"), inst, b"inhoud").status_code == 303
    [row] = _rows(uow_factory, inst)
    # A student with an assignment from the bank does not add; another school's people do not open.
    walked, _ = start_and_walk_to(world, uow_factory, "opdracht_verwerven", student="student_a2")
    other_student = _client(app, world, "student_a2")
    assert other_student.get(f"/examens/{inst}/bijlagen/{row.id}").status_code in (403, 404)
    assert _client(app, world, "commissie_b").get(f"/examens/{inst}/bijlagen/{row.id}").status_code in (403, 404)
    assert _client(app, world, "rocbeoordelaar_b").post(f"/examens/{inst}/bijlagen").status_code in (400, 403)
    assert len(_rows(uow_factory, inst)) == 1


def test_r18_a_student_writing_his_own_assignment_may_add_too(app, world, uow_factory, small_uploads):
    result = runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"],
                              uow_factory())
    resp = _upload(_client(app, world, "student_a"), result.instance_id, b"mijn eigen opzet", "opzet.docx")
    assert resp.status_code == 303
    [row] = _rows(uow_factory, result.instance_id)
    assert (row.original_name, row.uploaded_role) == ("opzet.docx", "student")


def test_r18_an_attachment_over_the_limit_is_refused_and_leaves_no_file(app, world, uow_factory, small_uploads):
    inst, _ = start_and_walk_to(world, uow_factory, "opdracht_verwerven")
    resp = _upload(_client(app, world, "begeleider_a"), inst, b"x" * (LIMIT + 1))
    assert resp.status_code == 413
    assert _rows(uow_factory, inst) == []
    assert not small_uploads.exists() or list(small_uploads.iterdir()) == []
    assert _upload(_client(app, world, "begeleider_a"), inst, b"x" * LIMIT).status_code == 303


def test_r14_no_attachments_once_the_assignment_is_locked(app, world, uow_factory, small_uploads):
    inst, _ = start_and_walk_to(world, uow_factory, "opdracht_vaststellen")
    resp = _upload(_client(app, world, "begeleider_a"), inst, b"te laat")
    assert resp.status_code == 409
    assert _rows(uow_factory, inst) == []


def test_an_upload_without_the_csrf_token_is_refused(app, world, uow_factory, small_uploads):
    inst, _ = start_and_walk_to(world, uow_factory, "opdracht_verwerven")
    client = _client(app, world, "begeleider_a")
    resp = client.post(f"/examens/{inst}/bijlagen", content_type="multipart/form-data",
                       data={"bestand": (io.BytesIO(b"inhoud"), "a.pdf", "application/pdf")})
    assert resp.status_code == 400
    assert _rows(uow_factory, inst) == []
