"""The scheduler process (`examenflow scheduler`): APScheduler jobs that call the use cases.

Each sweep fires the due timers and delivers the due outbox messages. APScheduler 3 keeps no job
store shared between processes, so every scheduler process sweeps on its own, every second; several
can run at once on PostgreSQL (a due timer's row is locked by the transaction that fires it).

Once a day (and at start) the daily round registers students for the exams of their programme and
moves untaken exams to a new school year (R41); both are idempotent, so two schedulers doing it
is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from handlers import clock
from processes.db import UnitOfWork
from processes.timers import SweepResult, fire_due_timers

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0


@dataclass
class SweepReport:
    timers: SweepResult
    delivered: int


def sweep_once(uow_factory: Callable[[], UnitOfWork], session_factory, now: datetime | None = None) -> SweepReport:
    """One sweep as if at ``now`` (default: the clock's now)."""
    at = now or clock.now()
    timers = fire_due_timers(uow_factory, at)
    delivered = _deliver(session_factory, at)
    return SweepReport(timers, delivered)


@dataclass
class DailyReport:
    registered: int
    carried_over: int


def daily_once(uow_factory: Callable[[], UnitOfWork], now: datetime | None = None) -> DailyReport:
    """The daily round as if at ``now``: automatic registration and carrying over (R41)."""
    from processes.registrations import carry_over_due, register_all_schools

    at = now or clock.now()
    carried = carry_over_due(uow_factory, at)
    return DailyReport(register_all_schools(uow_factory), carried)


# Task mail goes out once a minute: everything that arrived within the minute is one mail per person.
MAIL_SECONDS = 60.0


def mail_tasks_once(uow_factory: Callable[[], UnitOfWork], now: datetime | None = None) -> int:
    """One round of task mail (SMTP settings from the environment); returns the mails sent."""
    from processes.mail import Mailer, SmtpSettings
    from processes.task_mail import send_task_mails

    try:
        return send_task_mails(uow_factory(), Mailer(SmtpSettings.from_env()), now)
    except Exception:
        log.exception("task mail round failed; the next round tries again")
        return 0


def _deliver(session_factory, at: datetime) -> int:
    from processes.exchange import deliver_due_messages
    from processes.runner import record_delivery

    return deliver_due_messages(session_factory, at, on_delivered=lambda s, m: record_delivery(s, m, at))


def run_forever(uow_factory: Callable[[], UnitOfWork], session_factory, seconds: float = SWEEP_SECONDS) -> None:
    """Sweeps every ``seconds`` until stopped (Ctrl+C or SIGTERM)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone="UTC")

    def job() -> None:
        report = sweep_once(uow_factory, session_factory)
        if report.timers.fired or report.timers.failed or report.delivered:
            log.info("sweep: %s timers fired, %s failed, %s messages delivered",
                     report.timers.fired, report.timers.failed, report.delivered)

    def daily() -> None:
        try:
            report = daily_once(uow_factory)
        except Exception:
            log.exception("daily round failed; it runs again tomorrow")
            return
        log.info("daily: %s registrations made, %s exams carried over", report.registered, report.carried_over)

    scheduler.add_job(job, "interval", seconds=seconds, max_instances=1, coalesce=True, id="sweep",
                      next_run_time=clock.now())
    scheduler.add_job(daily, "cron", hour=2, minute=0, timezone="Europe/Amsterdam", max_instances=1,
                      coalesce=True, id="daily")
    scheduler.add_job(daily, "date", run_date=clock.now(), id="daily_at_start")
    scheduler.add_job(lambda: mail_tasks_once(uow_factory), "interval", seconds=MAIL_SECONDS, max_instances=1,
                      coalesce=True, id="task_mail")
    log.info("scheduler started: sweeping every %ss", seconds)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
