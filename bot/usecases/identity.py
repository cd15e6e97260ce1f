"""Who the guardian is: the shared phone number and the one-time deep link."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.choices import Text
from bot.domain.identifiers import normalize_kz_mobile
from bot.domain.status import CaseStatus
from bot.runtime import Services
from bot.texts import Lang
from bot.usecases.access import Actor
from bot.usecases.case_views import case_view
from bot.usecases.first_contact import notice_dedupe_key
from bot.usecases.notices import notice_message
from bot.usecases.prompts import Present, Prompt, show
from bot.usecases.welcome import forget_start, language_of
from storage.models import Case, Guardian, LinkToken
from storage.outbox import Kind, enqueue
from storage.repositories.audit import add_audit_event
from storage.repositories.cases import list_cases_of_guardian
from storage.repositories.guardians import get_guardian_by_phone, get_guardian_by_telegram
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


async def link_by_contact(
    svc: Services,
    actor: Actor,
    raw_phone: str,
    lang: Lang | None = None,
    token: str | None = None,
    *,
    present: Present | None = None,
) -> LinkOutcome:
    """Tie the sender's own phone to this chat and send notices of the cases waiting.

    The caller has checked that the contact is the sender's own. The language and the
    deep link are those kept since `/start` unless given. A deep-link token sent to
    another number links nothing: whoever holds a forwarded link must not see someone
    else's child's medical data.
    """
    phone = normalize_kz_mobile(raw_phone)
    now = svc.clock.now()
    async with svc.sessions.begin() as session:
        lang = lang or await language_of(session, actor)
        started = await forget_start(session, actor)
        hashed = token_hash(token) if token else started.token_hash if started else None
        token_row = await _usable_token(session, hashed, now) if hashed else None
        guardian = await get_guardian_by_phone(session, svc.cipher, phone) if phone else None
        check = await _check_token(session, hashed, token_row, guardian)
        if check is TokenCheck.OTHER_PHONE or phone is None:
            outcome = LinkOutcome(0, check)
            await _confirm(session, actor, lang, outcome, present)
            return outcome
        guardian = await _attach_chat(session, svc, guardian, phone, actor, lang)
        if token_row is not None:
            token_row.used_at = now
        waiting = await _waiting_cases(session, guardian)
        await _confirm(session, actor, lang, LinkOutcome(len(waiting), check), present)
        for case in waiting:
            await _queue_notice(session, svc, case, actor, lang)
    log.info("guardian linked a chat; %d case notices queued", len(waiting))
    return LinkOutcome(len(waiting), check)


async def _confirm(
    session: AsyncSession,
    actor: Actor,
    lang: Lang,
    outcome: LinkOutcome,
    present: Present | None,
) -> None:
    """Say what happened before the notices, which follow in the same transaction.

    A single notice says it all by itself, so it comes without a confirmation: one
    message less, and a second sooner, at one message per second to a private chat.
    """
    if outcome.cases_notified == 1 and outcome.token in (TokenCheck.NONE, TokenCheck.VALID):
        return
    parts: tuple[Text, ...]
    if outcome.token is TokenCheck.OTHER_PHONE:
        parts = (Text("identity.token_other_phone"),)
    else:
        key = "identity.linked" if outcome.cases_notified else "identity.no_cases"
        parts = (Text(key, {"count": outcome.cases_notified}),)
        if outcome.token is TokenCheck.INVALID:
            parts = (Text("identity.token_invalid"), *parts)
    await show(session, present, actor, Prompt(lang=lang, purpose="linked", parts=parts))


async def _usable_token(session: AsyncSession, hashed: str, now: object) -> LinkToken | None:
    result = await session.execute(
        select(LinkToken).where(
            LinkToken.token_hash == hashed,
            LinkToken.purpose == "guardian",
            LinkToken.used_at.is_(None),
            LinkToken.expires_at > now,
        )
    )
    return result.scalars().first()


async def _check_token(
    session: AsyncSession,
    hashed: str | None,
    token_row: LinkToken | None,
    guardian: Guardian | None,
) -> TokenCheck:
    """A link is valid only for the guardian of its own case: anyone else holding a
    forwarded link can neither use it nor spend it."""
    if hashed is None:
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
    message = notice_message(
        svc.texts, svc.settings.RETENTION_DAYS, lang, view, actor.chat_id, key, Kind.NOTICE
    )
    await enqueue(session, svc.cipher, svc.clock.now(), message)
