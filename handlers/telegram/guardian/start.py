"""`/start`, the language choice and the shared contact: who the guardian is."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.callbacks import LangCb
from bot.runtime import Services
from bot.services.access import Actor
from bot.services.guardian_status import status_text
from bot.services.identity import link_by_contact, remember_language, resume_guardian
from bot.services.replies import reply
from bot.texts import Lang
from handlers.telegram.context import LANG_KEY, TOKEN_KEY, data_value
from handlers.telegram.guardian.states import Identity

TOKEN_MAX = 64


def _language_buttons(svc: Services) -> list[list[tuple[str, LangCb]]]:
    return [
        [
            (svc.texts(Lang.KK, "language.kk_button"), LangCb(code=Lang.KK.value)),
            (svc.texts(Lang.RU, "language.ru_button"), LangCb(code=Lang.RU.value)),
        ]
    ]


def _contact_keyboard(svc: Services, lang: Lang) -> dict[str, object]:
    button = {"text": svc.texts(lang, "identity.contact_button"), "request_contact": True}
    return {"keyboard": [[button]], "resize_keyboard": True, "one_time_keyboard": True}


async def on_start(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    svc: Services,
    actor: Actor,
    lang: Lang,
) -> None:
    """Linked guardians see their cases; others choose a language, then share their phone."""
    token = (command.args or "").strip()[:TOKEN_MAX] or None
    if token is not None:
        await state.update_data({TOKEN_KEY: token})
    overview = await status_text(svc, actor.telegram_user_id, lang)
    if overview is not None and token is None:
        await state.set_state(None)
        await reply(svc, actor, overview, purpose="status")
        await resume_guardian(svc, actor)
        return
    await state.set_state(Identity.language)
    await _ask_language(svc, actor, lang)


async def on_language_command(
    message: Message, state: FSMContext, svc: Services, actor: Actor, lang: Lang
) -> None:
    await _ask_language(svc, actor, lang)


async def _ask_language(svc: Services, actor: Actor, lang: Lang) -> None:
    text = svc.texts(lang, "start.choose_language")
    await reply(svc, actor, text, purpose="language", buttons=_language_buttons(svc))


async def on_language_chosen(
    query: CallbackQuery, callback_data: LangCb, state: FSMContext, svc: Services, actor: Actor
) -> None:
    lang = Lang(callback_data.code) if callback_data.code in Lang._value2member_map_ else Lang.KK
    await query.answer()
    await state.update_data({LANG_KEY: lang.value})
    await remember_language(svc, actor.telegram_user_id, lang)
    if await status_text(svc, actor.telegram_user_id, lang) is not None:
        await reply(svc, actor, svc.texts(lang, "language.chosen"), purpose="language_chosen")
        await resume_guardian(svc, actor)
        if await state.get_state() in (Identity.language.state, Identity.contact.state):
            await state.set_state(None)
        return
    await state.set_state(Identity.contact)
    await reply(
        svc,
        actor,
        svc.texts(lang, "identity.ask_contact"),
        purpose="ask_contact",
        reply_markup=_contact_keyboard(svc, lang),
    )


async def on_contact(
    message: Message, state: FSMContext, svc: Services, actor: Actor, lang: Lang
) -> None:
    """Only the sender's own contact proves who they are; a forwarded card proves nothing."""
    assert message.contact is not None and message.from_user is not None
    if message.contact.user_id != message.from_user.id:
        await reply(
            svc,
            actor,
            svc.texts(lang, "identity.not_own_contact"),
            purpose="not_own",
            reply_markup=_contact_keyboard(svc, lang),
        )
        return
    token = await data_value(state, TOKEN_KEY)
    await link_by_contact(svc, actor, message.contact.phone_number, lang, token)
    await state.set_state(None)
    await state.update_data({TOKEN_KEY: None})


async def on_not_a_contact(message: Message, svc: Services, actor: Actor, lang: Lang) -> None:
    await reply(
        svc,
        actor,
        svc.texts(lang, "identity.use_button"),
        purpose="use_button",
        reply_markup=_contact_keyboard(svc, lang),
    )


def build_router() -> Router:
    """A fresh router for each Dispatcher: aiogram attaches a router to one parent only."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(on_start, CommandStart())
    router.message.register(on_language_command, Command("language"))
    router.callback_query.register(on_language_chosen, LangCb.filter())
    router.message.register(on_contact, F.contact)
    router.message.register(on_not_a_contact, Identity.contact)
    return router
