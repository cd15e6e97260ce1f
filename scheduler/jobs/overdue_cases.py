"""Job: mark cases overdue when the school's deadline passed, and escalate."""

from __future__ import annotations

import logging

from bot.runtime import Services
from bot.usecases.clockwork import sweep
from bot.usecases.overdue import list_overdue_candidates, mark_overdue

log = logging.getLogger(__name__)


async def run_overdue_cases(svc: Services) -> int:
    """Mark every case past its deadline overdue; return how many were marked."""
    count = await sweep(svc, list_overdue_candidates, mark_overdue)
    log.log(logging.INFO if count else logging.DEBUG, "cases marked overdue: %d", count)
    return count
