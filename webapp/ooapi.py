"""OKE flow 2 in: the school's planner or SIS sends sittings and enrolments (OOAPI v5, ``shared/oke/``).

``POST /oauth/token`` hands out bearer tokens (OAuth2 client credentials); ``PUT``/``GET`` (and ``PATCH``
to cancel) ``/ooapi/offerings/{offeringId}`` and ``/ooapi/associations/{associationId}`` take and show
sittings and enrolments. The work is in ``processes/oke_in.py``; errors are RFC 7807 problems as in the spec.
"""

from __future__ import annotations

import json
from functools import wraps
from urllib.parse import unquote_plus

from flask import Blueprint, g, jsonify, request

from processes import oke_clients, oke_in
from processes.oke_clients import OAuthError
from webapp import csrf, uow
from webapp.errors import problem

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


# ----------------------------------------------------------------------------- flow 2


def oke_client_required(fn):
    @wraps(fn)
    def wrapper(*args, **kwargs):
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        actor = oke_clients.client_for_token(raw.strip(), uow()) if scheme.lower() == "bearer" and raw else None
        if actor is None:
            response = problem(401, "Geen geldig OKE-token: vraag er een aan bij POST /oauth/token en stuur "
                                    "'Authorization: Bearer <token>'. (No valid access token.)")
            response.headers["WWW-Authenticate"] = 'Bearer realm="examenflow-oke", error="invalid_token"'
            return response
        g.oke_client = actor
        return fn(*args, **kwargs)

    return wrapper


def _body():
    """The JSON body as sent; anything else is refused with 400 before a use case sees it."""
    if not request.is_json:
        raise oke_in.OkeRefused("Stuur het bericht als JSON (Content-Type: application/json).")
    try:
        return json.loads(request.get_data(cache=False), parse_constant=_no_constant)
    except ValueError as exc:
        raise oke_in.OkeRefused(f"Het bericht is geen geldige JSON: {exc}.") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is geen JSON-getal")


def _answer(created: bool, body: dict):
    return jsonify(body), 201 if created else 200


@bp.put("/ooapi/offerings/<offering_id>")
@oke_client_required
def put_offering(offering_id: str):
    """Flow 2.1: create or update a sitting (201 created, 200 updated)."""
    return _answer(*oke_in.put_offering(g.oke_client, offering_id, _body(), uow()))


@bp.patch("/ooapi/offerings/<offering_id>")
@oke_client_required
def patch_offering(offering_id: str):
    """Flow 2.5: cancel a sitting (``offeringState`` ``canceled``); 200 with the sitting as it now stands."""
    return jsonify(oke_in.patch_offering(g.oke_client, offering_id, _body(), uow()))


@bp.get("/ooapi/offerings/<offering_id>")
@oke_client_required
def get_offering(offering_id: str):
    """Flow 2.6: the current state of a sitting."""
    return jsonify(oke_in.get_offering(g.oke_client, offering_id, uow()))


@bp.put("/ooapi/associations/<association_id>")
@oke_client_required
def put_association(association_id: str):
    """Flow 2.2.B/2.3: enrol a student at a sitting or change the enrolment (201 created, 200 updated)."""
    return _answer(*oke_in.put_association(g.oke_client, association_id, _body(), uow()))


@bp.get("/ooapi/associations/<association_id>")
@oke_client_required
def get_association(association_id: str):
    """Flow 2.6: the current state of an enrolment."""
    return jsonify(oke_in.get_association(g.oke_client, association_id, uow()))


def init_app(app) -> None:
    app.register_blueprint(bp)
    csrf.exempt(bp)
