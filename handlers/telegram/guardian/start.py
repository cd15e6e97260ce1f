"""`/start`, the language choice and the shared contact: who the guardian is."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.runtime import Services
from bot.texts import Lang, parse_lang
from bot.usecases.access import Actor
from bot.usecases.guardian_status import status_text
from bot.usecases.identity import link_by_contact, remember_language, resume_guardian
from bot.usecases.replies import reply
from handlers.telegram.callbacks import LangCb
from handlers.telegram.context import LANG_KEY, TOKEN_KEY, data_value, lang_value
from handlers.telegram.guardian.states import Identity

TOKEN_MAX = 64


def _language_buttons(svc: Services) -> list[list[tuple[str, LangCb]]]:
    return [
        [
            (svc.texts(Lang.KK, "language.kk_button"), LangCb(code=Lang.KK.value)),
            (svc.texts(Lang.RU, "language.ru_button"), LangCb(code=Lang.RU.value)),
        ]
    ]


def _switch_button(svc: Services, current: Lang) -> tuple[str, LangCb]:
    """The other language, labelled in itself."""
    other = Lang.RU if current is Lang.KK else Lang.KK
    return svc.texts(other, f"language.{other.value}_button"), LangCb(code=other.value)


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
    """Linked guardians see their cases; others share their phone.

    The language Telegram reports (kk or ru) is taken and named in the first message with
    a one-tap switch, so a first-time guardian does not spend an action on it; only an
    interface language that is neither is asked about.
    """
    token = (command.args or "").strip()[:TOKEN_MAX] or None
    if token is not None:
        await state.update_data({TOKEN_KEY: token})
    overview = await status_text(svc, actor.telegram_user_id, lang)
    if overview is not None:  # linked already, even when back through an SMS link
        await state.set_state(None)
        await state.update_data({TOKEN_KEY: None})
        await reply(svc, actor, overview, purpose="status")
        await resume_guardian(svc, actor)
        return
    chosen = lang_value(await data_value(state, LANG_KEY))
    told = chosen or parse_lang(message.from_user.language_code if message.from_user else None)
    if told is None:
        await state.set_state(Identity.language)
        await _ask_language(svc, actor, lang)
        return
    await state.update_data({LANG_KEY: told.value})
    await reply(
        svc,
        actor,
        svc.texts(told, "start.language_told"),
        purpose="language_told",
        buttons=[[_switch_button(svc, told)]],
    )
    await _ask_contact(state, svc, actor, told)


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
    await _ask_contact(state, svc, actor, lang)


async def _ask_contact(state: FSMContext, svc: Services, actor: Actor, lang: Lang) -> None:
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
