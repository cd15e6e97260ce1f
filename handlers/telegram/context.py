"""Per-update context the middlewares give handlers: who acts, and from which update."""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message, Update

from bot.texts import parse_lang
from bot.usecases.access import Actor


def actor_of(event: Message | CallbackQuery, update: Update) -> Actor:
    """The acting user and chat; `origin` ties replies to this one update."""
    user = event.from_user
    assert user is not None
    chat = (
        event.chat if isinstance(event, Message) else event.message.chat if event.message else None
    )
    chat_id = chat.id if chat is not None else user.id
    return Actor(
        telegram_user_id=user.id,
        chat_id=chat_id,
        origin=f"u{update.update_id}",
        display_name=user.full_name,
        interface_lang=parse_lang(user.language_code),
    )
