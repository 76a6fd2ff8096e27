"""Issue 8: evidence (R20) sent in resumable chunks, stored under its checksum, locked after the evidence
check (R23), optional per school (R24); and who may open an exam's files."""

from __future__ import annotations

import hashlib
import io
import os
import re

import pytest
from sqlalchemy import select

from processes import accounts, runner
from processes.models import Attachment, AuditEvent, ExamAssignment, Upload
from tests.conftest import PASSWORD, csrf_from, login
from tests.support.api import api_for
from tests.support.walk import full_data, start_and_walk_to, walk_to

LIMIT = 96 * 1024
CHUNK = 16 * 1024


@pytest.fixture
def storage(app):
    app.config["EXAMENFLOW_UPLOAD_MAX_BYTES"] = LIMIT
    app.config["EXAMENFLOW_UPLOAD_CHUNK_BYTES"] = CHUNK
    return app.config["EXAMENFLOW_STORAGE_DIR"]


def _client(app, world, key):
    client = app.test_client()
    login(client, world.email(key))
    return client


def _csrf(client, instance_id):
    return csrf_from(client, f"/examens/{instance_id}")


def _begin(client, token, instance_id, size, name="verslag.mp4", kind="bewijs"):
    return client.post("/uploads", json={"instance_id": instance_id, "kind": kind, "name": name,
                                         "content_type": "video/mp4", "size": size},
                       headers={"X-CSRFToken": token})


def _put(client, token, upload_id, offset, data, **kw):
    return client.put(f"/uploads/{upload_id}", data=data, headers={"X-CSRFToken": token, "Upload-Offset": str(offset),
                                                                   "Content-Type": "application/offset+octet-stream"},
                      **kw)


def _files(uow_factory, instance_id, kind="bewijs"):
    with uow_factory() as uow:
        rows = uow.session.scalars(select(Attachment).where(Attachment.instance_id == instance_id,
                                                            Attachment.kind == kind)).all()
        uow.session.expunge_all()
        return rows


def _stored(storage):
    """The files in storage, without the folder of uploads in progress."""
    return sorted(p.name for p in storage.iterdir() if p.is_file()) if storage.exists() else []


def _partials(storage):
    folder = storage / ".partial"
    return sorted(p.name for p in folder.iterdir() if p.stat().st_size) if folder.exists() else []


def _send_all(client, token, upload_id, payload, start=0):
    offset = start
    while offset < len(payload):
        resp = _put(client, token, upload_id, offset, payload[offset:offset + CHUNK])
        assert resp.status_code == 200, resp.get_json()
        offset = resp.get_json()["offset"]
    return resp.get_json()


def test_r20_the_student_sends_evidence_in_chunks_and_it_is_stored_under_its_checksum(app, world, uow_factory, storage):
    inst, _ = start_and_walk_to(world, uow_factory, "bewijsstukken_uploaden")
    student = _client(app, world, "student_a")
    token = _csrf(student, inst)
    payload = os.urandom(LIMIT - 5)  # several chunks, the last one short
    begun = _begin(student, token, inst, len(payload))
    assert begun.status_code == 201
    body = begun.get_json()
    assert (body["offset"], body["chunk_size"], body["done"]) == (0, CHUNK, False)
    done = _send_all(student, token, body["id"], payload)
    assert done["done"] and done["offset"] == len(payload)
    [row] = _files(uow_factory, inst)
    digest = hashlib.sha256(payload).hexdigest()
    assert (row.original_name, row.content_type, row.size, row.sha256) == ("verslag.mp4", "video/mp4", len(payload),
                                                                            digest)
    assert (storage / digest).read_bytes() == payload
    assert _partials(storage) == []
    # The dossier lists it with its checksum; the student opens it again with its own name.
    page = student.get(f"/examens/{inst}").get_data(as_text=True)
    assert "verslag.mp4" in page and digest[:12] in page
    with student.get(f"/examens/{inst}/bijlagen/{row.id}") as download:
        assert download.data == payload and "verslag.mp4" in download.headers["Content-Disposition"]
    with uow_factory() as uow:
        event = uow.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == inst,
                                                             AuditEvent.action == "evidence_added")).one()
        assert (event.actor_id, event.role) == (world.users["student_a"], "student")


def test_a_connection_broken_halfway_resumes_from_the_last_byte_received(app, world, uow_factory, storage):
    inst, _ = start_and_walk_to(world, uow_factory, "bewijsstukken_uploaden")
    student = _client(app, world, "student_a")
    token = _csrf(student, inst)
    payload = os.urandom(3 * CHUNK)
    upload_id = _begin(student, token, inst, len(payload)).get_json()["id"]
    assert _put(student, token, upload_id, 0, payload[:CHUNK]).status_code == 200
    # The second chunk breaks off after 5,000 bytes: the body ends before its Content-Length.
    broken = _put(student, token, upload_id, CHUNK, None, input_stream=io.BytesIO(payload[CHUNK:CHUNK + 5000]),
                  environ_overrides={"CONTENT_LENGTH": str(CHUNK)})
    assert broken.status_code == 400
    status = student.get(f"/uploads/{upload_id}").get_json()
    assert status["offset"] == CHUNK + 5000 and not status["done"]
    # Logged out in between: the script gets a status it can read, and the upload waits.
    stranger = app.test_client()
    gone = stranger.get(f"/uploads/{upload_id}")
    assert gone.status_code == 401 and "ingelogd" in gone.get_json()["message"]
    # Sending from the old offset again is refused with where to go on from, and changes nothing.
    again = _put(student, token, upload_id, CHUNK, payload[CHUNK:2 * CHUNK])
    assert again.status_code == 409 and again.get_json()["offset"] == CHUNK + 5000
    done = _send_all(student, token, upload_id, payload, start=CHUNK + 5000)
    assert done["done"]
    # The last chunk sent again (its answer lost): the same answer, nothing stored twice.
    again = _put(student, token, upload_id, 2 * CHUNK, payload[2 * CHUNK:])
    assert again.status_code == 200 and again.get_json()["attachment_id"] == done["attachment_id"]
    [row] = _files(uow_factory, inst)
    assert row.sha256 == hashlib.sha256(payload).hexdigest() == hashlib.sha256((storage / row.sha256)
                                                                                .read_bytes()).hexdigest()


def test_the_limit_plus_one_byte_is_refused_with_a_clear_message_and_leaves_no_file(app, world, uow_factory,
                                                                                   storage):
    inst, _ = start_and_walk_to(world, uow_factory, "bewijsstukken_uploaden")
    student = _client(app, world, "student_a")
    token = _csrf(student, inst)
    before = _stored(storage)
    # Announced in chunks: refused before a byte is sent.
    refused = _begin(student, token, inst, LIMIT + 1)
    assert refused.status_code == 413
    assert "te groot" in refused.get_json()["message"] and "96" in refused.get_json()["message"]
    # Exactly the limit is fine.
    assert _begin(student, token, inst, LIMIT).status_code == 201
    # In one request (the page without JavaScript): refused, the flash says why, nothing stays behind.
    resp = student.post(f"/examens/{inst}/bewijs", content_type="multipart/form-data",
                        data={"csrf_token": token, "bestand": (io.BytesIO(b"x" * (LIMIT + 1)), "groot.mov")})
    assert resp.status_code == 413
    page = student.get(f"/examens/{inst}").get_data(as_text=True)
    assert "Het bestand is te groot" in page
    assert _stored(storage) == before and _partials(storage) == []
    assert not any(p.name.startswith(".upload-") for p in storage.iterdir())
    # A chunk that would run past the announced size is refused and appends nothing.
    upload_id = _begin(student, token, inst, 10).get_json()["id"]
    assert _put(student, token, upload_id, 0, b"x" * 11).status_code == 413
    assert student.get(f"/uploads/{upload_id}").get_json()["offset"] == 0
    assert _files(uow_factory, inst) == []


def test_r23_after_the_evidence_check_the_students_upload_is_refused_in_the_ui_and_the_api(app, world, uow_factory,
                                                                                           storage):
    inst, task = start_and_walk_to(world, uow_factory, "bewijsstukken_uploaden")
    student = _client(app, world, "student_a")
    token = _csrf(student, inst)
    # The upload step itself shows the files and says when they will be locked.
    step = student.get(f"/taken/{task}").get_data(as_text=True)
    assert "Bewijsstuk toevoegen" in step and "vanaf dan kun je niets meer" in step
    early = _begin(student, token, inst, 2 * CHUNK).get_json()["id"]
    assert _put(student, token, early, 0, b"a" * CHUNK).status_code == 200
    walk_to(world, uow_factory, inst, "beoordelen_roc")
    with uow_factory() as uow:
        assert uow.session.get(ExamAssignment, inst).evidence_locked_at is not None
    # UI: the form is gone and a post anyway is refused with the reason.
    page = student.get(f"/examens/{inst}").get_data(as_text=True)
    assert "liggen vast sinds" in page and "Bewijsstuk toevoegen" not in page
    resp = student.post(f"/examens/{inst}/bewijs", content_type="multipart/form-data",
                        data={"csrf_token": token, "bestand": (io.BytesIO(b"te laat"), "laat.jpg")})
    assert resp.status_code == 409
    assert "R23" in student.get(f"/examens/{inst}").get_data(as_text=True)
    # The chunk of an upload begun before the lock is refused too.
    late = _put(student, token, early, CHUNK, b"b" * CHUNK)
    assert late.status_code == 409 and "R23" in late.get_json()["message"]
    # API: announcing a file is refused with the same reason.
    api = api_for(app, world.users["student_a"], uow_factory)
    refused = api.post("/api/v1/uploads", json={"instance_id": inst, "kind": "bewijs", "name": "laat.jpg",
                                                "size": 10})
    assert refused.status_code == 409 and "R23" in refused.get_json()["message"]
    assert _files(uow_factory, inst) == []


def test_the_api_sends_evidence_in_chunks_during_execution(app, world, uow_factory, storage):
    inst, _ = start_and_walk_to(world, uow_factory, "bewijsstukken_uploaden")
    api = api_for(app, world.users["student_a"], uow_factory)
    payload = os.urandom(CHUNK + 100)
    begun = api.post("/api/v1/uploads", json={"instance_id": inst, "kind": "bewijs", "name": "foto.jpg",
                                              "content_type": "image/jpeg", "size": len(payload)})
    assert begun.status_code == 201
    upload_id = begun.get_json()["id"]
    first = api.put(f"/api/v1/uploads/{upload_id}", data=payload[:CHUNK], headers={"Upload-Offset": "0"})
    assert first.status_code == 200 and first.get_json()["offset"] == CHUNK
    wrong = api.put(f"/api/v1/uploads/{upload_id}", data=payload[:10], headers={"Upload-Offset": "0"})
    assert wrong.status_code == 409 and wrong.get_json()["offset"] == CHUNK
    assert api.get(f"/api/v1/uploads/{upload_id}").get_json()["offset"] == CHUNK
    last = api.put(f"/api/v1/uploads/{upload_id}", data=payload[CHUNK:], headers={"Upload-Offset": str(CHUNK)})
    assert last.get_json()["done"] and last.get_json()["attachment_id"]
    # The client compares the server's checksum with its own.
    assert last.get_json()["sha256"] == hashlib.sha256(payload).hexdigest()
    assert api.get(f"/api/v1/uploads/{upload_id}").get_json()["sha256"] == hashlib.sha256(payload).hexdigest()
    assert _files(uow_factory, inst)[0].sha256 == hashlib.sha256(payload).hexdigest()
    # The exam's files in the API, and the file itself.
    [listed] = api.get(f"/api/v1/instances/{inst}/files").get_json()
    digest = hashlib.sha256(payload).hexdigest()
    assert (listed["kind"], listed["name"], listed["sha256"]) == ("bewijs", "foto.jpg", digest)
    with api.client.get(f"/api/v1/instances/{inst}/files/{listed['id']}",
                        headers={"Authorization": f"Bearer {api.token}"}) as download:
        assert download.data == payload
    # Someone else's upload is not yours to continue or inspect, nor another student's files.
    other = api_for(app, world.users["student_a2"], uow_factory)
    assert other.get(f"/api/v1/uploads/{upload_id}").status_code == 403
    assert other.get(f"/api/v1/instances/{inst}/files").status_code == 403
    assert other.client.get(f"/api/v1/instances/{inst}/files/{listed['id']}",
                            headers={"Authorization": f"Bearer {other.token}"}).status_code == 403
    # Without a header saying where the chunk starts: a clear 400.
    no_offset = api.put(f"/api/v1/uploads/{upload_id}", data=b"x")
    assert no_offset.status_code == 400 and "Upload-Offset" in no_offset.get_json()["message"]


def test_withdrawn_evidence_stays_in_the_dossier_and_storage_r27(app, world, uow_factory, storage):
    inst, _ = start_and_walk_to(world, uow_factory, "bewijsstukken_uploaden")
    student = _client(app, world, "student_a")
    token = _csrf(student, inst)
    student.post(f"/examens/{inst}/bewijs", content_type="multipart/form-data",
                 data={"csrf_token": token, "bestand": (io.BytesIO(b"verkeerde foto"), "oud.jpg")})
    [row] = _files(uow_factory, inst)
    # Without the confirmation nothing happens.
    resp = student.post(f"/examens/{inst}/bestanden/{row.id}/intrekken", data={"csrf_token": token})
    assert resp.status_code == 303 and _files(uow_factory, inst)[0].withdrawn_at is None
    resp = student.post(f"/examens/{inst}/bestanden/{row.id}/intrekken",
                        data={"csrf_token": token, "bevestiging": "ja"})
    assert resp.status_code == 303
    [row] = _files(uow_factory, inst)
    assert row.withdrawn_at is not None and (storage / row.sha256).exists()
    assert "ingetrokken op" in student.get(f"/examens/{inst}").get_data(as_text=True)
    # The ROC-beoordelaar may not withdraw a student's evidence.
    beoordelaar = _client(app, world, "rocbeoordelaar_a")
    assert beoordelaar.post(f"/examens/{inst}/bestanden/{row.id}/intrekken",
                            data={"csrf_token": _csrf(beoordelaar, inst), "bevestiging": "ja"}).status_code == 403


def test_r24_a_school_without_evidence_uploads_refuses_them_with_that_reason(app, world, uow_factory, storage):
    with uow_factory() as uow:
        from processes.models import School

        school = uow.session.get(School, world.schools["a"])
        school.settings = {**(school.settings or {}), "bewijsstukken_gebruiken": False}
        uow.commit()
    inst, task = start_and_walk_to(world, uow_factory, "uitvoering_afronden")
    assert task is not None
    student = _client(app, world, "student_a")
    resp = _begin(student, _csrf(student, inst), inst, 10)
    assert resp.status_code == 409 and "R24" in resp.get_json()["message"]
    assert "geen bewijsstukken" in student.get(f"/examens/{inst}").get_data(as_text=True)


# ----------------------------------------------------------------------------- who may open an exam's files

# Every role of the world against student_a's exam at school A: only its participants and the school's
# examencommissie/examenbureau may open its files; everybody else gets 403.
MAY_OPEN = {
    "student_a": True,  # his own
    "begeleider_a": True,
    "praktijkbegeleider": True,
    "beoordelaar_a": True,
    "rocbeoordelaar_a": True,
    "commissie_a": True,
    "bureau_a": True,
    "student_a2": False,  # another student of the same school
    "student_b": False,
    "beoordelaar_a2": False,  # an assessor of the same school, not on this exam
    "begeleider_b": False,
    "beoordelaar_b": False,
    "rocbeoordelaar_b": False,
    "commissie_b": False,
    "surveillant_a": False,
    "beheerder_a": True,  # the school's administration (R27: the admin sees everything of his school)
    "beheerder_b": False,
}


@pytest.fixture
def exam_with_evidence(app, world, uow_factory, storage):
    for school in ("a", "b"):
        uid = accounts.create_user(world.email(f"beheerder_{school}"), f"Beheerder {school.upper()}", PASSWORD,
                                   uow_factory())
        accounts.grant_role(uid, world.schools[school], "beheerder", uow_factory())
    inst, _ = start_and_walk_to(world, uow_factory, "bewijsstukken_uploaden")
    student = _client(app, world, "student_a")
    student.post(f"/examens/{inst}/bewijs", content_type="multipart/form-data",
                 data={"csrf_token": _csrf(student, inst), "bestand": (io.BytesIO(b"bewijs"), "bewijs.pdf")})
    [row] = _files(uow_factory, inst)
    return inst, row.id


@pytest.mark.parametrize("who", sorted(MAY_OPEN))
def test_only_those_on_the_exam_open_its_dossier_and_files(app, world, uow_factory, exam_with_evidence, who):
    inst, file_id = exam_with_evidence
    client = _client(app, world, who)
    dossier = client.get(f"/examens/{inst}")
    with client.get(f"/examens/{inst}/bijlagen/{file_id}") as download:
        if MAY_OPEN[who]:
            assert dossier.status_code == 200 and download.status_code == 200 and download.data == b"bewijs"
        else:
            assert dossier.status_code == 403 and download.status_code == 403
            assert "bewijs.pdf" not in dossier.get_data(as_text=True)
    # Nobody but the student adds evidence to it.
    begun = _begin(client, csrf_from(client, "/mijn-account"), inst, 10)
    assert begun.status_code == (201 if who == "student_a" else 403)


def test_the_evidence_step_lists_files_and_the_student_finishes_it(app, world, uow_factory, storage):
    """Completing the upload step still works with files added (the files are not form data)."""
    inst, task = start_and_walk_to(world, uow_factory, "bewijsstukken_uploaden")
    student = _client(app, world, "student_a")
    token = _csrf(student, inst)
    upload_id = _begin(student, token, inst, 6, name="foto.jpg").get_json()["id"]
    _put(student, token, upload_id, 0, b"abcdef")
    assert "foto.jpg" in student.get(f"/taken/{task}").get_data(as_text=True)
    runner.complete_task(task, world.users["student_a"], full_data(world, "bewijsstukken_uploaden"), uow_factory())
    with uow_factory() as uow:
        assert uow.session.scalar(select(Upload.attachment_id).where(Upload.id == upload_id)) is not None
    assert re.search(r"Bewijsstukken controleren", student.get(f"/examens/{inst}").get_data(as_text=True))
    # The ROC-beoordelaar checks with the evidence at hand, read-only.
    check = walk_to(world, uow_factory, inst, "bewijsstukken_controleren")
    page = _client(app, world, "rocbeoordelaar_a").get(f"/taken/{check}").get_data(as_text=True)
    assert "Bewijsstukken van de student" in page and "foto.jpg" in page and "Intrekken" not in page


def test_an_abandoned_upload_is_cleared_and_a_finished_file_is_not(app, world, uow_factory, storage):
    from datetime import timedelta

    from handlers import clock
    from processes.uploads import remove_abandoned

    inst, _ = start_and_walk_to(world, uow_factory, "bewijsstukken_uploaden")
    student = _client(app, world, "student_a")
    token = _csrf(student, inst)
    finished = _begin(student, token, inst, 4, name="klaar.txt").get_json()["id"]
    _put(student, token, finished, 0, b"klar")
    half = _begin(student, token, inst, 2 * CHUNK).get_json()["id"]
    _put(student, token, half, 0, b"h" * CHUNK)
    assert remove_abandoned(storage, clock.now() + timedelta(seconds=1), uow_factory()) == 1
    assert not (storage / ".partial" / half).exists()
    [kept] = _files(uow_factory, inst)
    assert (storage / kept.sha256).read_bytes() == b"klar"
    # Going on with the cleared upload is refused with what to do.
    gone = _put(student, token, half, CHUNK, b"h" * CHUNK)
    assert gone.status_code == 404 and "begin opnieuw" in gone.get_json()["message"]
