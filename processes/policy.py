"""All permission checks, used by views, API and CLI alike (design decision 5).

Lanes are roles. A user may act on a task when he is the exam's participant in the lane's role;
only where the exam records nobody for a school-wide role may any holder of that role at the
exam's school act.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.errors import Forbidden, NotFound
from processes.models import ROLES, SCHOOL_WIDE_ROLES, HumanTask, RoleMembership, User


def task_and_user(session: Session, task_id: int, user_id: int) -> tuple[HumanTask, User]:
    # One round trip on the hot path; the error path looks again to say which one is unknown.
    row = session.execute(
        select(HumanTask, User).join(User, User.id == user_id).where(HumanTask.id == task_id)
    ).first()
    if row is not None:
        return row[0], row[1]
    if session.get(HumanTask, task_id) is None:
        raise NotFound("Onbekende taak.")
    raise NotFound("Onbekende gebruiker.")


def active_user(session: Session, user_id: int) -> User:
    """The acting user, or refused when the account is unknown or deactivated."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise Forbidden("Dit account is niet actief.")
    return user


def holds_role(session: Session, user_id: int, school_id: int, role: str) -> bool:
    return (
        session.scalar(
            select(RoleMembership.id).where(
                RoleMembership.user_id == user_id,
                RoleMembership.school_id == school_id,
                RoleMembership.role == role,
            )
        )
        is not None
    )


def may_act_on(session: Session, user: User, task: HumanTask) -> bool:
    if not user.active:
        return False
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    if task.lane_role in SCHOOL_WIDE_ROLES:
        return holds_role(session, user.id, task.school_id, task.lane_role)
    return False


def require_can_act(session: Session, user: User, task: HumanTask) -> None:
    if not may_act_on(session, user, task):
        raise Forbidden("Deze taak is niet voor u.")


def require_role(session: Session, user: User, school_id: int, roles: tuple[str, ...], what: str) -> str:
    """Returns the first of ``roles`` the user holds at the school, or refuses."""
    for role in roles:
        if user.active and holds_role(session, user.id, school_id, role):
            return role
    names = " of ".join(ROLES.get(r, r) for r in roles)
    raise Forbidden(f"U mag {what} niet: daarvoor is de rol {names} op deze school nodig.")


def school_wide_memberships(session: Session, user_id: int) -> list[tuple[int, str]]:
    rows = session.execute(
        select(RoleMembership.school_id, RoleMembership.role).where(
            RoleMembership.user_id == user_id, RoleMembership.role.in_(SCHOOL_WIDE_ROLES)
        )
    ).all()
    return [(r.school_id, r.role) for r in rows]
