"""Every error a user can cause becomes a 4xx with a Dutch message (HTML or JSON), never a 500."""

from __future__ import annotations

from flask import jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from processes.errors import Conflict, ExamflowError, ValidationFailed

MESSAGES = {
    400: "Het verzoek is ongeldig.",
    401: "U bent niet ingelogd.",
    403: "U heeft geen toegang tot deze pagina.",
    404: "Deze pagina bestaat niet.",
    405: "Deze handeling is hier niet mogelijk.",
    413: "Het verzoek is te groot.",
    415: "Stuur de gegevens als JSON (Content-Type: application/json).",
    422: "De gegevens zijn niet geldig.",
}


# The JSON API, the OKE endpoints (OOAPI) and the OAuth2 token endpoint answer in JSON.
JSON_PREFIXES = ("/api/", "/ooapi/", "/oauth/", "/uploads")
OOAPI_PREFIX = "/ooapi/"


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def problem(status: int, detail: str, errors: list[str] | None = None):
    """An error as the OOAPI spec's error responses have it (RFC 7807: ``status`` as a string, ``title``,
    ``detail``), with the findings in ``errors``."""
    body: dict = {"status": str(status), "title": HTTP_STATUS_CODES.get(status, "Error"), "detail": detail}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _json(status: int, body: dict, errors: list[str] | None = None):
    if request.path.startswith(OOAPI_PREFIX):
        return problem(status, body["message"], errors)
    return jsonify(body), status


def error_body(exc: ExamflowError) -> dict:
    body: dict = {"message": exc.message}
    if isinstance(exc, ValidationFailed):
        body["errors"] = exc.errors
    if isinstance(exc, Conflict) and exc.by:
        body["completed_by"] = exc.by
        body["completed_at"] = exc.at.isoformat() if exc.at else None
    return body


def _findings(exc: ExamflowError) -> list[str]:
    if isinstance(exc, ValidationFailed):
        return [f"{field}: {msg}" for field, msgs in exc.errors.items() for msg in msgs]
    return list(getattr(exc, "errors", None) or [])


def _has_nul(values) -> bool:
    return any("\x00" in v for v in values if isinstance(v, str))


def init_app(app) -> None:
    @app.before_request
    def refuse_nul_bytes():
        # PostgreSQL cannot store NUL in text; no user types one: refuse it up front.
        # Only small url-encoded forms are looked at here: a multipart upload is not read twice.
        form = request.form.values() if request.mimetype == "application/x-www-form-urlencoded" else []
        if _has_nul(request.args.values()) or _has_nul(form):
            return _refuse(400, "Het verzoek bevat ongeldige tekens.")

    def _refuse(status: int, message: str):
        if wants_json():
            return _json(status, {"message": message})
        return render_template("error.html", status=status, message=message), status

    @app.errorhandler(DataError)
    def data_error(exc: DataError):
        # A value the database cannot hold (too long, out of range); the unit of work rolled back.
        return _refuse(400, "Een van de ingevulde waarden is te lang of ongeldig; er is niets opgeslagen.")

    @app.errorhandler(ExamflowError)
    def examflow_error(exc: ExamflowError):
        if wants_json():
            return _json(exc.status, error_body(exc), _findings(exc))
        return render_template("error.html", status=exc.status, message=exc.message), exc.status

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        msg = "Uw formulier is verlopen of ongeldig (CSRF-controle). Laad de pagina opnieuw en probeer het nog eens."
        return render_template("error.html", status=400, message=msg), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        message = MESSAGES.get(status, exc.name)
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"Het verzoek is te groot (maximaal {limit // 1024} kB)."
        if wants_json():
            return _json(status, {"message": message})
        return render_template("error.html", status=status, message=message), status
