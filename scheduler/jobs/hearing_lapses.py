"""Job: tell the school when a hearing's window passed without the guardian's position."""

from __future__ import annotations

import logging

from bot.runtime import Services
from bot.usecases.clockwork import sweep
from bot.usecases.hearing import close_lapsed_hearing, list_lapse_candidates

log = logging.getLogger(__name__)


async def run_hearing_lapses(svc: Services) -> int:
    """Close every hearing whose window passed unanswered; return how many were closed."""
    count = await sweep(svc, list_lapse_candidates, close_lapsed_hearing)
    log.log(logging.INFO if count else logging.DEBUG, "hearings closed unanswered: %d", count)
    return count
