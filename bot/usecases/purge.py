"""Retention: erase personal data of cases closed longer than `RETENTION_DAYS` ago.

What goes: the case's encrypted personal data (child, guardian name, conclusion), the
school's refusal reason, the child's IIN hash, the PDFs (their SHA-256 stays), the
form answers, and the payloads of the case's finished outbox rows. Once every case of
a guardian is purged, the guardian's name, phone and IIN (`pd_enc`) and IIN hash go.

What stays, because it names nobody and keeps the statistics and the evidence: status,
every timestamp, school, grade, registration number, refusal ground, consent records
(text version and hash, Telegram user id as proof of who consented), the append-only
audit trail, and the guardian's keyed phone hash, Telegram chat and language, so that a
future signal for the same phone still reaches the chat the guardian linked themselves.
The phone hash is a keyed HMAC: without the data key it reveals no number.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.domain.status import FINAL_STATUSES, CaseStatus
from bot.usecases.web_identity import LOCK_TIME
from storage.models import Case
from storage.repositories import purge as repo
from storage.repositories.audit import add_audit_event
from storage.repositories.cases import lock_case
from storage.repositories.web_sessions import delete_idle_sign_in_codes, end_expired_sessions
from storage.session import Sessions

log = logging.getLogger(__name__)

PURGED_EVENT = "personal_data_purged"
BoundDialogs = Callable[[], Awaitable[int]]
"""Gives dialogs kept outside the database (Redis) a lifetime; returns how many had none."""
_FINAL = sorted(status.value for status in FINAL_STATUSES)


@dataclass(frozen=True)
class HousekeepingResult:
    """What the purge removed besides case data."""

    outbox_payloads: int
    dialogs: int
    redis_dialogs_bounded: int = 0
    web_sessions: int = 0
    sign_in_codes: int = 0


def _purgeable(case: Case, cutoff: datetime) -> bool:
    if case.purged_at is not None or CaseStatus(case.status) not in FINAL_STATUSES:
        return False
    closed = case.closed_at or case.updated_at
    return closed < cutoff


async def list_purge_candidates(
    session: AsyncSession, after: str | None, limit: int, *, cutoff: datetime
) -> list[str]:
    """Cases closed before `cutoff` (the retention period ago) and not purged yet."""
    return await repo.list_purgeable_case_ids(session, _FINAL, cutoff, after=after, limit=limit)


async def purge_case(sessions: Sessions, clock: Clock, cutoff: datetime, case_id: str) -> bool:
    """Erase one closed case's personal data; True when it was purged now."""
    async with sessions.begin() as session:
        case = await lock_case(session, case_id)
        if case is None or not _purgeable(case, cutoff):
            return False
        now = clock.now()
        case.pd_enc = None
        case.refusal_reason_enc = None
        case.hearing_reason_enc = case.hearing_position_enc = None
        case.child_iin_hash = None
        case.purged_at = now
        details = {
            "documents": await repo.erase_case_documents(session, case.id),
            "applications": await repo.erase_case_application(session, case.id),
            "outbox": await repo.erase_case_outbox(session, case.id),
        }
        add_audit_event(
            session, case_id=case.id, at=now, actor="system", event=PURGED_EVENT, details=details
        )
    log.info("personal data of a closed case purged", extra={"case_id": case_id})
    return True


async def list_guardian_purge_candidates(
    session: AsyncSession, after: int | None, limit: int
) -> list[int]:
    """Guardians with personal data whose every case is purged."""
    return await repo.list_purgeable_guardian_ids(session, after=after, limit=limit)


async def purge_guardian(sessions: Sessions, clock: Clock, guardian_id: int) -> bool:
    """Erase a guardian's name, phone and IIN once all their cases are purged.

    Done in its own pass after the cases, not inside a case's purge: two replicas
    purging two cases of one guardian at once would each see the other case unpurged.
    """
    async with sessions.begin() as session:
        guardian = await repo.lock_purgeable_guardian(session, guardian_id)
        if guardian is None:
            return False
        now = clock.now()
        guardian.pd_enc = None
        guardian.iin_hash = None
        guardian.updated_at = now
        add_audit_event(
            session,
            case_id=None,
            at=now,
            actor="system",
            event=PURGED_EVENT,
            details={"guardian_id": guardian_id},
        )
    return True


async def purge_housekeeping(
    sessions: Sessions, now: datetime, cutoff: datetime, bound_dialogs: BoundDialogs | None
) -> HousekeepingResult:
    """Drop old finished outbox payloads that belong to no case, abandoned dialogs, ended
    web sessions and idle sign-in codes.

    Dialogs are staff prompts in `fsm_states` when the FSM storage is SQL (with Redis,
    keys expire by themselves after the same period; keys written without a lifetime by
    an older version get one here) and `guardian_starts` rows of chats that never
    shared their phone. `bound_dialogs` is None when dialogs live in the database only.
    A web session goes at its end; a sign-in code row once it has been idle for longer
    than a lock lasts (see `delete_idle_sign_in_codes`).
    """
    async with sessions.begin() as session:
        payloads = await repo.erase_old_outbox_payloads(session, cutoff)
        dialogs = await repo.delete_stale_dialogs(session, cutoff)
        ended = await end_expired_sessions(session, now)
        codes = await delete_idle_sign_in_codes(session, now - LOCK_TIME, now)
    bounded = await bound_dialogs() if bound_dialogs is not None else 0
    return HousekeepingResult(payloads, dialogs, bounded, ended, codes)
