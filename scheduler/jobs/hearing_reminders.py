"""Job: on the last day of a hearing, remind the guardian who has not answered yet."""

from __future__ import annotations

import logging

from bot.runtime import Services
from bot.usecases.clockwork import sweep
from bot.usecases.reminders import list_hearing_reminder_candidates, remind_hearing

log = logging.getLogger(__name__)


async def run_hearing_reminders(svc: Services) -> int:
    """Queue every hearing reminder now due; return how many were queued."""
    count = await sweep(svc, list_hearing_reminder_candidates, remind_hearing)
    log.log(logging.INFO if count else logging.DEBUG, "hearing reminders queued: %d", count)
    return count
