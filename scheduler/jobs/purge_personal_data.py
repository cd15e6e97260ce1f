"""Job: erase personal data of cases closed longer than RETENTION_DAYS ago (daily)."""

from __future__ import annotations

import logging

from bot.runtime import Services
from bot.usecases.clockwork import sweep
from bot.usecases.purge import (
    list_guardian_purge_candidates,
    list_purge_candidates,
    purge_case,
    purge_guardian,
    purge_housekeeping,
)

log = logging.getLogger(__name__)


async def run_purge_personal_data(svc: Services) -> int:
    """Purge closed cases, then guardians left without data, then stale leftovers.

    Returns the number of cases purged. Statuses and timestamps stay for statistics.
    """
    cases = await sweep(svc, list_purge_candidates, purge_case)
    guardians = await sweep(svc, list_guardian_purge_candidates, purge_guardian)
    rest = await purge_housekeeping(svc)
    did_something = (
        cases or guardians or rest.outbox_payloads or rest.fsm_records or rest.redis_dialogs_bounded
    )
    log.log(
        logging.INFO if did_something else logging.DEBUG,
        "retention purge: %d cases, %d guardians, %d outbox payloads, %d dialogs, "
        "%d Redis dialogs given a lifetime",
        cases,
        guardians,
        rest.outbox_payloads,
        rest.fsm_records,
        rest.redis_dialogs_bounded,
    )
    return cases
