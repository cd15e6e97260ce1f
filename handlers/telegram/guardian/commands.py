"""`/status`, `/help`, `/cancel` and everything the guardian sends outside a question."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.runtime import Services
from bot.texts import Lang
from bot.usecases import form_answers, hearing
from bot.usecases.access import Actor
from bot.usecases.guardian_status import status_text
from bot.usecases.replies import reply
from handlers.telegram.context import CASE_KEY, data_value, enter_step


async def on_status(message: Message, svc: Services, actor: Actor, lang: Lang) -> None:
    text = await status_text(svc, actor.telegram_user_id, lang)
    await reply(svc, actor, text or svc.texts(lang, "status.none"), purpose="status")


async def on_help(message: Message, svc: Services, actor: Actor, lang: Lang) -> None:
    await reply(svc, actor, svc.texts(lang, "help.text"), purpose="help")


async def on_cancel(
    message: Message, state: FSMContext, svc: Services, actor: Actor, lang: Lang
) -> None:
    """Leave the current step; answers already given stay in the draft."""
    if await state.get_state() is None:
        await reply(svc, actor, svc.texts(lang, "cancel.nothing"), purpose="cancel")
        return
    case_id = await data_value(state, CASE_KEY)
    if isinstance(case_id, str):
        await form_answers.leave_question(svc, actor, case_id)
    await state.set_state(None)
    await state.update_data({CASE_KEY: None})
    await reply(svc, actor, svc.texts(lang, "cancel.done"), purpose="cancel")


async def on_stray_text(
    message: Message, state: FSMContext, svc: Services, actor: Actor, lang: Lang
) -> None:
    """Text outside a question, unless a question still waits (see `open_question`) or
    a hearing awaits the guardian's position (see `open_hearing`)."""
    assert message.text is not None
    waiting = await form_answers.open_question(svc, actor)
    if waiting is None:
        heard = await hearing.open_hearing(svc, actor)
        if heard is not None:
            await hearing.state_position(svc, actor, heard, message.text)
            return
        await reply(svc, actor, svc.texts(lang, "form.nothing_to_answer"), purpose="stray")
        return
    case_id, asked = waiting
    step = await form_answers.answer_text(svc, actor, case_id, message.text, asked)
    await enter_step(state, case_id, step)


async def on_unsupported(message: Message, svc: Services, actor: Actor, lang: Lang) -> None:
    """Stickers, photos, voice, locations, documents outside the form: a polite pointer."""
    svc.metrics.unexpected_updates.labels("content").inc()
    await reply(svc, actor, svc.texts(lang, "error.unsupported"), purpose="unsupported")


def build_router() -> Router:
    """A fresh router for each Dispatcher: aiogram attaches a router to one parent only."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.message.register(on_status, Command("status"))
    router.message.register(on_help, Command("help"))
    router.message.register(on_cancel, Command("cancel"))
    router.message.register(on_stray_text, F.text)
    router.message.register(on_unsupported)
    return router
