"""Forgotten passwords (R5) and the login throttle.

A reset link carries a random token; only its SHA-256 digest is stored. It works once and expires
after an hour. Asking for one answers the same whether the address exists or not. After
``MAX_FAILURES`` failed logins for one address within ``WINDOW`` that address is refused until the
window has passed, known address or not.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from processes import accounts
from processes.db import UnitOfWork
from processes.errors import BadRequest, ExamflowError
from processes.mail import Mail, Mailer
from processes.models import LoginFailure, PasswordReset, User, utcnow

log = logging.getLogger(__name__)

MAX_FAILURES = 10
WINDOW = timedelta(minutes=15)
RESET_VALID = timedelta(hours=1)


class Throttled(ExamflowError):
    status = 429


THROTTLED_MESSAGE = ("Te veel mislukte inlogpogingen voor dit e-mailadres. Probeer het over 15 minuten "
                     "opnieuw, of vraag via 'Wachtwoord vergeten' een nieuw wachtwoord aan.")


def _failures(s, email: str, now: datetime) -> int:
    return s.scalar(select(func.count(LoginFailure.id))
                    .where(LoginFailure.email == email, LoginFailure.at > now - WINDOW)) or 0


def login(email: str, password: str, uow: UnitOfWork, now: datetime | None = None) -> accounts.AuthUser | None:
    """Authenticates, unless the address is throttled (raises Throttled); records a failure."""
    now = now or utcnow()
    email = email.strip().lower()[:254]
    with uow:
        if _failures(uow.session, email, now) >= MAX_FAILURES:
            raise Throttled(THROTTLED_MESSAGE)
    auth = accounts.authenticate(email, password, uow)
    if auth is None:
        with uow:
            uow.session.add(LoginFailure(email=email, at=now))
            uow.commit()
    return auth


def _digest(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


def request_password_reset(email: str, uow: UnitOfWork, mailer: Mailer, now: datetime | None = None) -> None:
    """Mails a reset link to an active account with this address; for an unknown one nothing happens.
    The caller answers the same either way."""
    now = now or utcnow()
    email = email.strip().lower()[:254]
    raw = secrets.token_urlsafe(32)
    with uow:
        user = uow.session.scalar(select(User).where(User.email == email))
        if user is None or not user.active:
            return
        uow.session.add(PasswordReset(user_id=user.id, digest=_digest(raw), created_at=now,
                                      expires_at=now + RESET_VALID))
        name = user.name
        uow.commit()
    link = mailer.link(f"/wachtwoord-herstellen/{raw}")
    body = (f"Beste {name},\n\nU heeft gevraagd om een nieuw wachtwoord voor Examenflow. Kies een nieuw "
            f"wachtwoord via deze link (één keer te gebruiken, een uur geldig):\n\n{link}\n\n"
            "Heeft u dit niet gevraagd? Dan kunt u deze mail negeren; uw wachtwoord blijft hetzelfde.\n")
    try:
        mailer.send([Mail(email, "Nieuw wachtwoord voor Examenflow", body)])
    except Exception:  # a mail server down must not reveal that the address exists
        log.exception("could not send the password-reset mail")


def _valid_reset(s, raw: str, now: datetime) -> PasswordReset:
    row = s.scalar(select(PasswordReset).where(PasswordReset.digest == _digest(raw)))
    if row is None:
        raise BadRequest("Deze link is ongeldig. Vraag via 'Wachtwoord vergeten' een nieuwe aan.")
    if row.used_at is not None:
        raise BadRequest("Deze link is al gebruikt. Vraag via 'Wachtwoord vergeten' een nieuwe aan.")
    if row.expires_at <= now:
        raise BadRequest("Deze link is verlopen. Vraag via 'Wachtwoord vergeten' een nieuwe aan.")
    return row


def check_reset_link(raw: str, uow: UnitOfWork, now: datetime | None = None) -> None:
    with uow:
        _valid_reset(uow.session, raw, now or utcnow())


def reset_password(raw: str, new_password: str, uow: UnitOfWork, now: datetime | None = None) -> None:
    """Sets the new password once; every other session of the user ends."""
    now = now or utcnow()
    new_hash = accounts.hash_password(new_password)
    with uow:
        s = uow.session
        row = _valid_reset(s, raw, now)
        user = s.get(User, row.user_id)
        if not user.active:
            raise BadRequest("Dit account is niet actief.")
        # One conditional UPDATE: of two concurrent uses of the same link only one succeeds.
        used = s.execute(update(PasswordReset).where(PasswordReset.id == row.id, PasswordReset.used_at.is_(None))
                         .values(used_at=now).execution_options(synchronize_session=False))
        if used.rowcount != 1:
            raise BadRequest("Deze link is al gebruikt. Vraag via 'Wachtwoord vergeten' een nieuwe aan.")
        user.password_hash = new_hash
        user.session_version += 1
        uow.commit()
