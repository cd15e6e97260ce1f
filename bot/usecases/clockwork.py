"""What the scheduler's sweeps share: paging through candidates and acting on each.

A sweep reads candidate ids in short read-only transactions (keyset pages, so a case
that is skipped is not read again in the same run), then calls a per-item service
that opens its own transaction, locks the row and re-checks the condition. That
re-check, not the candidate query, is what makes a re-run or a second replica
harmless: the second one finds the case already moved and does nothing, and outbox
dedupe keys stop any message from being queued twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import CaseStatus
from storage.models import Case, Guardian
from storage.repositories.cases import lock_case
from storage.session import Sessions

log = logging.getLogger(__name__)

BATCH = 200

Id = TypeVar("Id", str, int)
ListCandidates = Callable[[AsyncSession, Id | None, int], Awaitable[list[Id]]]
"""A page of candidate ids after an id (None: from the start), at most `limit` long."""
Act = Callable[[Id], Awaitable[bool]]
"""The per-item use case, with its dependencies bound; True when it acted."""


async def sweep(sessions: Sessions, candidates: ListCandidates[Id], act: Act[Id]) -> int:
    """Call `act` for every candidate id; return how many times it acted.

    One failing item is logged with its traceback and skipped, so it cannot hold up
    every other case on every run; it is tried again on the next run.
    """
    done = 0
    after: Id | None = None
    while True:
        async with sessions() as session:
            ids = await candidates(session, after, BATCH)
        for item in ids:
            try:
                done += await act(item)
            except Exception:
                log.exception("scheduled action failed for %s", item, extra=_extra(item))
        if len(ids) < BATCH:
            return done
        after = ids[-1]


def _extra(item: str | int) -> dict[str, str | int]:
    return {"case_id": item} if isinstance(item, str) else {"guardian_id": item}


async def lock_still(
    session: AsyncSession, case_id: str, statuses: Collection[CaseStatus]
) -> Case | None:
    """The listed case, locked, if it is still in one of `statuses`; else None.

    The re-check under the lock that makes a sweep's action harmless to repeat.
    """
    case = await lock_case(session, case_id)
    if case is None or CaseStatus(case.status) not in statuses:
        return None
    return case


def reachable_chat(guardian: Guardian | None) -> int | None:
    """The guardian's Telegram chat, unless there is none or they blocked the bot."""
    if guardian is None or guardian.chat_id is None or guardian.unreachable_at is not None:
        return None
    return guardian.chat_id
