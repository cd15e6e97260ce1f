"""Job: close cases the guardian left without an answer for 7 days."""

from __future__ import annotations

import logging

from bot.runtime import Services
from bot.usecases.clockwork import sweep
from bot.usecases.expiry import expire_case, list_expiry_candidates

log = logging.getLogger(__name__)


async def run_expire_cases(svc: Services) -> int:
    """Expire every case silent for 7 days; return how many were expired."""
    count = await sweep(svc, list_expiry_candidates, expire_case)
    log.log(logging.INFO if count else logging.DEBUG, "cases expired: %d", count)
    return count
