"""The guardian's consent (PD law art. 8): agree, decline, and the way back."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CaseAction, CaseCb
from bot.cases.status import CaseEvent, CaseStatus
from bot.delivery.outbox import Kind, enqueue
from bot.runtime import Services
from bot.services.access import Actor, guardian_lang, lock_own_case
from bot.services.application import Step, ask_next, start_draft
from bot.services.case_views import case_view
from bot.services.first_contact import notice_dedupe_key
from bot.services.lifecycle import apply_event
from bot.services.messages import text_message
from bot.services.notices import consent_text, notice_message
from storage.models import Case, ConsentRecord, Guardian
from storage.repositories.schools import get_school

# The dispatcher records a notice as delivered only after Telegram answered (outcomes are
# committed in small batches), so a quick tap can arrive while the case still looks
# unnotified. The press itself proves the notice reached the owner's chat.
NOT_YET_NOTIFIED = (CaseStatus.RECEIVED, CaseStatus.AWAITING_LINK)
ANSWERABLE = (*NOT_YET_NOTIFIED, CaseStatus.NOTIFIED, CaseStatus.DECLINED)
DECLINABLE = (*NOT_YET_NOTIFIED, CaseStatus.NOTIFIED, CaseStatus.CONSENTED)


async def agree(svc: Services, actor: Actor, case_id: str, message_id: int | None) -> Step:
    """Record consent and ask the first missing application field (or show the summary)."""
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, ANSWERABLE)
        _notice_seen(session, svc, case, actor)
        _record(session, svc, case, guardian, actor, message_id, "agree")
        apply_event(session, case, CaseEvent.CONSENT_GIVEN, actor=_who(actor), now=svc.clock.now())
        case.consented_at = svc.clock.now()
        await start_draft(session, svc, case, guardian)
        return await ask_next(session, svc, case, guardian, actor)


async def decline(svc: Services, actor: Actor, case_id: str, message_id: int | None) -> None:
    """Close the case on ground 3 and explain how to apply in person, with a way back."""
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, DECLINABLE)
        _notice_seen(session, svc, case, actor)
        _record(session, svc, case, guardian, actor, message_id, "decline")
        apply_event(
            session, case, CaseEvent.CONSENT_DECLINED, actor=_who(actor), now=svc.clock.now()
        )
        lang = guardian_lang(guardian)
        again = CaseCb(case_id=case.id, action=CaseAction.AGAIN)
        reply = text_message(
            f"{actor.origin}:declined",
            Kind.REPLY,
            actor.chat_id,
            svc.texts(lang, "consent.declined"),
            case_id=case.id,
            buttons=[[(svc.texts(lang, "consent.again_button"), again)]],
        )
        await enqueue(session, svc.cipher, svc.clock.now(), reply)


async def ask_again(svc: Services, actor: Actor, case_id: str) -> None:
    """ "I changed my mind": show the consent request again while the case is open."""
    async with svc.sessions.begin() as session:
        case, guardian = await lock_own_case(session, case_id, actor, (CaseStatus.DECLINED,))
        lang = guardian_lang(guardian)
        school = await get_school(session, case.school_id) if case.school_id else None
        view = case_view(svc.cipher, case, school, lang)
        key = f"{notice_dedupe_key(case.id, actor.chat_id)}:{actor.origin}"
        message = notice_message(svc.texts, lang, view, actor.chat_id, key, Kind.REPLY)
        await enqueue(session, svc.cipher, svc.clock.now(), message)


def _notice_seen(session: AsyncSession, svc: Services, case: Case, actor: Actor) -> None:
    """Mark the case notified if the answer overtook the dispatcher's delivery record."""
    if CaseStatus(case.status) in NOT_YET_NOTIFIED:
        now = svc.clock.now()
        apply_event(session, case, CaseEvent.NOTICE_SENT, actor=_who(actor), now=now)
        case.notified_at = case.notified_at or now


def _record(
    session: AsyncSession,
    svc: Services,
    case: Case,
    guardian: Guardian,
    actor: Actor,
    message_id: int | None,
    choice: str,
) -> None:
    """Keep the evidence: exact text version and hash, time, Telegram user and message."""
    shown = consent_text(svc.texts, guardian_lang(guardian))
    session.add(
        ConsentRecord(
            case_id=case.id,
            choice=choice,
            text_version=shown.version,
            text_sha256=shown.sha256,
            telegram_user_id=actor.telegram_user_id,
            message_id=message_id,
            created_at=svc.clock.now(),
        )
    )


def _who(actor: Actor) -> str:
    return f"telegram:{actor.telegram_user_id}"
