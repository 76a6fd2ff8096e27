"""The JSON API under /api/v1 (flask-smorest): bearer tokens only, documented in /api/v1/openapi.json."""

from __future__ import annotations

from functools import wraps

from flask import g, request
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields

import forms as formlib
from processes import accounts, assignments, oke_clients, queries, runner
from processes.errors import BadRequest, Unauthorized, ValidationFailed
from webapp import csrf, uow

blp = Blueprint("api", __name__, url_prefix="/api/v1", description="Taken en examens")


# ----------------------------------------------------------------------------- schemas


class ApiErrorSchema(Schema):
    message = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    completed_by = fields.String()
    completed_at = fields.DateTime(allow_none=True)
    offset = fields.Integer(metadata={"description": "Bij een deel van een upload op de verkeerde plek: waar het "
                                                     "verder moet"})


class TaskSummarySchema(Schema):
    id = fields.Integer(required=True, attribute="task_id")
    instance_id = fields.Integer(required=True)
    step = fields.String(required=True)
    role = fields.String(required=True)
    exam = fields.String(required=True)
    student_name = fields.String(allow_none=True)
    student_number = fields.String(allow_none=True)
    school = fields.String(required=True)
    since = fields.DateTime(required=True)
    due_at = fields.DateTime(allow_none=True)


class TaskPageSchema(Schema):
    items = fields.List(fields.Nested(TaskSummarySchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class PageArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=lambda n: n >= 1)
    per_page = fields.Integer(load_default=25, validate=lambda n: 1 <= n <= 100)


class FormFieldSchema(Schema):
    name = fields.String(required=True)
    label = fields.String(required=True)
    type = fields.String(required=True)
    required = fields.Boolean(required=True)
    help = fields.String()
    options = fields.List(fields.Dict())
    required_when = fields.Dict(allow_none=True)


class FormSchema(Schema):
    key = fields.String(required=True)
    title = fields.String(required=True)
    fields = fields.List(fields.Nested(FormFieldSchema), required=True)


class TaskRequestSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "inzage of bezwaar (R34)"})
    exam_instance_id = fields.Integer(required=True, metadata={"description": "Het examen waarover het gaat"})
    result_label = fields.String(allow_none=True)
    reason = fields.String(required=True)
    status = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    decision = fields.String(allow_none=True)
    decision_text = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)


class TaskDetailSchema(Schema):
    id = fields.Integer(required=True, attribute="task_id")
    instance_id = fields.Integer(required=True)
    revision = fields.Integer(required=True)
    element_id = fields.String(required=True)
    step = fields.String(required=True)
    role = fields.String(required=True)
    status = fields.String(required=True)
    exam = fields.String(required=True)
    student_name = fields.String(allow_none=True)
    school = fields.String(required=True)
    since = fields.DateTime(required=True)
    due_at = fields.DateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    form = fields.Nested(FormSchema, required=True)
    criteria_model = fields.Dict(allow_none=True,
                                 metadata={"description": "Het beoordelingsmodel voor een criteria-veld"})
    values = fields.Dict(required=True, metadata={"description": "Vooraf ingevulde waarden"})
    request = fields.Nested(TaskRequestSchema, allow_none=True,
                            metadata={"description": "Bij een taak van een verzoek om inzage of bezwaar: het verzoek"})


class CompleteTaskSchema(Schema):
    data = fields.Dict(required=True, metadata={"description": "De velden van het formulier van de taak"})


class StepResultSchema(Schema):
    instance_id = fields.Integer(required=True)
    revision = fields.Integer(required=True)
    status = fields.String(required=True)
    open_task_ids = fields.List(fields.Integer(), required=True)
    warnings = fields.List(fields.String(), required=True,
                           metadata={"description": "Waarschuwingen die het proces gaf en liet passeren"})


class StartPvbSchema(Schema):
    school_id = fields.Integer(required=True)
    student_id = fields.Integer(required=True)
    title = fields.String(load_default="")
    assignment_id = fields.Integer(load_default=None, allow_none=True)
    desired_end_date = fields.Date(load_default=None, allow_none=True)


class HistoryEntrySchema(Schema):
    at = fields.DateTime(required=True)
    actor = fields.String(required=True)
    role = fields.String(required=True)
    action = fields.String(required=True)
    summary = fields.String(required=True)
    element_id = fields.String(allow_none=True)


class OpenTaskSchema(Schema):
    task_id = fields.Integer(required=True)
    step = fields.String(required=True)
    role = fields.String(required=True)
    since = fields.DateTime(required=True)
    due_at = fields.DateTime(allow_none=True)
    assignee = fields.String(allow_none=True)


class ExamAssignmentSchema(Schema):
    title = fields.String(required=True)
    text = fields.String(required=True)
    examenlocatie = fields.String(required=True)
    context = fields.String(required=True)
    desired_end_date = fields.Date(allow_none=True)
    content_version = fields.Integer(required=True)
    locked = fields.Boolean(required=True)
    established = fields.Boolean(required=True)
    result = fields.String(allow_none=True)
    result_details = fields.Dict(allow_none=True)
    follow_up_of = fields.Integer(allow_none=True)
    archived = fields.Boolean(required=True)
    model = fields.Dict(required=True, metadata={"description": "Beoordelingsmodel: werkprocessen en criteria"})


class AssessmentSchema(Schema):
    kind = fields.String(required=True)
    role = fields.String(required=True)
    assessor = fields.String(required=True)
    recorded_at = fields.DateTime(required=True)
    complete = fields.Boolean(required=True)
    result = fields.Dict(required=True)
    judgements = fields.Dict(required=True)


class AssignmentEditSchema(Schema):
    title = fields.String()
    text = fields.String()
    examenlocatie = fields.String()
    context = fields.String()
    desired_end_date = fields.Date()


class ParticipantChangeSchema(Schema):
    role = fields.String(required=True)
    user_id = fields.Integer(required=True)


class InstanceSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True)
    revision = fields.Integer(required=True)
    process_id = fields.String(required=True)
    version = fields.Integer(required=True)
    school = fields.String(required=True)
    student_name = fields.String(allow_none=True)
    started_at = fields.DateTime(required=True)
    open_tasks = fields.List(fields.Nested(OpenTaskSchema), required=True)
    participants = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    history = fields.List(fields.Nested(HistoryEntrySchema), required=True)
    assignment = fields.Nested(ExamAssignmentSchema, allow_none=True)
    warnings = fields.List(fields.String(), required=True)
    assessments = fields.List(fields.Nested(AssessmentSchema), required=True)
    follow_ups = fields.List(fields.Integer(), required=True)


ERRORS = {
    400: "Ongeldig verzoek",
    401: "Geen of een ongeldig token",
    403: "Niet uw taak of examen",
    404: "Onbekend",
    413: "Verzoek te groot",
    415: "Geen JSON",
}


def error_responses(blueprint: Blueprint, *codes: int):
    """Documents the error responses of an endpoint (each an ApiErrorSchema) in the OpenAPI document."""

    def deco(fn):
        for code in codes:
            fn = blueprint.alt_response(code, schema=ApiErrorSchema, description=ERRORS.get(code, ""))(fn)
        return fn

    return deco


def _errors(*codes: int):
    return error_responses(blp, *codes)


# ----------------------------------------------------------------------------- auth and body


def bearer_required(fn):
    @wraps(fn)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        raw = raw.strip()
        # An OKE client's access token is for /ooapi only, not for the API of its system account.
        usable = scheme.lower() == "bearer" and raw and not oke_clients.is_access_token(raw)
        user = accounts.user_for_token(raw, uow()) if usable else None
        if user is None:
            raise Unauthorized("Geen geldig token: stuur 'Authorization: Bearer <token>'.")
        g.api_user = user
        return fn(*args, **kwargs)

    return wrapper


def json_body(schema: Schema) -> dict:
    """Parses the body ourselves so every refusal carries a Dutch message."""
    if not request.is_json:
        raise BadRequest("Stuur de gegevens als JSON (Content-Type: application/json).")
    payload = request.get_json(silent=True)
    if payload is None:
        raise BadRequest("De JSON in het verzoek is ongeldig.")
    if not isinstance(payload, dict):
        raise BadRequest("Het verzoek moet een JSON-object zijn.")
    errors = schema.validate(payload)
    if errors:
        raise ValidationFailed(_dutch(errors), "De gegevens in het verzoek zijn niet geldig.")
    return schema.load(payload)


_DUTCH = {
    "Missing data for required field.": "Dit veld is verplicht.",
    "Not a valid integer.": "Vul een geheel getal in.",
    "Not a valid mapping type.": "Dit moet een object zijn.",
    "Not a valid string.": "Dit moet tekst zijn.",
    "Unknown field.": "Onbekend veld.",
    "Field may not be null.": "Dit veld mag niet leeg zijn.",
}


def _dutch(errors: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, msgs in errors.items():
        if isinstance(msgs, dict):
            for sub, subs in _dutch(msgs).items():
                out[f"{key}.{sub}"] = subs
        else:
            out[key] = [_DUTCH.get(m, m) for m in msgs]
    return out


# ----------------------------------------------------------------------------- endpoints


@blp.get("/tasks")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, TaskPageSchema)
@_errors(401, 422)
@bearer_required
def my_tasks(args):
    """Mijn taken: de open taken van de gebruiker van het token."""
    page = queries.list_my_tasks(g.api_user.id, uow(), page=args["page"], per_page=args["per_page"])
    return {"items": page.items, "total": page.total, "page": page.page, "per_page": page.per_page}


@blp.get("/tasks/<int:task_id>")
@blp.response(200, TaskDetailSchema)
@_errors(401, 403, 404)
@bearer_required
def get_task(task_id: int):
    """Eén taak met het formulier dat bij de stap hoort."""
    view = queries.get_task(task_id, g.api_user.id, uow())
    described = formlib.render_description(view.form, choices=view.choices)
    form = {
        "key": view.form.key,
        "title": view.form.title,
        "fields": [
            {
                "name": f["name"], "label": f["label"], "type": f["type"],
                "required": bool(f.get("required")), "help": f.get("help") or "",
                "options": f.get("options") or [], "required_when": f.get("required_when"),
            }
            for f in described
        ],
    }
    return {**view.__dict__, "form": form}


@blp.post("/tasks/<int:task_id>/complete")
@blp.doc(requestBody={"required": True,
                      "content": {"application/json": {"schema": "CompleteTask"}}})
@blp.response(200, StepResultSchema)
@_errors(400, 401, 403, 404, 409, 413, 422, 503)
@bearer_required
def complete_task(task_id: int):
    """Rondt een taak af (422: meldingen per veld; 409: iemand anders was eerder)."""
    body = json_body(CompleteTaskSchema())
    result = runner.complete_task(task_id, g.api_user.id, body["data"], uow())
    return result.__dict__


@blp.post("/pvb")
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": "StartPvb"}}})
@blp.response(201, StepResultSchema)
@_errors(400, 401, 403, 404, 413, 422)
@bearer_required
def start_pvb(*_args):
    """Start een PvB voor een student (de gebruiker wordt de ROC-begeleider)."""
    body = json_body(StartPvbSchema())
    result = runner.start_pvb(body["school_id"], body["student_id"], g.api_user.id, uow(),
                              title=body["title"], assignment_id=body["assignment_id"],
                              desired_end_date=body["desired_end_date"])
    return result.__dict__


@blp.get("/instances/<int:instance_id>")
@blp.response(200, InstanceSchema)
@_errors(401, 403, 404)
@bearer_required
def get_instance(instance_id: int):
    """Een examen met zijn open taken, deelnemers en geschiedenis (wie, rol, wanneer, wat)."""
    return _instance_body(instance_id)


def _instance_body(instance_id: int) -> dict:
    view = queries.get_instance(instance_id, g.api_user.id, uow())
    return {**view.__dict__, "history": [h.__dict__ for h in view.history]}


@blp.patch("/instances/<int:instance_id>/assignment")
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": "AssignmentEdit"}}})
@blp.response(200, InstanceSchema)
@_errors(400, 401, 403, 404, 409, 413, 422)
@bearer_required
def edit_assignment(instance_id: int):
    """Wijzigt de opdracht van een examen; geweigerd (409) na de drie goedkeuringen (R14)."""
    body = json_body(AssignmentEditSchema())
    assignments.edit_exam_assignment(instance_id, g.api_user.id, body, uow())
    return _instance_body(instance_id)


@blp.post("/instances/<int:instance_id>/participants")
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": "ParticipantChange"}}})
@blp.response(200, InstanceSchema)
@_errors(400, 401, 403, 404, 413, 422)
@bearer_required
def change_participant(instance_id: int):
    """Wijzigt wie een rol heeft in een examen (R7); open taken gaan mee."""
    body = json_body(ParticipantChangeSchema())
    assignments.change_participant(instance_id, body["role"], body["user_id"], g.api_user.id, uow())
    return _instance_body(instance_id)


def init_app(app) -> None:
    from webapp import api_exams, api_uploads

    api = Api(app)
    api.spec.components.schema("CompleteTask", schema=CompleteTaskSchema)
    api.spec.components.schema("StartPvb", schema=StartPvbSchema)
    api.spec.components.schema("AssignmentEdit", schema=AssignmentEditSchema)
    api.spec.components.schema("ParticipantChange", schema=ParticipantChangeSchema)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearer": []}]
    api.register_blueprint(blp)
    csrf.exempt(blp)
    api_exams.init_api(api)
    api_uploads.init_api(api)
