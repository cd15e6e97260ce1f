"""What the health system may do after a signal: withdraw it, ask for its status."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.domain.identifiers import case_number
from bot.domain.status import FINAL_STATUSES, CaseEvent, CaseStatus
from bot.domain.timing import next_daytime
from bot.errors import Conflict, NotFound
from bot.texts import Texts
from bot.usecases.access import guardian_lang
from bot.usecases.intake import HEALTH_SYSTEM, IntakeResult
from bot.usecases.lifecycle import apply_event
from bot.usecases.messages import text_message
from storage.crypto import DataCipher
from storage.models import Case
from storage.outbox import Kind, enqueue
from storage.repositories.cases import get_case, get_case_by_signal, lock_case
from storage.repositories.guardians import get_guardian
from storage.session import Sessions


@dataclass(frozen=True)
class CaseTimeline:
    """What a peer system may know about a case: status and times, no personal data."""

    case_id: str
    status: CaseStatus
    times: dict[str, datetime | None]


async def revoke_signal(
    sessions: Sessions, cipher: DataCipher, clock: Clock, texts: Texts, signal_id: str
) -> IntakeResult:
    """Cancel the case of a withdrawn conclusion, unless it is already closed.

    Revoking twice answers like the first time, so the health system can retry safely.
    The case rows and the guardian's message (sessions, cipher, texts) are all it touches.
    """
    async with sessions.begin() as session:
        found = await get_case_by_signal(session, signal_id)
        case = await lock_case(session, found.id) if found else None
        if case is None:
            raise NotFound("signal.unknown", f"no case for signal {signal_id}")
        status = CaseStatus(case.status)
        if status is CaseStatus.CANCELLED:
            return IntakeResult(case.id, status, duplicate=True)
        if status in FINAL_STATUSES:
            raise Conflict("signal.already_decided", f"the case is already {status.value}")
        now = clock.now()
        new = apply_event(session, case, CaseEvent.REVOKED, actor=HEALTH_SYSTEM, now=now)
        case.closed_at = now
        await _tell_guardian_cancelled(session, cipher, texts, case, now)
        return IntakeResult(case.id, new, duplicate=False)


async def _tell_guardian_cancelled(
    session: AsyncSession, cipher: DataCipher, texts: Texts, case: Case, now: datetime
) -> None:
    """A guardian who already heard about the case learns it was withdrawn (in daytime)."""
    guardian = await get_guardian(session, case.guardian_id)
    if guardian is None or guardian.chat_id is None or case.notified_at is None:
        return
    text = texts(guardian_lang(guardian), "result.cancelled", case_number=case_number(case.id))
    message = text_message(
        f"cancelled:{case.id}", Kind.RESULT, guardian.chat_id, text, case_id=case.id
    )
    await enqueue(session, cipher, now, replace(message, not_before=next_daytime(now)))


async def case_timeline(sessions: Sessions, case_id: str) -> CaseTimeline:
    """Status and milestones of one case for the health system."""
    async with sessions() as session:
        case = await get_case(session, case_id)
    if case is None:
        raise NotFound("case.unknown", f"no case {case_id}")
    times = {
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "notified_at": case.notified_at,
        "consented_at": case.consented_at,
        "submitted_at": case.submitted_at,
        "registered_at": case.registered_at,
        "deadline_at": case.deadline_at,
        "forwarded_at": case.forwarded_at,
        "decided_at": case.decided_at,
        "closed_at": case.closed_at,
    }
    return CaseTimeline(case.id, CaseStatus(case.status), times)
