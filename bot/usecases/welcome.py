"""A chat before it is a guardian's: `/start`, the language, the request for the phone.

Until the phone is shared the chat is nobody's; its `guardian_starts` row keeps the
language told or chosen, the deep link it came with and the question asked, so a
restart or another replica goes on where the chat was. aiogram's FSM is not used.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.choices import Act, Choice, Text
from bot.runtime import Services
from bot.texts import DEFAULT_LANG, Lang, Texts, parse_lang
from bot.usecases.access import Actor, guardian_lang
from bot.usecases.guardian_status import status_prompt
from bot.usecases.prompts import Present, Prompt, render, say, show
from storage.models import Guardian, GuardianStart
from storage.outbox import OUTBOX_DIRTY, Kind
from storage.repositories.guardians import get_guardian_by_telegram
from storage.repositories.outbox import requeue_dead
from storage.repositories.tokens import token_hash

log = logging.getLogger(__name__)

AFTER_THE_ANSWER = timedelta(seconds=1)


async def language_of(session: AsyncSession, actor: Actor) -> Lang:
    """The language to speak to `actor` (see `chat_language`)."""
    guardian = await get_guardian_by_telegram(session, actor.telegram_user_id)
    return await chat_language(session, actor, guardian)


async def chat_language(session: AsyncSession, actor: Actor, guardian: Guardian | None) -> Lang:
    """The linked guardian's language, else the one told or chosen since `/start`, else
    the interface's when it is ours, else Kazakh; `guardian` is the actor's, if linked."""
    if guardian is not None:
        return guardian_lang(guardian)
    start = await session.get(GuardianStart, actor.telegram_user_id)
    told = parse_lang(start.language) if start is not None else None
    return told or actor.interface_lang or DEFAULT_LANG


async def start(
    svc: Services, actor: Actor, token: str | None, *, present: Present | None = None
) -> None:
    """`/start`: a linked guardian sees their cases; anyone else is asked for the phone.

    The language Telegram reports (kk or ru) is taken and named in the first message,
    which also asks for the phone and offers the other language in one tap, so a
    first-time guardian spends no action on the language and waits for one message, not
    two (a private chat takes one message a second); only an interface language that is
    neither is asked about. A deep link's token is kept (as
    its hash) until the phone is shared, which alone decides whether it links.
    """
    async with svc.sessions.begin() as session:
        guardian = await get_guardian_by_telegram(session, actor.telegram_user_id)
        if guardian is not None:  # linked already, even when back through an SMS link
            await forget_start(session, actor)
            lang = guardian_lang(guardian)
            await show(session, present, actor, await status_prompt(session, svc, guardian, lang))
            await _resume(session, svc, guardian, actor)
            return
        row = await _start_row(session, svc, actor)
        if token:
            row.token_hash = token_hash(token)
        told = parse_lang(row.language) or actor.interface_lang
        if told is None:
            row.asked = "language"
            await show(session, present, actor, languages_prompt(DEFAULT_LANG))
            return
        row.language, row.asked = told.value, "contact"
        await show(session, present, actor, greeting_prompt(told))


async def offer_languages(svc: Services, actor: Actor, *, present: Present | None = None) -> None:
    """`/language`: both languages to choose from, each named in itself."""
    async with svc.sessions.begin() as session:
        lang = await language_of(session, actor)
        await show(session, present, actor, languages_prompt(lang))


async def choose_language(
    svc: Services, actor: Actor, code: str, *, present: Present | None = None
) -> None:
    """Speak `code` from now on; before the phone is shared, ask for it in that language."""
    lang = parse_lang(code) or DEFAULT_LANG
    async with svc.sessions.begin() as session:
        guardian = await get_guardian_by_telegram(session, actor.telegram_user_id)
        if guardian is None:
            row = await _start_row(session, svc, actor)
            row.language = lang.value
            await _ask_contact(session, actor, row, lang, present)
            return
        guardian.language, guardian.updated_at = lang.value, svc.clock.now()
        await show(session, present, actor, say(lang, "language_chosen", "language.chosen"))
        await _resume(session, svc, guardian, actor)


def languages_prompt(lang: Lang) -> Prompt:
    choices = ((_language_choice(Lang.KK), _language_choice(Lang.RU)),)
    return Prompt(
        lang=lang, purpose="language", parts=(Text("start.choose_language"),), choices=choices
    )


def _language_choice(lang: Lang) -> Choice:
    """A language labelled in itself."""
    return Choice(Act.LANGUAGE, _label(lang), value=lang)


def _label(lang: Lang) -> Text:
    return Text(f"language.{lang.value}_button", lang=lang)


def _other(lang: Lang) -> Lang:
    return Lang.RU if lang is Lang.KK else Lang.KK


def phone_prompt(lang: Lang, purpose: str, key: str) -> Prompt:
    """`key` with the one button that shares the own phone number."""
    return Prompt(lang=lang, purpose=purpose, parts=(Text(key),), choices=((_share_phone(),),))


def greeting_prompt(lang: Lang) -> Prompt:
    """The first message to a chat whose language Telegram told: the channel, the
    language taken, the request for the phone, and the switch to the other language."""
    other = _other(lang)
    parts = (
        Text("start.language_told"),
        Text("identity.ask_contact"),
        Text("start.switch_language", lang=other),
    )
    choices = ((_share_phone(),), (_language_choice(other),))
    return Prompt(lang=lang, purpose="greeting", parts=parts, choices=choices)


def language_of_button(texts: Texts, label: str | None) -> Lang | None:
    """The language whose button is labelled `label`: a button of the phone's keyboard
    sends its label as text, so that is how its tap arrives."""
    return next((lang for lang in Lang if label == render(texts, lang, _label(lang))), None)


def _share_phone() -> Choice:
    return Choice(Act.SHARE_PHONE, Text("identity.contact_button"))


async def _ask_contact(
    session: AsyncSession,
    actor: Actor,
    row: GuardianStart,
    lang: Lang,
    present: Present | None,
) -> None:
    row.asked = "contact"
    await show(session, present, actor, phone_prompt(lang, "ask_contact", "identity.ask_contact"))


async def _start_row(session: AsyncSession, svc: Services, actor: Actor) -> GuardianStart:
    """This chat's row before it is linked, created on first use and touched now."""
    row = await session.get(GuardianStart, actor.telegram_user_id, with_for_update=True)
    if row is None:
        row = GuardianStart(telegram_user_id=actor.telegram_user_id, updated_at=svc.clock.now())
        session.add(row)
    row.updated_at = svc.clock.now()
    return row


async def forget_start(session: AsyncSession, actor: Actor) -> GuardianStart | None:
    """Drop this chat's row before linking (it is a guardian's chat now); return it."""
    row = await session.get(GuardianStart, actor.telegram_user_id)
    if row is not None:
        await session.delete(row)
    return row


async def _resume(session: AsyncSession, svc: Services, guardian: Guardian, actor: Actor) -> None:
    """A guardian marked unreachable is back (they wrote to us): clear the mark and send
    again what could not be delivered while they had blocked the bot.

    The messages are due a second from now, so the answer queued in this transaction
    (the overview of their cases) comes first: the outbox sends a chat's due messages
    oldest first, and these are older. A private chat takes one message a second anyway.
    """
    if guardian.unreachable_at is None:
        return
    guardian.unreachable_at = None
    guardian.chat_id = actor.chat_id
    kinds = [Kind.NOTICE.value, Kind.RESULT.value]
    due = svc.clock.now() + AFTER_THE_ANSWER
    resent = await requeue_dead(session, str(actor.chat_id), kinds, due)
    session.info[OUTBOX_DIRTY] = True
    log.info("unreachable guardian is back; %d messages sent again", resent)


async def refuse_contact(svc: Services, actor: Actor, *, present: Present | None = None) -> None:
    """A contact that is not the sender's own: say so and offer the button again."""
    async with svc.sessions.begin() as session:
        lang = await language_of(session, actor)
        prompt = phone_prompt(lang, "not_own", "identity.not_own_contact")
        await show(session, present, actor, prompt)
