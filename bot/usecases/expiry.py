"""Expiry: a case the guardian left without an answer for 7 days is closed (`expired`).

The school never heard of such a case and gets nothing; the guardian, if reachable in
Telegram, is told how to apply in person, unless they declined: the answer to the decline
already said until when the way back stays open and what follows.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.domain.identifiers import case_number
from bot.domain.status import CaseEvent, CaseStatus
from bot.domain.timing import next_daytime
from bot.texts import Texts
from bot.usecases.access import guardian_lang
from bot.usecases.clockwork import lock_still, reachable_chat
from bot.usecases.lifecycle import apply_event
from bot.usecases.messages import text_message
from storage.crypto import DataCipher
from storage.models import Case
from storage.outbox import Kind, enqueue
from storage.repositories.applications import get_last_form_update
from storage.repositories.cases import list_unchanged_since_ids
from storage.repositories.guardians import get_guardian
from storage.session import Sessions

log = logging.getLogger(__name__)

EXPIRE_AFTER: Final = timedelta(days=7)
WAITING_FOR_GUARDIAN: Final = (
    CaseStatus.AWAITING_LINK,
    CaseStatus.NOTIFIED,
    CaseStatus.DECLINED,
    CaseStatus.CONSENTED,
)


async def last_guardian_activity(session: AsyncSession, case: Case) -> datetime:
    """The latest moment the case moved or the guardian touched it.

    `updated_at` changes with every status change and every form step stored on the
    case (grade, school); address and note answers are stored on the application, so
    its `updated_at` counts too. Reminders leave both alone. The notice and consent
    times are included in case some future writer forgets `updated_at`.
    """
    moments = [case.created_at, case.updated_at, case.notified_at, case.consented_at]
    form = await get_last_form_update(session, case.id)
    return max(m for m in [*moments, form] if m is not None)


async def list_expiry_candidates(
    session: AsyncSession, after: str | None, limit: int, *, now: datetime
) -> list[str]:
    """Cases waiting for the guardian with no case change for 7 days (the form is checked later)."""
    cutoff = now - EXPIRE_AFTER
    return await list_unchanged_since_ids(
        session, WAITING_FOR_GUARDIAN, cutoff=cutoff, after=after, limit=limit
    )


async def expire_case(
    sessions: Sessions, clock: Clock, cipher: DataCipher, texts: Texts, case_id: str
) -> bool:
    """Close a case nobody answered for 7 days; True when it was expired now."""
    async with sessions.begin() as session:
        case = await lock_still(session, case_id, WAITING_FOR_GUARDIAN)
        if case is None:
            return False
        now = clock.now()
        if now < await last_guardian_activity(session, case) + EXPIRE_AFTER:
            return False
        declined = CaseStatus(case.status) is CaseStatus.DECLINED
        apply_event(session, case, CaseEvent.NO_ANSWER, actor="system", now=now)
        case.closed_at = now
        guardian = await get_guardian(session, case.guardian_id)
        chat_id = reachable_chat(guardian)
        # A guardian who declined was told then until when the way back stays open and
        # what follows; "closed because you did not answer" would contradict it.
        if guardian is not None and chat_id is not None and not declined:
            text = texts(
                guardian_lang(guardian), "result.expired", case_number=case_number(case.id)
            )
            message = text_message(
                f"expired:{case.id}", Kind.RESULT, chat_id, text, case_id=case.id
            )
            await enqueue(session, cipher, now, replace(message, not_before=next_daytime(now)))
    log.info("case expired without an answer", extra={"case_id": case_id})
    return True
