"""What the guardian's chat answers outside the buttons: commands, typed text, stickers.

Each use case is one transaction that finds where the chat is (the draft's open
question, the case in hearing, the row of a chat not linked yet), acts and queues the
answer. Commands never reach these as text: a command always wins over an answer.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.runtime import Services
from bot.usecases import form_answers, hearing
from bot.usecases.access import Actor, guardian_lang
from bot.usecases.guardian_status import status_prompt
from bot.usecases.prompts import Present, Prompt, say, show
from bot.usecases.welcome import chat_language, language_of, phone_prompt
from storage.models import Guardian, GuardianStart
from storage.repositories.guardians import get_guardian_by_telegram


async def tell(
    svc: Services, actor: Actor, purpose: str, key: str, *, present: Present | None = None
) -> Prompt:
    """A fixed text (`/help`, an unknown command) in the actor's language."""
    async with svc.sessions.begin() as session:
        prompt = say(await language_of(session, actor), purpose, key)
        return await show(session, present, actor, prompt)


async def tell_status(svc: Services, actor: Actor, *, present: Present | None = None) -> Prompt:
    """`/status`: every case of the guardian, or that there is none."""
    async with svc.sessions.begin() as session:
        guardian = await get_guardian_by_telegram(session, actor.telegram_user_id)
        if guardian is None:
            prompt = say(await chat_language(session, actor, None), "status", "status.none")
        else:
            prompt = await status_prompt(session, svc, guardian, guardian_lang(guardian))
        return await show(session, present, actor, prompt)


async def cancel(svc: Services, actor: Actor, *, present: Present | None = None) -> Prompt:
    """`/cancel`: the question asked (of the form, or the phone) no longer waits."""
    async with svc.sessions.begin() as session:
        guardian = await get_guardian_by_telegram(session, actor.telegram_user_id)
        if guardian is not None:
            left = await form_answers.leave_open(session, svc.cipher, svc.clock, actor, guardian)
        else:
            start = await session.get(GuardianStart, actor.telegram_user_id)
            left = start is not None and start.asked is not None
            if start is not None:
                start.asked, start.updated_at = None, svc.clock.now()
        lang = await chat_language(session, actor, guardian)
        prompt = say(lang, "cancel", "cancel.done" if left else "cancel.nothing")
        return await show(session, present, actor, prompt)


async def take_text(
    svc: Services, actor: Actor, text: str, *, present: Present | None = None
) -> Prompt:
    """Typed text: the answer to the form's open question, else the guardian's position
    in a hearing (which answers in a transaction of its own), else a pointer to what can
    be done."""
    async with svc.sessions.begin() as session:
        guardian = await get_guardian_by_telegram(session, actor.telegram_user_id)
        prompt = await form_answers.take_open(
            session, svc.cipher, svc.clock, actor, guardian, text, present
        )
        if prompt is not None:
            return prompt
        heard = await hearing.open_hearing(session, actor) if guardian is not None else None
        if heard is None:
            stray = await _stray(session, actor, guardian, "stray")
            return await show(session, present, actor, stray)
    return await hearing.state_position(svc.deciding, actor, heard, text, present=present)


async def not_text(svc: Services, actor: Actor, *, present: Present | None = None) -> Prompt:
    """A sticker, photo, voice or location: in the form, ask for text; else a pointer."""
    async with svc.sessions.begin() as session:
        guardian = await get_guardian_by_telegram(session, actor.telegram_user_id)
        if guardian is not None and await form_answers.has_open_question(
            session, svc.cipher, guardian
        ):
            prompt = say(guardian_lang(guardian), "not_text", "form.not_text")
        else:
            prompt = await _stray(session, actor, guardian, "unsupported")
        if prompt.purpose == "unsupported":
            svc.metrics.unexpected_updates.labels("content").inc()
        return await show(session, present, actor, prompt)


async def _stray(
    session: AsyncSession, actor: Actor, guardian: Guardian | None, purpose: str
) -> Prompt:
    """Nothing waits for this: a chat asked for its phone is shown the button again."""
    lang = await chat_language(session, actor, guardian)
    if guardian is None:
        start = await session.get(GuardianStart, actor.telegram_user_id)
        if start is not None and start.asked == "contact":
            return phone_prompt(lang, "use_button", "identity.use_button")
    key = "form.nothing_to_answer" if purpose == "stray" else "error.unsupported"
    return say(lang, purpose, key)
