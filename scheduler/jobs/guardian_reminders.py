"""Job: remind guardians of silent cases, 24 h and 72 h after the notice (in daytime)."""

from __future__ import annotations

import logging

from bot.runtime import Services
from bot.usecases.clockwork import sweep
from bot.usecases.reminders import list_guardian_reminder_candidates, remind_guardian

log = logging.getLogger(__name__)


async def run_guardian_reminders(svc: Services) -> int:
    """Queue every guardian reminder now due; return how many were queued."""
    count = await sweep(svc, list_guardian_reminder_candidates, remind_guardian)
    log.log(logging.INFO if count else logging.DEBUG, "guardian reminders queued: %d", count)
    return count
