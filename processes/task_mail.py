"""Mail when a task arrives ("Expected beyond the seeds"): one mail per person per round, listing every
task that landed in his inbox since the last one, so that 30 PvBs set out at once mean one mail, not 30.

A person is mailed the tasks assigned to him and the unassigned tasks of a school-wide role he holds at
that school (the examencommissie's objections, the examenbureau's escalations): exactly what "Mijn
taken" shows him. Each user can switch it off. A mail names the task and the exam, never form data or
results (seed 004: results are not e-mailed). A per-user watermark (``app_user.task_mail_until``) is
moved with a conditional UPDATE before the mails go out: two schedulers never mail the same tasks twice,
and a mail server that is down loses a round's notice rather than flooding later.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, update

from processes.db import UnitOfWork
from processes.errors import NotFound
from processes.mail import Mail, Mailer
from processes.models import SCHOOL_WIDE_ROLES, HumanTask, ProcessInstance, RoleMembership, User, utcnow

log = logging.getLogger(__name__)

# Tasks older than this are not mailed any more (a user who switches mail back on gets no backlog).
LOOK_BACK = timedelta(days=2)


def send_task_mails(uow: UnitOfWork, mailer: Mailer, now: datetime | None = None) -> int:
    """One round: mails each person with new open tasks once; returns the number of mails sent."""
    if not mailer.settings.host:
        return 0
    now = now or utcnow()
    mails: list[Mail] = []
    with uow:
        s = uow.session
        columns = (HumanTask.id, HumanTask.name, HumanTask.created_at, ProcessInstance.title, User.id.label("user_id"),
                   User.email, User.name.label("user_name"), User.task_mail_until)
        new = (HumanTask.status == "open", HumanTask.created_at > now - LOOK_BACK, HumanTask.created_at <= now,
               HumanTask.created_at > func.coalesce(User.task_mail_until, User.created_at),
               User.task_mail.is_(True), User.active.is_(True))
        assigned = (select(*columns).join(User, User.id == HumanTask.assignee_id)
                    .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id).where(*new))
        school_wide = (
            select(*columns)
            .join(RoleMembership, and_(RoleMembership.school_id == HumanTask.school_id,
                                       RoleMembership.role == HumanTask.lane_role))
            .join(User, User.id == RoleMembership.user_id)
            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .where(HumanTask.assignee_id.is_(None), RoleMembership.role.in_(SCHOOL_WIDE_ROLES), *new))
        by_user: dict[int, list] = {}
        for r in [*s.execute(assigned).all(), *s.execute(school_wide).all()]:
            by_user.setdefault(r.user_id, []).append(r)
        for tasks in by_user.values():
            tasks.sort(key=lambda t: (t.created_at, t.id))
        for user_id, tasks in sorted(by_user.items()):
            seen = tasks[0].task_mail_until
            claimed = s.execute(
                update(User).where(User.id == user_id, User.task_mail_until.is_not_distinct_from(seen))
                .values(task_mail_until=max(t.created_at for t in tasks))
                .execution_options(synchronize_session=False))
            if claimed.rowcount != 1:
                continue  # another scheduler mailed this person meanwhile
            mails.append(_mail(mailer, tasks))
        uow.commit()
    try:
        return mailer.send(mails)
    except Exception:
        log.exception("could not send %d task mails", len(mails))
        return 0


def _mail(mailer: Mailer, tasks: list) -> Mail:
    first = tasks[0]
    lines = [f"- {t.name} · {t.title}" for t in tasks]
    count = "Er staat 1 nieuwe taak" if len(tasks) == 1 else f"Er staan {len(tasks)} nieuwe taken"
    body = (f"Beste {first.user_name},\n\n{count} voor u klaar in Examenflow:\n\n" + "\n".join(lines) +
            f"\n\nOpen 'Mijn taken': {mailer.link('/taken')}\n\n"
            f"U krijgt deze mail omdat e-mail bij nieuwe taken aan staat; uitzetten kan op "
            f"{mailer.link('/mijn-account')}.\n")
    subject = "Nieuwe taak in Examenflow" if len(tasks) == 1 else f"{len(tasks)} nieuwe taken in Examenflow"
    return Mail(first.email, subject, body)


def set_task_mail(user_id: int, on: bool, uow: UnitOfWork) -> None:
    """The user's own switch; switching on mails only tasks that arrive from now on."""
    with uow:
        user = uow.session.get(User, user_id)
        if user is None:
            raise NotFound("Onbekende gebruiker.")
        if on and not user.task_mail:
            user.task_mail_until = utcnow()
        user.task_mail = on
        uow.commit()


def task_mail_on(user_id: int, uow: UnitOfWork) -> bool:
    with uow:
        user = uow.session.get(User, user_id)
        return bool(user and user.task_mail)
