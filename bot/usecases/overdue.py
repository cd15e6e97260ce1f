"""Overdue: the school let the legal term pass without a decision.

The case becomes `overdue` (the school may still decide), the local authority's
escalation chat is told, and so is the guardian, at once: it is about their own
application, like a decision would be.
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.domain.identifiers import case_number
from bot.domain.status import CaseEvent, CaseStatus
from bot.domain.timing import local_time
from bot.texts import Texts
from bot.usecases.access import guardian_lang
from bot.usecases.clockwork import lock_still, reachable_chat
from bot.usecases.forwarding import staff_language
from bot.usecases.lifecycle import apply_event
from bot.usecases.messages import text_message
from storage.crypto import DataCipher
from storage.models import Case
from storage.outbox import Kind, OutgoingMessage, enqueue
from storage.repositories.cases import list_past_deadline_ids
from storage.repositories.guardians import get_guardian
from storage.repositories.schools import get_school
from storage.session import Sessions

log = logging.getLogger(__name__)

WITH_SCHOOL: Final = (CaseStatus.SUBMITTED, CaseStatus.FORWARDED)


async def list_overdue_candidates(
    session: AsyncSession, after: str | None, limit: int, *, now: datetime
) -> list[str]:
    """Cases still with the school whose deadline has passed."""
    return await list_past_deadline_ids(session, WITH_SCHOOL, now=now, after=after, limit=limit)


async def mark_overdue(
    sessions: Sessions, clock: Clock, cipher: DataCipher, texts: Texts, case_id: str
) -> bool:
    """Move a case past its deadline to `overdue` and escalate; True when done now."""
    async with sessions.begin() as session:
        case = await lock_still(session, case_id, WITH_SCHOOL)
        now = clock.now()
        if case is None:
            return False
        if case.deadline_at is None or now <= case.deadline_at:
            return False
        messages = await _escalation(session, texts, clock.zone, case)
        apply_event(
            session,
            case,
            CaseEvent.DEADLINE_PASSED,
            actor="system",
            now=now,
            details={"escalated": bool(messages)},
        )
        case.escalated_at = now
        guardian = await get_guardian(session, case.guardian_id)
        chat_id = reachable_chat(guardian)
        if guardian is not None and chat_id is not None:
            text = texts(
                guardian_lang(guardian), "result.overdue", case_number=case_number(case.id)
            )
            messages.append(
                text_message(f"overdue:{case.id}", Kind.RESULT, chat_id, text, case_id=case.id)
            )
        await enqueue(session, cipher, now, *messages)
    log.info("case overdue", extra={"case_id": case_id})
    return True


async def _escalation(
    session: AsyncSession, texts: Texts, zone: tzinfo, case: Case
) -> list[OutgoingMessage]:
    """The message to the school's escalation chat, or nothing when there is none."""
    assert case.deadline_at is not None
    school = await get_school(session, case.school_id) if case.school_id else None
    if school is None or school.escalation_chat_id is None:
        log.warning("overdue case has no escalation chat", extra={"case_id": case.id})
        return []
    text = texts(
        staff_language(school),
        "escalation.overdue",
        school_bin=school.bin,
        case_number=case_number(case.id),
        deadline=local_time(case.deadline_at, zone),
    )
    return [
        text_message(
            f"escalation:overdue:{case.id}",
            Kind.ESCALATION,
            school.escalation_chat_id,
            text,
            case_id=case.id,
        )
    ]
