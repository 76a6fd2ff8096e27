"""The upload protocol of webapp/uploads.py in the JSON API: bearer tokens, under /api/v1/uploads."""

from __future__ import annotations

from flask import g, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from processes import attachments
from processes import uploads as upload_cases
from webapp import csrf, uow, uploads
from webapp.api import bearer_required, error_responses

blp = Blueprint("api_uploads", __name__, url_prefix="/api/v1", description="Bestanden: bijlagen en bewijsstukken")


class UploadInSchema(Schema):
    instance_id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "bijlage (bij de opdracht, R18) of bewijs (R20)"})
    name = fields.String(required=True, metadata={"description": "De oorspronkelijke bestandsnaam"})
    content_type = fields.String(load_default="application/octet-stream")
    size = fields.Integer(required=True, metadata={"description": "Grootte in bytes (tot 512 MiB)"})


class UploadSchema(Schema):
    id = fields.String(required=True)
    instance_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    name = fields.String(required=True)
    size = fields.Integer(required=True)
    offset = fields.Integer(required=True, metadata={"description": "Hoeveel bytes er binnen zijn: ga hier verder"})
    done = fields.Boolean(required=True)
    attachment_id = fields.Integer(allow_none=True)
    sha256 = fields.String(allow_none=True, metadata={"description": "De SHA-256 van het opgeslagen bestand, "
                                                                     "als het compleet is: vergelijk hem met de uwe"})
    chunk_size = fields.Integer(required=True, metadata={"description": "Het grootste deel dat een PUT mag sturen"})


@blp.post("/uploads")
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": "UploadIn"}}})
@blp.response(201, UploadSchema)
@error_responses(blp, 400, 401, 403, 404, 409, 413)
@bearer_required
def begin_upload():
    """Meldt een bestand aan (naam, soort, grootte); daarna volgen de delen met PUT."""
    st = uploads.begin(g.api_user.id, request.get_json(silent=True))
    return uploads.status_body(st)


@blp.get("/uploads/<upload_id>")
@blp.response(200, UploadSchema)
@error_responses(blp, 401, 403, 404)
@bearer_required
def upload_status(upload_id: str):
    """Hoe ver een upload is: na een verbroken verbinding gaat de volgende PUT verder vanaf ``offset``."""
    return uploads.status_body(upload_cases.upload_status(upload_id, g.api_user.id, uploads.storage_dir(), uow()))


@blp.put("/uploads/<upload_id>")
@blp.doc(parameters=[{"in": "header", "name": "Upload-Offset", "required": True, "schema": {"type": "integer"},
                      "description": "De byte waar dit deel begint"}],
         requestBody={"required": True, "content": {"application/offset+octet-stream": {
             "schema": {"type": "string", "format": "binary"}}}})
@blp.response(200, UploadSchema)
@error_responses(blp, 400, 401, 403, 404, 409, 413)
@bearer_required
def upload_chunk(upload_id: str):
    """Stuurt een deel van het bestand; het laatste deel slaat het bestand op onder zijn SHA-256. Een deel op
    de verkeerde plek krijgt 409 met de ``offset`` waar het verder moet."""
    try:
        return uploads.status_body(uploads.put_chunk(upload_id, g.api_user.id))
    except upload_cases.OffsetMismatch as exc:
        return uploads.offset_conflict(exc)


class FileSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "bijlage of bewijs"})
    name = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    uploaded_by = fields.String(required=True)
    uploaded_at = fields.DateTime(required=True)
    withdrawn_at = fields.DateTime(allow_none=True, metadata={"description": "Ingetrokken (blijft bewaard, R27)"})


@blp.get("/instances/<int:instance_id>/files")
@blp.response(200, FileSchema(many=True))
@error_responses(blp, 401, 403, 404)
@bearer_required
def list_files(instance_id: int):
    """De bijlagen bij de opdracht en de bewijsstukken van een examen, met hun SHA-256."""
    return [f.__dict__ for kind in attachments.KINDS
            for f in attachments.list_attachments(instance_id, g.api_user.id, uow(), kind)]


@blp.get("/instances/<int:instance_id>/files/<int:file_id>")
@blp.doc(responses={"200": {"description": "Het bestand, met zijn oorspronkelijke naam",
                            "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                "format": "binary"}}}}})
@error_responses(blp, 401, 403, 404)
@bearer_required
def download_file(instance_id: int, file_id: int):
    """Haalt een bestand van een examen op (wie het examen mag zien)."""
    return uploads.send_stored(attachments.open_attachment(instance_id, file_id, g.api_user.id, uow()))


def init_api(api) -> None:
    api.spec.components.schema("UploadIn", schema=UploadInSchema)
    api.register_blueprint(blp)
    csrf.exempt(blp)
