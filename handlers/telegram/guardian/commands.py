"""`/status`, `/help`, `/cancel`, and everything else the guardian types or sends.

Registered after every command of the other guardian routers: a text starting with
"/" is a command, never an answer, even in the middle of the form.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.runtime import Services
from bot.usecases import guardian_chat
from bot.usecases.access import Actor
from handlers.telegram.guardian.views import TelegramPresenter


async def on_status(
    message: Message, svc: Services, actor: Actor, present: TelegramPresenter
) -> None:
    await guardian_chat.tell_status(svc, actor, present=present)


async def on_help(
    message: Message, svc: Services, actor: Actor, present: TelegramPresenter
) -> None:
    """`/help`, and any command the bot does not have (in a private chat, mistyped)."""
    await guardian_chat.tell(svc, actor, "help", "help.text", present=present)


async def on_cancel(
    message: Message, svc: Services, actor: Actor, present: TelegramPresenter
) -> None:
    """Leave the current step; answers already given stay in the draft."""
    await guardian_chat.cancel(svc, actor, present=present)


async def on_text(
    message: Message, svc: Services, actor: Actor, present: TelegramPresenter
) -> None:
    """An answer to the question open in the form, a position in a hearing, or stray."""
    assert message.text is not None
    await guardian_chat.take_text(svc, actor, message.text, present=present)


async def on_not_text(
    message: Message, svc: Services, actor: Actor, present: TelegramPresenter
) -> None:
    """Stickers, photos, voice, locations, documents: a polite pointer."""
    await guardian_chat.not_text(svc, actor, present=present)


def build_router() -> Router:
    """A fresh router for each Dispatcher: aiogram attaches a router to one parent only."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.message.register(on_status, Command("status"))
    router.message.register(on_help, Command("help"))
    router.message.register(on_cancel, Command("cancel"))
    router.message.register(on_help, F.text.startswith("/"))
    router.message.register(on_text, F.text)
    router.message.register(on_not_text)
    return router
