"""`/start`, `/language`, the language buttons and the shared contact: who the guardian is."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message

from bot.runtime import Services
from bot.texts import Lang
from bot.usecases import identity, welcome
from bot.usecases.access import Actor
from handlers.telegram.callbacks import LangCb
from handlers.telegram.guardian.views import TelegramPresenter

TOKEN_MAX = 64


async def on_start(
    message: Message,
    command: CommandObject,
    svc: Services,
    actor: Actor,
    present: TelegramPresenter,
) -> None:
    """Linked guardians see their cases; others share their phone."""
    token = (command.args or "").strip()[:TOKEN_MAX] or None
    await welcome.start(svc, actor, token, present=present)


async def on_language_command(
    message: Message, svc: Services, actor: Actor, present: TelegramPresenter
) -> None:
    await welcome.offer_languages(svc, actor, present=present)


async def on_language_chosen(
    query: CallbackQuery,
    callback_data: LangCb,
    svc: Services,
    actor: Actor,
    present: TelegramPresenter,
) -> None:
    await welcome.choose_language(svc, actor, callback_data.code, present=present)


def language_button(message: Message, svc: Services) -> dict[str, Lang] | bool:
    """A tap on a language button of the phone's keyboard: its label, sent as text."""
    lang = welcome.language_of_button(svc.texts, message.text)
    return {"lang": lang} if lang is not None else False


async def on_language_tapped(
    message: Message, lang: Lang, svc: Services, actor: Actor, present: TelegramPresenter
) -> None:
    await welcome.choose_language(svc, actor, lang.value, present=present)


async def on_contact(
    message: Message, svc: Services, actor: Actor, present: TelegramPresenter
) -> None:
    """Only the sender's own contact proves who they are; a forwarded card proves nothing."""
    assert message.contact is not None and message.from_user is not None
    if message.contact.user_id != message.from_user.id:
        await welcome.refuse_contact(svc, actor, present=present)
        return
    await identity.link_by_contact(svc, actor, message.contact.phone_number, present=present)


def build_router() -> Router:
    """A fresh router for each Dispatcher: aiogram attaches a router to one parent only."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(on_start, CommandStart())
    router.message.register(on_language_command, Command("language"))
    router.callback_query.register(on_language_chosen, LangCb.filter())
    router.message.register(on_contact, F.contact)
    router.message.register(on_language_tapped, F.text, language_button)
    return router
