"""OKE clients: a school's planner or SIS, authenticated with OAuth2 client credentials (RFC 6749 §4.4).

A client belongs to one school and acts as its own system account (a user with role examenbureau at
that school), so that everything it changes is attributable. The token endpoint hands out short-lived
bearer tokens: ``api_token`` rows of that account, stored as SHA-256 digests like every API token.
Access tokens carry their own prefix, so that the JSON API under /api/v1 refuses them and /ooapi
accepts nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from processes.db import UnitOfWork
from processes.errors import ExamflowError, NotFound
from processes.models import ApiToken, OkeClient, RoleMembership, School, User, utcnow

log = logging.getLogger(__name__)

CLIENT_PREFIX = "okec_"
SECRET_PREFIX = "okes_"
ACCESS_TOKEN_PREFIX = "oke_"
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
# The OKE scope of flows 2, 3 and 4 (technical-reference.md); a request may ask for it or for none.
SCOPE = "nl-test-admin-flow-2-3-4"
DEFAULT_NAME = "Toetsplanning (OKE-koppeling)"
SYSTEM_ROLE = "examenbureau"


class OAuthError(ExamflowError):
    """A refusal of the token endpoint, with its RFC 6749 §5.2 error code (``invalid_client``…)."""

    def __init__(self, error: str, message: str, status: int = 400):
        super().__init__(message)
        self.error = error
        self.status = status


@dataclass(frozen=True)
class ClientCredentials:
    """What the operator hands to the planner; the secret is shown once and never stored."""

    client_id: str
    secret: str
    user_id: int


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


@dataclass(frozen=True)
class OkeActor:
    """The client behind a valid access token: its system account and its one school."""

    client_id: str
    user_id: int
    user_name: str
    school_id: int
    school_code: str


def _digest(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


def create_client(school_id: int, name: str, uow: UnitOfWork) -> ClientCredentials:
    """Registers a planner or SIS of a school with its system account (role examenbureau)."""
    name = name.strip() or DEFAULT_NAME
    client_id = CLIENT_PREFIX + secrets.token_hex(10)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with uow:
        s = uow.session
        if s.get(School, school_id) is None:
            raise NotFound("Onbekende school.")
        # No password: the account only ever signs in through the token endpoint.
        user = User(email=f"{client_id}@oke-koppeling.invalid", name=name, password_hash=None)
        s.add(user)
        s.flush()
        s.add(RoleMembership(user_id=user.id, school_id=school_id, role=SYSTEM_ROLE))
        s.add(OkeClient(client_id=client_id, secret_digest=_digest(secret), school_id=school_id, user_id=user.id,
                        name=name))
        uow.commit()
        log.info("OKE client %s (%s) created for school %s with system account %s", client_id, name, school_id,
                 user.id)
        return ClientCredentials(client_id, secret, user.id)


def revoke_client(client_id: str, uow: UnitOfWork, now: datetime | None = None) -> None:
    """Ends a client: its secret and every access token it holds stop working at once."""
    with uow:
        s = uow.session
        client = s.scalar(select(OkeClient).where(OkeClient.client_id == client_id))
        if client is None:
            raise NotFound(f"Onbekende OKE-client '{client_id}'.")
        if client.revoked_at is None:
            client.revoked_at = now or utcnow()
            s.get(User, client.user_id).active = False
        uow.commit()
        log.info("OKE client %s revoked", client_id)


def issue_token(grant_type: str | None, client_id: str | None, secret: str | None, scope: str | None,
                uow: UnitOfWork, now: datetime | None = None) -> IssuedToken:
    """The token endpoint's work (RFC 6749 §4.4.2): checks grant type, client and scope, returns a
    bearer token valid for an hour. Refusals are :class:`OAuthError` with the RFC's error codes."""
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type ontbreekt (verwacht: client_credentials).")
    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", f"grant_type '{grant_type}' wordt niet ondersteund; "
                                                   "gebruik client_credentials.")
    if not client_id or not secret:
        raise OAuthError("invalid_client", "Client-id en -geheim ontbreken (HTTP Basic of client_id en "
                                           "client_secret in het formulier).", 401)
    requested = set((scope or "").split())
    if requested - {SCOPE}:
        raise OAuthError("invalid_scope", f"Onbekende scope '{' '.join(sorted(requested - {SCOPE}))}'; "
                                          f"deze server kent alleen {SCOPE}.")
    now = now or utcnow()
    raw = ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)
    with uow:
        s = uow.session
        client = s.scalar(select(OkeClient).where(OkeClient.client_id == client_id))
        # Compare digests in constant time; an unknown client costs the same comparison.
        expected = client.secret_digest if client is not None else _digest(secrets.token_hex(16))
        if not hmac.compare_digest(expected, _digest(secret)) or client is None or client.revoked_at is not None:
            raise OAuthError("invalid_client", "Onbekende client of onjuist geheim.", 401)
        # Tokens that expired a day ago are of no use to anyone: keep the table small.
        s.execute(delete(ApiToken).where(ApiToken.user_id == client.user_id,
                                         ApiToken.expires_at < now - timedelta(days=1)))
        s.add(ApiToken(user_id=client.user_id, name=f"OKE {client.client_id}", digest=_digest(raw),
                       created_at=now, expires_at=now + ACCESS_TOKEN_LIFETIME))
        uow.commit()
    return IssuedToken(raw, int(ACCESS_TOKEN_LIFETIME.total_seconds()), SCOPE)


def client_for_token(raw: str, uow: UnitOfWork, now: datetime | None = None) -> OkeActor | None:
    """The OKE client of a valid, unexpired access token, or None (any other token is None too)."""
    if not is_access_token(raw):
        return None
    now = now or utcnow()
    with uow:
        row = uow.session.execute(
            select(OkeClient.client_id, User.id, User.name, School.id.label("school_id"), School.code)
            .join(ApiToken, ApiToken.user_id == OkeClient.user_id)
            .join(User, User.id == OkeClient.user_id)
            .join(School, School.id == OkeClient.school_id)
            .where(ApiToken.digest == _digest(raw), ApiToken.revoked_at.is_(None), ApiToken.expires_at > now,
                   OkeClient.revoked_at.is_(None), User.active.is_(True))
        ).one_or_none()
    return OkeActor(row.client_id, row.id, row.name, row.school_id, row.code) if row else None


def is_access_token(raw: str) -> bool:
    """Whether a bearer token is an OKE access token (the JSON API under /api/v1 refuses those)."""
    return raw.startswith(ACCESS_TOKEN_PREFIX)

