"""Register the table of jobs on an APScheduler `AsyncIOScheduler` (not started here)."""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

from bot.runtime import Services
from scheduler.jobs import JOBS


def build_scheduler(svc: Services) -> AsyncIOScheduler:
    """Return a configured, not yet started scheduler in the service's zone."""
    zone = svc.settings.zone
    scheduler = AsyncIOScheduler(timezone=zone)
    for job in JOBS:
        scheduler.add_job(
            job.run,
            job.trigger(zone),
            args=(svc,),
            id=job.id,
            name=job.id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=job.misfire_grace_time,
            replace_existing=True,
        )
    return scheduler
