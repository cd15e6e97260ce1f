"""Register the periodic jobs on an APScheduler `AsyncIOScheduler` (not started here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bot.runtime import Services
from scheduler.jobs.expire_cases import run_expire_cases
from scheduler.jobs.guardian_reminders import run_guardian_reminders
from scheduler.jobs.hearing_lapses import run_hearing_lapses
from scheduler.jobs.hearing_reminders import run_hearing_reminders
from scheduler.jobs.overdue_cases import run_overdue_cases
from scheduler.jobs.purge_personal_data import run_purge_personal_data
from scheduler.jobs.school_reminders import run_school_reminders

SWEEP_SECONDS = 60
SWEEP_GRACE_SECONDS = 300
PURGE_GRACE_SECONDS = 6 * 3600

Job = Callable[[Services], Awaitable[int]]

SWEEPS: tuple[tuple[str, Job], ...] = (
    ("guardian_reminders", run_guardian_reminders),
    ("expire_cases", run_expire_cases),
    ("school_reminders", run_school_reminders),
    ("overdue_cases", run_overdue_cases),
    ("hearing_reminders", run_hearing_reminders),
    ("hearing_lapses", run_hearing_lapses),
)
PURGE_JOB_ID = "purge_personal_data"


def build_scheduler(svc: Services) -> AsyncIOScheduler:
    """Return a configured, not yet started scheduler in the service's zone.

    Jobs keep no state of their own (everything is in the database), so the
    scheduler uses the in-memory job store: a restart re-registers the same ids,
    and a missed run is simply done by the next one. `max_instances=1` and
    `coalesce=True` keep a slow run from piling up behind itself.
    """
    scheduler = AsyncIOScheduler(timezone=svc.settings.zone)
    for job_id, job in SWEEPS:
        scheduler.add_job(
            job,
            IntervalTrigger(seconds=SWEEP_SECONDS, timezone=svc.settings.zone),
            args=(svc,),
            id=job_id,
            name=job_id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=SWEEP_GRACE_SECONDS,
            replace_existing=True,
        )
    scheduler.add_job(
        run_purge_personal_data,
        CronTrigger(hour=3, minute=0, timezone=svc.settings.zone),
        args=(svc,),
        id=PURGE_JOB_ID,
        name=PURGE_JOB_ID,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=PURGE_GRACE_SECONDS,
        replace_existing=True,
    )
    return scheduler
