"""Who the guardian is: language, the shared phone number and the one-time deep link."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.identifiers import normalize_kz_mobile
from bot.domain.status import CaseStatus
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases.access import Actor
from bot.usecases.case_views import case_view
from bot.usecases.first_contact import notice_dedupe_key
from bot.usecases.messages import REMOVE_KEYBOARD, text_message
from bot.usecases.notices import notice_message
from storage.models import Case, Guardian, LinkToken
from storage.outbox import OUTBOX_DIRTY, Kind, enqueue
from storage.repositories.audit import add_audit_event
from storage.repositories.cases import list_cases_of_guardian
from storage.repositories.guardians import get_guardian_by_phone, get_guardian_by_telegram
from storage.repositories.outbox import requeue_dead
from storage.repositories.schools import get_school
from storage.repositories.tokens import token_hash

log = logging.getLogger(__name__)

# A notice is (re)sent for these when the guardian links: nothing answered yet.
AWAITING_GUARDIAN = frozenset({CaseStatus.RECEIVED, CaseStatus.AWAITING_LINK, CaseStatus.NOTIFIED})


class TokenCheck(StrEnum):
    NONE = "none"
    VALID = "valid"
    INVALID = "invalid"
    OTHER_PHONE = "other_phone"


@dataclass(frozen=True)
class LinkOutcome:
    cases_notified: int
    token: TokenCheck


async def known_language(svc: Services, telegram_user_id: int) -> Lang | None:
    """The language a linked guardian chose earlier, if any."""
    async with svc.sessions() as session:
        guardian = await get_guardian_by_telegram(session, telegram_user_id)
    if guardian is None or guardian.language not in {lang.value for lang in Lang}:
        return None
    return Lang(guardian.language)


async def resume_guardian(svc: Services, actor: Actor) -> int:
    """A guardian marked unreachable is back (they wrote to us): clear the mark and send
    again what could not be delivered while they had blocked the bot."""
    async with svc.sessions.begin() as session:
        guardian = await get_guardian_by_telegram(session, actor.telegram_user_id)
        if guardian is None or guardian.unreachable_at is None:
            return 0
        guardian.unreachable_at = None
        guardian.chat_id = actor.chat_id
        now = svc.clock.now()
        kinds = [Kind.NOTICE.value, Kind.RESULT.value]
        resent = await requeue_dead(session, str(actor.chat_id), kinds, now)
        session.info[OUTBOX_DIRTY] = True
    log.info("unreachable guardian is back; %d messages sent again", resent)
    return resent


async def remember_language(svc: Services, telegram_user_id: int, lang: Lang) -> None:
    async with svc.sessions.begin() as session:
        await session.execute(
            update(Guardian)
            .where(Guardian.telegram_user_id == telegram_user_id)
            .values(language=lang.value, updated_at=svc.clock.now())
        )


async def link_by_contact(
    svc: Services, actor: Actor, raw_phone: str, lang: Lang, token: str | None
) -> LinkOutcome:
    """Tie the sender's own phone to this chat and send notices of the cases waiting.

    The caller has checked that the contact is the sender's own. A deep-link token
    sent to another number links nothing: whoever holds a forwarded link must not see
    someone else's child's medical data.
    """
    phone = normalize_kz_mobile(raw_phone)
    now = svc.clock.now()
    async with svc.sessions.begin() as session:
        token_row = await _usable_token(session, token, now) if token else None
        guardian = await get_guardian_by_phone(session, svc.cipher, phone) if phone else None
        check = await _check_token(session, token, token_row, guardian)
        if check is TokenCheck.OTHER_PHONE or phone is None:
            outcome = LinkOutcome(0, check)
            await _confirm(session, svc, actor, lang, outcome)
            return outcome
        guardian = await _attach_chat(session, svc, guardian, phone, actor, lang)
        if token_row is not None:
            token_row.used_at = now
        waiting = await _waiting_cases(session, guardian)
        await _confirm(session, svc, actor, lang, LinkOutcome(len(waiting), check))
        for case in waiting:
            await _queue_notice(session, svc, case, actor, lang)
    log.info("guardian linked a chat; %d case notices queued", len(waiting))
    return LinkOutcome(len(waiting), check)


async def _confirm(
    session: AsyncSession, svc: Services, actor: Actor, lang: Lang, outcome: LinkOutcome
) -> None:
    """Say what happened before the notices, which follow in the same transaction.

    A single notice says it all by itself, so it comes without a confirmation: one
    message less, and a second sooner, at one message per second to a private chat.
    The phone keyboard is one-time; the next question that wants typed text removes it.
    """
    if outcome.cases_notified == 1 and outcome.token in (TokenCheck.NONE, TokenCheck.VALID):
        return
    t = svc.texts
    if outcome.token is TokenCheck.OTHER_PHONE:
        text = t(lang, "identity.token_other_phone")
    else:
        key = "identity.linked" if outcome.cases_notified else "identity.no_cases"
        text = t(lang, key, count=outcome.cases_notified)
        if outcome.token is TokenCheck.INVALID:
            text = t(lang, "identity.token_invalid") + "\n\n" + text
    message = text_message(
        f"{actor.origin}:linked",
        Kind.REPLY,
        actor.chat_id,
        text,
        reply_markup=REMOVE_KEYBOARD,
    )
    await enqueue(session, svc.cipher, svc.clock.now(), message)


async def _usable_token(session: AsyncSession, token: str, now: object) -> LinkToken | None:
    result = await session.execute(
        select(LinkToken).where(
            LinkToken.token_hash == token_hash(token),
            LinkToken.purpose == "guardian",
            LinkToken.used_at.is_(None),
            LinkToken.expires_at > now,
        )
    )
    return result.scalars().first()


async def _check_token(
    session: AsyncSession, token: str | None, token_row: LinkToken | None, guardian: Guardian | None
) -> TokenCheck:
    """A link is valid only for the guardian of its own case: anyone else holding a
    forwarded link can neither use it nor spend it."""
    if token is None:
        return TokenCheck.NONE
    if token_row is None:
        return TokenCheck.INVALID
    case = await session.get(Case, token_row.case_id) if token_row.case_id else None
    owns = guardian is not None and case is not None and case.guardian_id == guardian.id
    return TokenCheck.VALID if owns else TokenCheck.OTHER_PHONE


async def _attach_chat(
    session: AsyncSession,
    svc: Services,
    guardian: Guardian | None,
    phone: str,
    actor: Actor,
    lang: Lang,
) -> Guardian:
    """Link the chat to the guardian of `phone`, creating one for a future signal."""
    now = svc.clock.now()
    previous = await get_guardian_by_telegram(session, actor.telegram_user_id)
    if previous is not None and (guardian is None or previous.id != guardian.id):
        previous.telegram_user_id = None
        previous.chat_id = None
        await session.flush()
    if guardian is None:
        guardian = Guardian(
            phone_hash=svc.cipher.blind_index(phone),
            pd_enc=svc.cipher.encrypt_json({"full_name": None, "phone": phone, "iin": None}),
            created_at=now,
            updated_at=now,
        )
        session.add(guardian)
    guardian.telegram_user_id = actor.telegram_user_id
    guardian.chat_id = actor.chat_id
    guardian.language = lang.value
    guardian.unreachable_at = None
    guardian.updated_at = now
    await session.flush()
    return guardian


async def _waiting_cases(session: AsyncSession, guardian: Guardian) -> list[Case]:
    """Cases still waiting for this guardian's first answer (each gets its notice)."""
    return [
        case
        for case in await list_cases_of_guardian(session, guardian.id)
        if CaseStatus(case.status) in AWAITING_GUARDIAN and case.pd_enc is not None
    ]


async def _queue_notice(
    session: AsyncSession, svc: Services, case: Case, actor: Actor, lang: Lang
) -> None:
    add_audit_event(
        session,
        case_id=case.id,
        at=svc.clock.now(),
        actor=f"telegram:{actor.telegram_user_id}",
        event="guardian_linked",
    )
    school = await get_school(session, case.school_id) if case.school_id else None
    view = case_view(svc.cipher, case, school, lang)
    key = notice_dedupe_key(case.id, actor.chat_id)
    message = notice_message(svc, lang, view, actor.chat_id, key, Kind.NOTICE)
    await enqueue(session, svc.cipher, svc.clock.now(), message)
