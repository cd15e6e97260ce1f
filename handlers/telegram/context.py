"""Per-update context the middlewares give handlers: who acts, in which language."""

from __future__ import annotations

from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, Update

from bot.texts import Lang
from bot.usecases.access import Actor
from bot.usecases.application import Step
from handlers.telegram.guardian.states import STEP_STATES

LANG_KEY = "lang"
CASE_KEY = "case_id"
TOKEN_KEY = "token"


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
    )


async def enter_step(state: FSMContext, case_id: str, step: Step | None) -> None:
    """Mirror the service's next step in the FSM; None ends the form."""
    if step is None:
        await state.set_state(None)
        await state.update_data({CASE_KEY: None})
        return
    await state.set_state(STEP_STATES[step])
    await state.update_data({CASE_KEY: case_id})


async def data_value(state: FSMContext, key: str) -> Any:
    return (await state.get_data()).get(key)


def lang_value(value: Any) -> Lang | None:
    return Lang(value) if value in Lang._value2member_map_ else None
