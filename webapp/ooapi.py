"""OKE flow 2 in: the school's planner or SIS sends sittings and enrolments (OOAPI v5, ``shared/oke/``).

``POST /oauth/token`` hands out bearer tokens (OAuth2 client credentials).
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from flask import Blueprint, jsonify, request

from processes import oke_clients
from processes.oke_clients import OAuthError
from webapp import csrf, uow

bp = Blueprint("ooapi", __name__)


# ----------------------------------------------------------------------------- OAuth2 token endpoint


@bp.post("/oauth/token")
def token():
    """RFC 6749 §4.4: client credentials by HTTP Basic or as form fields, never both."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "Stuur het tokenverzoek als application/x-www-form-urlencoded.")
    client_id, secret = _client_credentials()
    issued = oke_clients.issue_token(request.form.get("grant_type"), client_id, secret, request.form.get("scope"),
                                     uow())
    response = jsonify({"access_token": issued.access_token, "token_type": "Bearer",
                        "expires_in": issued.expires_in, "scope": issued.scope})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _client_credentials() -> tuple[str | None, str | None]:
    basic = request.authorization
    in_form = "client_id" in request.form or "client_secret" in request.form
    if basic is not None and basic.type == "basic":
        if in_form:
            raise OAuthError("invalid_request", "Stuur de client-gegevens op één manier: HTTP Basic of formulier.")
        # RFC 6749 §2.3.1: id and secret are form-encoded before they go into the Basic header.
        return unquote_plus(basic.username or ""), unquote_plus(basic.password or "")
    return request.form.get("client_id"), request.form.get("client_secret")


@bp.errorhandler(OAuthError)
def oauth_error(exc: OAuthError):
    response = jsonify({"error": exc.error, "error_description": exc.message})
    response.status_code = exc.status
    response.headers["Cache-Control"] = "no-store"
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="examenflow-oke"'
    return response


def init_app(app) -> None:
    app.register_blueprint(bp)
    csrf.exempt(bp)
