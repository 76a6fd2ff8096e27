"""The JSON API for exams at exam moments, under /api/v1 beside the task API: the student's exams
(R41, R49) and the surveillant's proces-verbaal (R36)."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from handlers import clock
from processes import exam_queries, moments, registrations, student_overview
from processes.enrolment import ACCOMMODATIONS
from webapp import csrf, uow
from webapp.api import bearer_required, error_responses, json_body

blp = Blueprint("api_exams", __name__, url_prefix="/api/v1", description="Examens op examenmomenten")


class MyResultSchema(Schema):
    attempt = fields.Integer(required=True)
    score = fields.Integer(required=True)
    passed = fields.Boolean(allow_none=True, metadata={"description": "Leeg zolang de cesuur niet bekend is"})
    status = fields.String(required=True, metadata={"description": "voorlopig of definitief (R38)"})
    established_at = fields.DateTime(allow_none=True)


class MyExamSchema(Schema):
    code = fields.String(required=True)
    title = fields.String(required=True)
    school = fields.String(required=True)
    school_year = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "open, behaald of niet_behaald"})
    go = fields.Boolean(required=True)
    attempts_used = fields.Integer(required=True)
    attempts_allowed = fields.Integer(required=True)
    moment = fields.String(allow_none=True, metadata={"description": "Datum, tijd en locatie"})
    accommodations = fields.List(fields.String(), required=True)
    results = fields.List(fields.Nested(MyResultSchema), required=True)
    open_task_id = fields.Integer(allow_none=True)
    open_task = fields.String(allow_none=True)
    cancelled_moment = fields.String(allow_none=True, metadata={
        "description": "Het examenmoment waarvoor de student is afgemeld omdat het is geannuleerd: datum, tijd, "
                       "locatie, wanneer en waarom"})


class PvbResultSchema(Schema):
    outcome = fields.String(required=True, metadata={"description": "voldaan of onvoldoende"})
    status = fields.String(required=True, metadata={"description": "voorlopig of definitief (R38, R49)"})
    at = fields.DateTime(required=True, metadata={"description": "Consensus bereikt, of vastgesteld"})
    werkprocessen = fields.Dict(required=True)


class MyPvbSchema(Schema):
    instance_id = fields.Integer(required=True)
    title = fields.String(required=True)
    school = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "running of completed"})
    current_steps = fields.List(fields.String(), required=True)
    result = fields.Nested(PvbResultSchema, allow_none=True)
    open_task_id = fields.Integer(allow_none=True)
    open_task = fields.String(allow_none=True)
    follow_up_of = fields.Integer(allow_none=True)


class ProcesVerbaalInSchema(Schema):
    attendance = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True,
                             metadata={"description": "Per inschrijving (id): \"aanwezig\" of \"afwezig\""})
    incidents = fields.String(load_default="")


class AttendanceSchema(Schema):
    enrolment_id = fields.Integer(required=True)
    name = fields.String(required=True)
    number = fields.String(required=True)
    present = fields.Boolean(required=True)


class ProcesVerbaalSchema(Schema):
    id = fields.Integer(required=True)
    moment_id = fields.Integer(required=True)
    exam = fields.String(required=True)
    surveillant = fields.String(required=True)
    recorded_at = fields.DateTime(required=True)
    version = fields.Integer(required=True)
    cesuur = fields.Integer(allow_none=True)
    attendance = fields.List(fields.Nested(AttendanceSchema), required=True)
    incidents = fields.String(required=True)


@blp.get("/mijn-examens")
@blp.response(200, MyExamSchema(many=True))
@error_responses(blp, 401, 403)
@bearer_required
def my_exams():
    """Mijn examens: de examens van de student met moment, pogingen en zichtbare resultaten (R49)."""
    exam_queries.require_role_anywhere(g.api_user.id, "student", uow(), "Mijn examens")
    exams = registrations.my_exams(g.api_user.id, uow())
    return [{**e.__dict__, "accommodations": [ACCOMMODATIONS.get(a, a) for a in e.accommodations],
             "results": [r.__dict__ for r in e.results]} for e in exams]


@blp.get("/mijn-pvbs")
@blp.response(200, MyPvbSchema(many=True))
@error_responses(blp, 401, 403)
@bearer_required
def my_pvbs():
    """Mijn PvB's: waar elke proeve staat en het resultaat, voorlopig of definitief (R49)."""
    exam_queries.require_role_anywhere(g.api_user.id, "student", uow(), "Mijn examens")
    return [{**p.__dict__, "result": None if p.result is None else {
        "outcome": p.result.outcome, "status": "definitief" if p.result.definitive else "voorlopig",
        "at": p.result.at, "werkprocessen": p.result.werkprocessen}} for p in student_overview.my_pvbs(g.api_user.id,
                                                                                                         uow())]


@blp.post("/examenmomenten/<int:moment_id>/proces-verbaal")
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": "ProcesVerbaalIn"}}})
@blp.response(201, ProcesVerbaalSchema)
@error_responses(blp, 400, 401, 403, 404, 409, 413, 422)
@bearer_required
def record_proces_verbaal(moment_id: int):
    """Legt het proces-verbaal van een examenmoment vast (R36): iedere ingeschreven student aanwezig of afwezig."""
    body = json_body(ProcesVerbaalInSchema())
    moments.record_proces_verbaal(moment_id, g.api_user.id, body["attendance"], body["incidents"], uow(),
                                        now=clock.now())
    pv = exam_queries.proces_verbaal(moment_id, g.api_user.id, uow())
    return {**pv.__dict__, "moment_id": pv.moment.id, "exam": pv.moment.exam,
            "attendance": [a.__dict__ for a in pv.attendance]}


def init_api(api) -> None:
    api.spec.components.schema("ProcesVerbaalIn", schema=ProcesVerbaalInSchema)
    api.register_blueprint(blp)
    csrf.exempt(blp)
