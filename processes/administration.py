"""The school admin's use cases (beheerder, R1): accounts, roles, exam groups, archiving, settings.

Nothing is deleted (R27): students and groups are archived, which hides them from teachers and the
exam committee but not from the admin, and records until when they are kept (10 years).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from processes import accounts, policy
from processes.db import UnitOfWork
from processes.errors import BadRequest, Forbidden, NotFound, ValidationFailed
from processes.models import (
    ROLES,
    ExamGroup,
    ExamGroupMember,
    RoleMembership,
    School,
    SchoolSettingChange,
    Student,
    User,
    utcnow,
)

RETENTION_YEARS = 10


def retain_until(at: datetime) -> date:
    d = at.date()
    try:
        return d.replace(year=d.year + RETENTION_YEARS)
    except ValueError:  # 29 February
        return d.replace(year=d.year + RETENTION_YEARS, day=28)


def _admin(s, actor_id: int, school_id: int, what: str) -> User:
    actor = s.get(User, actor_id)
    if actor is None or s.get(School, school_id) is None:
        raise NotFound("Onbekende gebruiker of school.")
    policy.require_role(s, actor, school_id, ("beheerder",), what)
    return actor


@dataclass(frozen=True)
class SchoolRef:
    id: int
    code: str
    name: str


def admin_schools(user_id: int, uow: UnitOfWork) -> list[SchoolRef]:
    with uow:
        rows = uow.session.execute(
            select(School.id, School.code, School.name)
            .join(RoleMembership, RoleMembership.school_id == School.id)
            .where(RoleMembership.user_id == user_id, RoleMembership.role == "beheerder")
            .order_by(School.name)
        ).all()
    return [SchoolRef(r.id, r.code, r.name) for r in rows]


def school_ref(school_id: int, actor_id: int, uow: UnitOfWork) -> SchoolRef:
    with uow:
        _admin(uow.session, actor_id, school_id, "de school beheren")
        school = uow.session.get(School, school_id)
        return SchoolRef(school.id, school.code, school.name)


# ----------------------------------------------------------------------------- accounts


@dataclass(frozen=True)
class AccountRow:
    id: int
    name: str
    email: str
    active: bool
    roles: list[str]


def list_accounts(school_id: int, actor_id: int, uow: UnitOfWork) -> list[AccountRow]:
    """Everyone with a role at the school (students included), with those roles."""
    with uow:
        s = uow.session
        _admin(s, actor_id, school_id, "accounts bekijken")
        roles: dict[int, list[str]] = {}
        users: dict[int, User] = {}
        for m, u in s.execute(select(RoleMembership, User).join(User, User.id == RoleMembership.user_id)
                              .where(RoleMembership.school_id == school_id).order_by(User.name)):
            roles.setdefault(u.id, []).append(ROLES.get(m.role, m.role))
            users[u.id] = u
        return [AccountRow(u.id, u.name, u.email, u.active, roles[u.id]) for u in users.values()]


def create_account(school_id: int, actor_id: int, email: str, name: str, role: str, uow: UnitOfWork) -> int:
    """The admin adds a person with a role; an existing account (R2: one per person) only gets the role."""
    errors = {}
    if not name.strip():
        errors["naam"] = ["Vul een naam in."]
    if role not in ROLES or role in ("student", "beheerder"):
        errors["rol"] = ["Kies een rol (studenten komen via de import of 'student toevoegen')."]
    if errors:
        raise ValidationFailed(errors)
    with uow:
        _admin(uow.session, actor_id, school_id, "accounts aanmaken")
        existing = uow.session.scalar(select(User.id).where(User.email == email.strip().lower()))
    user_id = existing if existing is not None else accounts.create_user(email, name.strip()[:200], None, uow)
    accounts.grant_role(user_id, school_id, role, uow)
    return user_id


def set_account_active(school_id: int, actor_id: int, user_id: int, active: bool, uow: UnitOfWork) -> None:
    """Deactivating ends every session of the account at once (its next request is refused)."""
    with uow:
        s = uow.session
        _admin(s, actor_id, school_id, "accounts (de)activeren")
        user = s.get(User, user_id)
        if user is None or s.scalar(select(RoleMembership.id).where(
                RoleMembership.user_id == user_id, RoleMembership.school_id == school_id).limit(1)) is None:
            raise NotFound("Onbekend account op deze school.")
        if user_id == actor_id:
            raise BadRequest("U kunt uw eigen account niet deactiveren.")
        if user.active != active:
            user.active = active
            user.session_version += 1
        uow.commit()


# ----------------------------------------------------------------------------- students and groups


@dataclass(frozen=True)
class StudentRow:
    id: int
    number: str
    name: str
    email: str
    cohort: str
    crebo: str
    archived: bool
    retain_until: date | None


def _sees_archived(s, user_id: int, school_id: int) -> bool:
    return policy.holds_role(s, user_id, school_id, "beheerder")


def list_students(school_id: int, actor_id: int, uow: UnitOfWork, *, group_id: int | None = None,
                  include_archived: bool = False) -> list[StudentRow]:
    """Students of a school; archived ones only for the admin, and only when asked (R6, R27)."""
    with uow:
        s = uow.session
        actor = s.get(User, actor_id)
        policy.require_role(s, actor, school_id, ("beheerder", "roc_begeleider"), "studenten bekijken")
        q = (select(Student, User).join(User, User.id == Student.user_id).where(Student.school_id == school_id)
             .order_by(Student.student_number))
        if group_id is not None:
            q = q.join(ExamGroupMember, ExamGroupMember.student_id == Student.id).where(
                ExamGroupMember.group_id == group_id)
        if not (include_archived and _sees_archived(s, actor_id, school_id)):
            q = q.where(Student.archived_at.is_(None))
        return [StudentRow(st.id, st.student_number, u.name, u.email, st.cohort, st.crebo,
                           st.archived_at is not None, st.retain_until) for st, u in s.execute(q)]


@dataclass(frozen=True)
class GroupRow:
    id: int
    name: str
    cohort: str
    crebo: str
    members: int
    archived: bool
    retain_until: date | None


def list_groups(school_id: int, actor_id: int, uow: UnitOfWork, include_archived: bool = False) -> list[GroupRow]:
    with uow:
        s = uow.session
        policy.require_role(s, s.get(User, actor_id), school_id, ("beheerder", "roc_begeleider"),
                            "examengroepen bekijken")
        q = (select(ExamGroup, func.count(ExamGroupMember.id))
             .outerjoin(ExamGroupMember, ExamGroupMember.group_id == ExamGroup.id)
             .where(ExamGroup.school_id == school_id).group_by(ExamGroup.id)
             .order_by(ExamGroup.cohort.desc(), ExamGroup.crebo, ExamGroup.name))
        if not (include_archived and _sees_archived(s, actor_id, school_id)):
            q = q.where(ExamGroup.archived_at.is_(None))
        return [GroupRow(g.id, g.name, g.cohort, g.crebo, n, g.archived_at is not None, g.retain_until)
                for g, n in s.execute(q)]


def create_group(school_id: int, actor_id: int, name: str, cohort: str, crebo: str, uow: UnitOfWork) -> int:
    """An exam group per cohort (start year of the qualification dossier, R10) and crebo (R6)."""
    name, cohort, crebo = name.strip(), cohort.strip(), crebo.strip()
    errors = {}
    if not name or len(name) > 100:
        errors["naam"] = ["Vul een naam in (hoogstens 100 tekens)."]
    if not (cohort.isdigit() and len(cohort) == 4):
        errors["cohort"] = ["Het cohort is het beginjaar van het kwalificatiedossier, bv. 2024 (R10)."]
    if not (crebo.isdigit() and len(crebo) == 5):
        errors["crebo"] = ["Een crebo is een nummer van vijf cijfers."]
    if errors:
        raise ValidationFailed(errors)
    with uow:
        s = uow.session
        _admin(s, actor_id, school_id, "examengroepen aanmaken")
        if s.scalar(select(ExamGroup.id).where(ExamGroup.school_id == school_id, ExamGroup.name == name)):
            raise ValidationFailed({"naam": [f"Er bestaat al een groep '{name}'."]})
        g = ExamGroup(school_id=school_id, name=name, cohort=cohort, crebo=crebo)
        s.add(g)
        s.flush()
        # The group is filled with the students of its cohort and crebo that are not archived.
        for sid in s.scalars(select(Student.id).where(Student.school_id == school_id, Student.cohort == cohort,
                                                      Student.crebo == crebo, Student.archived_at.is_(None))):
            s.add(ExamGroupMember(group_id=g.id, student_id=sid))
        uow.commit()
        return g.id


def group_student_ids(s, school_id: int, group_id: int) -> list[int]:
    g = s.get(ExamGroup, group_id)
    if g is None or g.school_id != school_id:
        raise NotFound("Onbekende examengroep op deze school.")
    return list(s.scalars(select(ExamGroupMember.student_id)
                          .join(Student, Student.id == ExamGroupMember.student_id)
                          .where(ExamGroupMember.group_id == group_id, Student.archived_at.is_(None))
                          .order_by(ExamGroupMember.student_id)))


def group_members(school_id: int, actor_id: int, group_id: int, uow: UnitOfWork) -> list[int]:
    """The students of a group who are not archived (those a group action reaches)."""
    with uow:
        s = uow.session
        policy.require_role(s, s.get(User, actor_id), school_id, ("beheerder", "roc_begeleider"),
                            "examengroepen bekijken")
        return group_student_ids(s, school_id, group_id)


def role_holders(school_id: int, role: str, uow: UnitOfWork) -> list[tuple[int, str]]:
    """Active holders of a role at a school, by name (for choosing one)."""
    with uow:
        return [(r.id, r.name) for r in uow.session.execute(
            select(User.id, User.name).join(RoleMembership, RoleMembership.user_id == User.id)
            .where(RoleMembership.school_id == school_id, RoleMembership.role == role, User.active.is_(True))
            .order_by(User.name))]


def archive_group(school_id: int, actor_id: int, group_id: int, uow: UnitOfWork, *,
                  with_students: bool = False) -> None:
    """Archives a group (and, when asked, its students): hidden, never deleted, kept 10 years (R6, R27)."""
    with uow:
        s = uow.session
        actor = _admin(s, actor_id, school_id, "examengroepen archiveren")
        g = s.get(ExamGroup, group_id)
        if g is None or g.school_id != school_id:
            raise NotFound("Onbekende examengroep op deze school.")
        now = utcnow()
        if g.archived_at is None:
            g.archived_at, g.archived_by_id, g.retain_until = now, actor.id, retain_until(now)
        if with_students:
            for st in s.scalars(select(Student).join(ExamGroupMember, ExamGroupMember.student_id == Student.id)
                                .where(ExamGroupMember.group_id == group_id, Student.archived_at.is_(None))):
                st.archived_at, st.retain_until = now, retain_until(now)
        uow.commit()


def archive_student(school_id: int, actor_id: int, student_id: int, uow: UnitOfWork) -> None:
    with uow:
        s = uow.session
        _admin(s, actor_id, school_id, "studenten archiveren")
        st = s.get(Student, student_id)
        if st is None or st.school_id != school_id:
            raise NotFound("Onbekende student op deze school.")
        if st.archived_at is None:
            now = utcnow()
            st.archived_at, st.retain_until = now, retain_until(now)
        uow.commit()


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class SettingRow:
    key: str
    kind: object
    help: str
    value: object


@dataclass(frozen=True)
class SettingChangeRow:
    key: str
    old: object
    new: object
    by: str
    at: datetime


def school_settings(school_id: int, actor_id: int, uow: UnitOfWork) -> tuple[list[SettingRow],
                                                                                list[SettingChangeRow]]:
    with uow:
        s = uow.session
        _admin(s, actor_id, school_id, "de instellingen bekijken")
        settings = s.get(School, school_id).settings or {}
        rows = [SettingRow(k, kind, help_, settings.get(k)) for k, (kind, help_) in accounts.SCHOOL_SETTINGS.items()]
        history = [SettingChangeRow(c.key, c.old_value, c.new_value, name or "Examenflow", c.changed_at)
                   for c, name in s.execute(
                       select(SchoolSettingChange, User.name)
                       .outerjoin(User, User.id == SchoolSettingChange.changed_by_id)
                       .where(SchoolSettingChange.school_id == school_id)
                       .order_by(SchoolSettingChange.changed_at.desc(), SchoolSettingChange.id.desc()))]
    return rows, history


def change_school_setting(school_id: int, actor_id: int, key: str, raw: str, uow: UnitOfWork) -> bool:
    """Changes one setting, recorded with who changed it when, from what to what (one transaction)."""
    with uow:
        _admin(uow.session, actor_id, school_id, "de instellingen wijzigen")
    return accounts.set_school_setting(school_id, key, raw, uow, actor_id=actor_id)


def require_admin(school_id: int, actor_id: int, uow: UnitOfWork) -> None:
    with uow:
        _admin(uow.session, actor_id, school_id, "de school beheren")


def forbid_unless_admin(s, actor_id: int, school_id: int) -> None:
    if not policy.holds_role(s, actor_id, school_id, "beheerder"):
        raise Forbidden("Alleen de beheerder van deze school mag dit.")
