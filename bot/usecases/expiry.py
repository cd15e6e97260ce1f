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

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import CaseEvent, CaseStatus
from bot.domain.timing import next_daytime
from bot.runtime import Services
from bot.usecases.access import guardian_lang
from bot.usecases.case_views import case_number
from bot.usecases.clockwork import reachable_chat
from bot.usecases.lifecycle import apply_event
from bot.usecases.messages import text_message
from storage.models import Application, Case
from storage.outbox import Kind, enqueue
from storage.repositories.cases import lock_case
from storage.repositories.guardians import get_guardian

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
    form = await session.scalar(
        select(func.max(Application.updated_at)).where(Application.case_id == case.id)
    )
    return max(m for m in [*moments, form] if m is not None)


async def list_expiry_candidates(
    svc: Services, session: AsyncSession, after: str | None, limit: int
) -> list[str]:
    """Cases waiting for the guardian with no case change for 7 days (the form is checked later)."""
    cutoff = svc.clock.now() - EXPIRE_AFTER
    query = select(Case.id).where(
        Case.status.in_([s.value for s in WAITING_FOR_GUARDIAN]),
        Case.updated_at <= cutoff,
        func.coalesce(Case.notified_at, Case.created_at) <= cutoff,
        (Case.consented_at.is_(None)) | (Case.consented_at <= cutoff),
    )
    if after is not None:
        query = query.where(Case.id > after)
    return list((await session.scalars(query.order_by(Case.id).limit(limit))).all())


async def expire_case(svc: Services, case_id: str) -> bool:
    """Close a case nobody answered for 7 days; True when it was expired now."""
    async with svc.sessions.begin() as session:
        case = await lock_case(session, case_id)
        if case is None or CaseStatus(case.status) not in WAITING_FOR_GUARDIAN:
            return False
        now = svc.clock.now()
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
            text = svc.texts(
                guardian_lang(guardian), "result.expired", case_number=case_number(case.id)
            )
            message = text_message(
                f"expired:{case.id}", Kind.RESULT, chat_id, text, case_id=case.id
            )
            await enqueue(session, svc.cipher, now, replace(message, not_before=next_daytime(now)))
    log.info("case expired without an answer", extra={"case_id": case_id})
    return True
