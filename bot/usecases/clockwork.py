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
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.runtime import Services
from storage.models import Guardian

log = logging.getLogger(__name__)

BATCH = 200

Id = TypeVar("Id", str, int)
ListCandidates = Callable[[Services, AsyncSession, Id | None, int], Awaitable[list[Id]]]
Act = Callable[[Services, Id], Awaitable[bool]]


async def sweep(svc: Services, candidates: ListCandidates[Id], act: Act[Id]) -> int:
    """Call `act` for every candidate id; return how many times it acted.

    One failing item is logged with its traceback and skipped, so it cannot hold up
    every other case on every run; it is tried again on the next run.
    """
    done = 0
    after: Id | None = None
    while True:
        async with svc.sessions() as session:
            ids = await candidates(svc, session, after, BATCH)
        for item in ids:
            try:
                done += await act(svc, item)
            except Exception:
                log.exception("scheduled action failed for %s", item, extra=_extra(item))
        if len(ids) < BATCH:
            return done
        after = ids[-1]


def _extra(item: str | int) -> dict[str, str | int]:
    return {"case_id": item} if isinstance(item, str) else {"guardian_id": item}


def reachable_chat(guardian: Guardian | None) -> int | None:
    """The guardian's Telegram chat, unless there is none or they blocked the bot."""
    if guardian is None or guardian.chat_id is None or guardian.unreachable_at is not None:
        return None
    return guardian.chat_id


def local_time(svc: Services, moment: datetime) -> str:
    """A moment as people in the service's zone read it (as in the school's package)."""
    return moment.astimezone(svc.settings.zone).strftime("%d.%m.%Y %H:%M")
