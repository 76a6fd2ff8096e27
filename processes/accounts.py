"""Schools, accounts, role memberships, passwords and API tokens (the operator's tools, R1–R3)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select

from processes.db import UnitOfWork
from processes.errors import BadRequest, Forbidden, NotFound
from processes.models import (
    ROLES,
    ApiToken,
    RoleMembership,
    School,
    SchoolSettingChange,
    Student,
    User,
    utcnow,
)

# argon2id with the library's defaults; tests lower the cost through configure_hasher.
_hasher = PasswordHasher()
TOKEN_PREFIX = "exf_"


def configure_hasher(time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4) -> None:
    global _hasher
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise BadRequest("Een wachtwoord heeft minstens 8 tekens.")
    return _hasher.hash(password)


def create_school(code: str, name: str, uow: UnitOfWork, settings: dict | None = None) -> int:
    with uow:
        s = uow.session
        if s.scalar(select(School.id).where(School.code == code)) is not None:
            raise BadRequest(f"Er bestaat al een school met code '{code}'.")
        school = School(code=code, name=name, settings=settings or {})
        s.add(school)
        uow.commit()
        return school.id


# The school settings a diagram may read, with their type and a Dutch explanation.
SCHOOL_SETTINGS = {
    "bewijsstukken_gebruiken": (bool, "Studenten uploaden bewijsstukken en de ROC-beoordelaar controleert ze (R24)."),
    "een_beoordelaar_toegestaan": (bool, "Een PvB mag met één beoordelaar verder, met een waarschuwing (R8)."),
    "goede_vrijdag_werkdag": (bool, "Goede Vrijdag is een werkdag op deze school."),
    "bevrijdingsdag_vrij": (bool, "5 mei is elk jaar vrij (niet alleen in lustrumjaren)."),
    "sluitingsdagen": (list, "Dagen en periodes waarop de school dicht is, bv. 2026-10-19/2026-10-23."),
    "inschrijfvariant": (("handmatig", "zelf", "automatisch"),
                         "Hoe studenten na de Go worden ingeschreven voor een examenmoment (R43)."),
    "beoordelingsvariant": (("1", "2"), "Beoordelingsvariant van examens op examenmomenten (R50)."),
    "extra_poging_aanvragen": (bool, "Een student zonder pogingen mag de examencommissie om een extra poging "
                                     "vragen; uit: geblokkeerd (R45)."),
}


def set_school_setting(school_id: int, key: str, raw: str | bool, uow: UnitOfWork,
                       actor_id: int | None = None) -> bool:
    """Sets one setting; a change is recorded with who (None: the operator's CLI) and when.
    Returns whether the value changed."""
    if key not in SCHOOL_SETTINGS:
        raise BadRequest(f"Onbekende instelling '{key}'. Bekend: {', '.join(SCHOOL_SETTINGS)}.")
    value = raw
    kind = SCHOOL_SETTINGS[key][0]
    if isinstance(kind, tuple):
        if str(raw) not in kind:
            raise BadRequest(f"Kies voor '{key}' uit: {', '.join(kind)}.")
        value = str(raw)
    elif kind is list and isinstance(raw, str):
        value = [part.strip() for part in raw.split(",") if part.strip()]
        from handlers.calendar import SchoolCalendar

        try:
            SchoolCalendar.from_settings({key: value})
        except ValueError as exc:
            raise BadRequest(f"Ongeldige sluitingsdagen: {exc}") from exc
    elif isinstance(raw, str):
        if raw.lower() in ("ja", "true", "1", "aan"):
            value = True
        elif raw.lower() in ("nee", "false", "0", "uit"):
            value = False
        else:
            raise BadRequest("Gebruik ja of nee.")
    with uow:
        school = uow.session.get(School, school_id)
        if school is None:
            raise NotFound("Onbekende school.")
        before = (school.settings or {}).get(key)
        if before == value:
            return False
        school.settings = {**(school.settings or {}), key: value}
        uow.session.add(SchoolSettingChange(school_id=school_id, key=key, old_value=before, new_value=value,
                                            changed_by_id=actor_id, changed_at=utcnow()))
        uow.commit()
        return True


def school_id_by_code(code: str, uow: UnitOfWork) -> int:
    with uow:
        sid = uow.session.scalar(select(School.id).where(School.code == code))
    if sid is None:
        raise NotFound(f"Onbekende school '{code}'.")
    return sid


def create_user(email: str, name: str, password: str | None, uow: UnitOfWork) -> int:
    """One account per person, across schools (R2): the e-mail address is the key."""
    email = email.strip().lower()
    if "@" not in email:
        raise BadRequest("Vul een geldig e-mailadres in.")
    with uow:
        s = uow.session
        if s.scalar(select(User.id).where(User.email == email)) is not None:
            raise BadRequest(f"Er bestaat al een account voor {email}.")
        user = User(email=email, name=name, password_hash=hash_password(password) if password else None)
        s.add(user)
        uow.commit()
        return user.id


def user_id_by_email(email: str, uow: UnitOfWork) -> int:
    with uow:
        uid = uow.session.scalar(select(User.id).where(User.email == email.strip().lower()))
    if uid is None:
        raise NotFound(f"Onbekend account '{email}'.")
    return uid


def grant_role(user_id: int, school_id: int, role: str, uow: UnitOfWork) -> None:
    if role not in ROLES:
        raise BadRequest(f"Onbekende rol '{role}'. Bekend: {', '.join(ROLES)}.")
    with uow:
        s = uow.session
        if s.get(User, user_id) is None or s.get(School, school_id) is None:
            raise NotFound("Onbekende gebruiker of school.")
        if role == "beheerder":
            other = s.scalar(select(RoleMembership.user_id).where(
                RoleMembership.school_id == school_id, RoleMembership.role == "beheerder"))
            if other is not None and other != user_id:
                raise BadRequest("Deze school heeft al een beheerder (R1: één beheerder per school).")
        exists = s.scalar(select(RoleMembership.id).where(
            RoleMembership.user_id == user_id, RoleMembership.school_id == school_id,
            RoleMembership.role == role))
        if exists is None:
            s.add(RoleMembership(user_id=user_id, school_id=school_id, role=role))
        uow.commit()


def create_student(user_id: int, school_id: int, student_number: str, cohort: str, crebo: str,
                   uow: UnitOfWork) -> int:
    """Registers a user as student of a school with his student number (R3)."""
    if not student_number.strip():
        raise BadRequest("Een studentnummer is verplicht.")
    with uow:
        s = uow.session
        if s.scalar(select(Student.id).where(Student.school_id == school_id,
                                             Student.student_number == student_number)) is not None:
            raise BadRequest(f"Studentnummer {student_number} bestaat al op deze school.")
        st = Student(user_id=user_id, school_id=school_id, student_number=student_number,
                     cohort=cohort, crebo=crebo)
        s.add(st)
        s.flush()
        if s.scalar(select(RoleMembership.id).where(
                RoleMembership.user_id == user_id, RoleMembership.school_id == school_id,
                RoleMembership.role == "student")) is None:
            s.add(RoleMembership(user_id=user_id, school_id=school_id, role="student"))
        uow.commit()
        return st.id


@dataclass(frozen=True)
class AuthUser:
    id: int
    name: str
    email: str
    session_version: int


def authenticate(email: str, password: str, uow: UnitOfWork) -> AuthUser | None:
    with uow:
        s = uow.session
        user = s.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None or not user.active or not user.password_hash:
            # Spend the same time as a real check, so the answer does not reveal the address.
            try:
                _hasher.verify(_DUMMY_HASH, password)
            except (VerificationError, InvalidHashError):
                pass
            return None
        try:
            _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
            uow.commit()
        return AuthUser(user.id, user.name, user.email, user.session_version)


_DUMMY_HASH = PasswordHasher().hash("examenflow-dummy")


def load_session_user(user_id: int, session_version: int, uow: UnitOfWork) -> AuthUser | None:
    """Flask-Login's loader: a deactivated user or an ended session is refused at once."""
    with uow:
        user = uow.session.get(User, user_id)
        if user is None or not user.active or user.session_version != session_version:
            return None
        return AuthUser(user.id, user.name, user.email, user.session_version)


def end_all_sessions(user_id: int, uow: UnitOfWork) -> None:
    with uow:
        user = uow.session.get(User, user_id)
        if user is None:
            raise NotFound("Onbekende gebruiker.")
        user.session_version += 1
        uow.commit()


# ----------------------------------------------------------------------------- API tokens


def _digest(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


def create_api_token(user_id: int, name: str, uow: UnitOfWork, days: int = 90) -> str:
    """Returns the token once; only its SHA-256 digest is stored."""
    if not 1 <= days <= 366:
        raise BadRequest("Een token is 1 tot 366 dagen geldig.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with uow:
        s = uow.session
        if s.get(User, user_id) is None:
            raise NotFound("Onbekende gebruiker.")
        s.add(ApiToken(user_id=user_id, name=name, digest=_digest(raw),
                       expires_at=utcnow() + timedelta(days=days)))
        uow.commit()
    return raw


# Built once: on every API request, constructing the statement cost more CPU than running it.
_TOKEN_USER = (
    select(User.id, User.name, User.email, User.session_version)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.digest == bindparam("digest"), ApiToken.revoked_at.is_(None),
           ApiToken.expires_at > bindparam("now"), User.active.is_(True))
)


def user_for_token(raw: str, uow: UnitOfWork, now: datetime | None = None) -> AuthUser | None:
    now = now or utcnow()
    with uow:
        # One round trip, no transaction around it (no BEGIN, no ROLLBACK): this runs on every API request.
        conn = uow.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        row = conn.execute(_TOKEN_USER, {"digest": _digest(raw), "now": now}).one_or_none()
    return AuthUser(row.id, row.name, row.email, row.session_version) if row else None


def revoke_api_token(raw: str, uow: UnitOfWork) -> None:
    with uow:
        tok = uow.session.scalar(select(ApiToken).where(ApiToken.digest == _digest(raw)))
        if tok is None:
            raise NotFound("Onbekend token.")
        if tok.revoked_at is None:
            tok.revoked_at = utcnow()
        uow.commit()


def require_active(user_id: int, uow: UnitOfWork) -> None:
    with uow:
        user = uow.session.get(User, user_id)
        if user is None or not user.active:
            raise Forbidden("Dit account is niet actief.")
