"""The periodic jobs, one table: what runs, when, and how a late or slow run behaves.

Every job keeps no state of its own (everything is in the database), so the scheduler
uses the in-memory job store: a restart re-registers the same ids, and a missed run is
simply done by the next one. `max_instances=1` and `coalesce=True` keep a slow run from
piling up behind itself; each per-case action re-checks its case under the row lock, so
a re-run or a second replica is harmless (`bot.usecases.clockwork`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bot.runtime import Services
from bot.usecases.clockwork import Act, ListCandidates, sweep
from bot.usecases.expiry import expire_case, list_expiry_candidates
from bot.usecases.hearing import close_lapsed_hearing, list_lapse_candidates
from bot.usecases.overdue import list_overdue_candidates, mark_overdue
from bot.usecases.purge import (
    list_guardian_purge_candidates,
    list_purge_candidates,
    purge_case,
    purge_guardian,
    purge_housekeeping,
)
from bot.usecases.reminders import (
    list_guardian_reminder_candidates,
    list_hearing_reminder_candidates,
    list_school_reminder_candidates,
    remind_guardian,
    remind_hearing,
    remind_school,
)
from storage.redis_dialogs import bound_redis_dialogs

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60
SWEEP_GRACE_SECONDS = 300
PURGE_GRACE_SECONDS = 6 * 3600

Run = Callable[[Services], Awaitable[int]]
Bind = Callable[[Services], tuple[ListCandidates[str], Act[str]]]


def _sweeping(done: str, bind: Bind) -> Run:
    """A job that acts on every candidate case; logs `done` with the count once.

    `bind` hands each use case only the dependencies it asks for.
    """

    async def run(svc: Services) -> int:
        candidates, act = bind(svc)
        count = await sweep(svc.sessions, candidates, act)
        log.log(logging.INFO if count else logging.DEBUG, "%s: %d", done, count)
        return count

    return run


def _outbox_writer(
    candidates: Callable[..., Awaitable[list[str]]], act: Callable[..., Awaitable[bool]]
) -> Bind:
    """Candidates as of the run's start; an act that writes state and messages."""
    return lambda svc: (
        partial(candidates, now=svc.clock.now()),
        partial(act, svc.sessions, svc.clock, svc.cipher, svc.texts),
    )


def _calendar_writer(
    candidates: Callable[..., Awaitable[list[str]]], act: Callable[..., Awaitable[bool]]
) -> Bind:
    """As `_outbox_writer`, for an act that also reads the working-day calendar."""
    return lambda svc: (
        partial(candidates, now=svc.clock.now()),
        partial(act, svc.sessions, svc.clock, svc.calendar, svc.cipher, svc.texts),
    )


run_guardian_reminders = _sweeping(
    "guardian reminders queued", _outbox_writer(list_guardian_reminder_candidates, remind_guardian)
)
"""Remind guardians of silent cases, 24 h and 72 h after the notice (in daytime)."""
run_expire_cases = _sweeping("cases expired", _outbox_writer(list_expiry_candidates, expire_case))
"""Close cases the guardian left without an answer for 7 days."""
run_school_reminders = _sweeping(
    "school reminders queued", _calendar_writer(list_school_reminder_candidates, remind_school)
)
"""Remind schools on the morning of the deadline day."""
run_overdue_cases = _sweeping(
    "cases marked overdue", _outbox_writer(list_overdue_candidates, mark_overdue)
)
"""Mark cases overdue when the school's deadline passed, and escalate."""
run_hearing_reminders = _sweeping(
    "hearing reminders queued", _calendar_writer(list_hearing_reminder_candidates, remind_hearing)
)
"""On the last day of a hearing, remind the guardian who has not answered yet."""
run_hearing_lapses = _sweeping(
    "hearings closed unanswered", _outbox_writer(list_lapse_candidates, close_lapsed_hearing)
)
"""Tell the school when a hearing's window passed without the guardian's position."""


async def run_purge_personal_data(svc: Services) -> int:
    """Purge closed cases, then guardians left without data, then stale leftovers.

    Returns the number of cases purged. Statuses and timestamps stay for statistics.
    """
    retention = svc.settings.retention
    cutoff = svc.clock.now() - retention
    cases = await sweep(
        svc.sessions,
        partial(list_purge_candidates, cutoff=cutoff),
        partial(purge_case, svc.sessions, svc.clock, cutoff),
    )
    guardians = await sweep(
        svc.sessions,
        list_guardian_purge_candidates,
        partial(purge_guardian, svc.sessions, svc.clock),
    )
    redis_url = svc.settings.REDIS_URL
    bound = partial(bound_redis_dialogs, redis_url, retention) if redis_url else None
    rest = await purge_housekeeping(svc.sessions, svc.clock.now(), cutoff, bound)
    counts = (
        cases,
        guardians,
        rest.outbox_payloads,
        rest.dialogs,
        rest.redis_dialogs_bounded,
        rest.web_sessions,
        rest.sign_in_codes,
    )
    log.log(
        logging.INFO if any(counts) else logging.DEBUG,
        "retention purge: %d cases, %d guardians, %d outbox payloads, %d dialogs, "
        "%d Redis dialogs given a lifetime, %d ended web sessions, %d idle sign-in codes",
        *counts,
    )
    return cases


def every_sweep(zone: ZoneInfo) -> BaseTrigger:
    return IntervalTrigger(seconds=SWEEP_SECONDS, timezone=zone)


def nightly(zone: ZoneInfo) -> BaseTrigger:
    """03:00 local time, when nobody waits for the bot."""
    return CronTrigger(hour=3, minute=0, timezone=zone)


@dataclass(frozen=True)
class Job:
    """One row of the table; `misfire_grace_time` is how late a run may still start."""

    id: str
    trigger: Callable[[ZoneInfo], BaseTrigger]
    run: Run
    misfire_grace_time: int


JOBS: tuple[Job, ...] = (
    Job("guardian_reminders", every_sweep, run_guardian_reminders, SWEEP_GRACE_SECONDS),
    Job("expire_cases", every_sweep, run_expire_cases, SWEEP_GRACE_SECONDS),
    Job("school_reminders", every_sweep, run_school_reminders, SWEEP_GRACE_SECONDS),
    Job("overdue_cases", every_sweep, run_overdue_cases, SWEEP_GRACE_SECONDS),
    Job("hearing_reminders", every_sweep, run_hearing_reminders, SWEEP_GRACE_SECONDS),
    Job("hearing_lapses", every_sweep, run_hearing_lapses, SWEEP_GRACE_SECONDS),
    Job("purge_personal_data", nightly, run_purge_personal_data, PURGE_GRACE_SECONDS),
)
