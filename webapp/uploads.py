"""Chunked, resumable uploads over HTTP (processes/uploads.py), for the browser and the API alike.

The protocol, in three requests:
- ``POST …/uploads`` with JSON ``{"instance_id", "kind": "bijlage"|"bewijs", "name", "content_type",
  "size"}`` announces a file → 201 with the upload's ``id``, ``offset`` 0 and the ``chunk_size``;
- ``PUT …/uploads/<id>`` with header ``Upload-Offset: <n>`` and the bytes from n as the body (at most
  ``chunk_size``) → 200 with the new ``offset``; on the last byte ``done`` and the ``attachment_id``;
  a chunk at the wrong offset gets 409 with the ``offset`` to continue from;
- ``GET …/uploads/<id>`` tells the offset to resume from after a broken connection.
The browser's blueprint checks the CSRF token (header ``X-CSRFToken``); the API takes a bearer token.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, jsonify, request, send_file, url_for
from flask_login import current_user, login_required

from processes import attachments, uploads
from processes.errors import BadRequest, NotFound
from webapp import csrf, uow

bp = Blueprint("uploads", __name__)

# Room for a chunk's request around its bytes; chunks themselves are at most the configured size.
DEFAULT_CHUNK = 8 * 1024 * 1024


def storage_dir() -> Path:
    return Path(current_app.config["EXAMENFLOW_STORAGE_DIR"])


def send_stored(att: attachments.AttachmentView):
    """An exam's file as a download under its original name; a file missing from storage is a clear 404."""
    path = storage_dir() / att.sha256
    if not path.is_file():
        raise NotFound("Het bestand ontbreekt in de opslag; meld dit bij de beheerder.")
    return send_file(path, mimetype=att.content_type, as_attachment=True, download_name=att.name)


def chunk_size() -> int:
    return int(current_app.config.get("EXAMENFLOW_UPLOAD_CHUNK_BYTES", DEFAULT_CHUNK))


def status_body(st: uploads.UploadStatus, instance_url: str | None = None) -> dict:
    body = {"id": st.id, "instance_id": st.instance_id, "kind": st.kind, "name": st.name, "size": st.size,
            "offset": st.offset, "done": st.done, "attachment_id": st.attachment_id, "sha256": st.sha256,
            "chunk_size": chunk_size()}
    if instance_url:
        body["dossier"] = instance_url
    return body


def begin(actor_id: int, payload) -> uploads.UploadStatus:
    if not isinstance(payload, dict):
        raise BadRequest("Stuur de gegevens van het bestand als JSON-object.")
    instance_id = payload.get("instance_id")
    if isinstance(instance_id, bool) or not isinstance(instance_id, int):
        raise BadRequest("Geef het examen (instance_id) als geheel getal.")
    return uploads.begin_upload(instance_id, actor_id, str(payload.get("kind") or ""), str(payload.get("name") or ""),
                                str(payload.get("content_type") or ""), payload.get("size"), storage_dir(),
                                current_app.config["EXAMENFLOW_UPLOAD_MAX_BYTES"], uow())


def put_chunk(upload_id: str, actor_id: int) -> uploads.UploadStatus:
    """Reads one chunk straight from the request stream (never the whole body in memory)."""
    raw = request.headers.get("Upload-Offset", "")
    if not raw.isdigit():
        raise BadRequest("Geef in de kop Upload-Offset aan bij welke byte dit deel begint.")
    length = request.content_length
    if length is None:
        raise BadRequest("Geef de lengte van dit deel (Content-Length).")
    if length > chunk_size():
        raise BadRequest(f"Een deel mag hoogstens {chunk_size() // 2**20} MiB zijn.")
    request.max_content_length = chunk_size()
    return uploads.append_chunk(upload_id, actor_id, int(raw), request.stream, length, storage_dir(), uow())


def offset_conflict(exc: uploads.OffsetMismatch):
    return jsonify({"message": exc.message, "offset": exc.offset}), 409


# ----------------------------------------------------------------------------- the browser's routes


@bp.before_request
def session_required():
    # The uploader is a script: it needs a status it can read, not a redirect to the login page.
    if not current_user.is_authenticated:
        return jsonify({"message": "U bent niet (meer) ingelogd: log opnieuw in en kies het bestand opnieuw om "
                                   "verder te gaan."}), 401
    return None


@bp.post("/uploads")
@login_required
def begin_upload():
    st = begin(current_user.user_id, request.get_json(silent=True))
    return jsonify(status_body(st, url_for("dossier.show", instance_id=st.instance_id))), 201


@bp.get("/uploads/<upload_id>")
@login_required
def upload_status(upload_id: str):
    st = uploads.upload_status(upload_id, current_user.user_id, storage_dir(), uow())
    return jsonify(status_body(st))


@bp.put("/uploads/<upload_id>")
@csrf.exempt  # checked below, once the body may be as large as a chunk
@login_required
def upload_chunk(upload_id: str):
    request.max_content_length = chunk_size()
    csrf.protect()
    try:
        st = put_chunk(upload_id, current_user.user_id)
    except uploads.OffsetMismatch as exc:
        return offset_conflict(exc)
    return jsonify(status_body(st))
