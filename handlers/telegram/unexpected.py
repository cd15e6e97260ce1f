"""Updates the bot has no use for: answered politely or ignored, never an error, counted."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, InlineQuery, Message

from bot.errors import DomainError
from bot.runtime import Services


async def on_unknown_button(query: CallbackQuery, svc: Services) -> None:
    """Tampered or ancient callback data matched no button: a toast, nothing else."""
    svc.metrics.unexpected_updates.labels("callback_query").inc()
    raise DomainError("error.stale_button", "callback data of no button")


async def on_edited(message: Message, svc: Services) -> None:
    """An edited answer changes nothing already recorded; the person can answer again."""
    svc.metrics.unexpected_updates.labels("edited_message").inc()


async def on_channel_post(message: Message, svc: Services) -> None:
    svc.metrics.unexpected_updates.labels("channel_post").inc()


async def on_inline_query(query: InlineQuery, svc: Services) -> None:
    """The bot offers nothing inline (inline mode stays off in BotFather): count, ignore."""
    svc.metrics.unexpected_updates.labels("inline_query").inc()


async def on_group_noise(message: Message, svc: Services) -> None:
    """Anything else outside a private chat (e.g. a non-command in a staff group)."""
    svc.metrics.unexpected_updates.labels("message").inc()


def build_router() -> Router:
    """A fresh router for each Dispatcher: aiogram attaches a router to one parent only."""
    router = Router(name=__name__)
    router.callback_query.register(on_unknown_button)
    router.edited_message.register(on_edited)
    router.channel_post.register(on_channel_post)
    router.edited_channel_post.register(on_channel_post)
    router.inline_query.register(on_inline_query)
    router.message.register(on_group_noise)
    return router
