"""Job: remind schools on the morning of the deadline day."""

from __future__ import annotations

import logging

from bot.runtime import Services
from bot.usecases.clockwork import sweep
from bot.usecases.reminders import list_school_reminder_candidates, remind_school

log = logging.getLogger(__name__)


async def run_school_reminders(svc: Services) -> int:
    """Remind the school of every case whose deadline is today; return how many cases."""
    count = await sweep(svc, list_school_reminder_candidates, remind_school)
    log.log(logging.INFO if count else logging.DEBUG, "school reminders queued: %d", count)
    return count
