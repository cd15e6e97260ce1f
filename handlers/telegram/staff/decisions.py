"""Accept / Refuse buttons on a package in a staff chat, and the typed refusal reason."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.errors import DomainError
from bot.runtime import Deciding
from bot.usecases import staff
from bot.usecases.access import Actor
from handlers.telegram.callbacks import DecisionAction, DecisionCb
from handlers.telegram.staff.states import Refusal

# The refusal in progress, in the staff member's FSM data (the only use of aiogram's FSM).
CASE_KEY, GROUND_KEY = "case_id", "ground"


async def on_accept(
    query: CallbackQuery, callback_data: DecisionCb, deciding: Deciding, actor: Actor
) -> None:
    await staff.accept_in_chat(deciding, actor, callback_data.case_id)


async def on_refuse(
    query: CallbackQuery, callback_data: DecisionCb, deciding: Deciding, actor: Actor
) -> None:
    await staff.ask_ground(deciding, actor, callback_data.case_id)


async def on_ground(
    query: CallbackQuery,
    callback_data: DecisionCb,
    state: FSMContext,
    deciding: Deciding,
    actor: Actor,
) -> None:
    if callback_data.ground not in (1, 2, 3):
        raise DomainError("error.stale_button", "tampered ground")
    await staff.ask_reason(deciding, actor, callback_data.case_id, callback_data.ground)
    await state.set_state(Refusal.reason)
    await state.update_data({CASE_KEY: callback_data.case_id, GROUND_KEY: callback_data.ground})


async def on_reason(message: Message, state: FSMContext, deciding: Deciding, actor: Actor) -> None:
    """The reason arrives as a reply to the bot's question (privacy mode lets it through)."""
    assert message.text is not None
    data = await state.get_data()
    case_id, ground = data.get(CASE_KEY), data.get(GROUND_KEY)
    if not isinstance(case_id, str) or not isinstance(ground, int):
        await state.clear()
        raise DomainError("error.stale_button", "no refusal in progress")
    await staff.refuse_in_chat(deciding, actor, case_id, ground, message.text)
    await state.set_state(None)
    await state.update_data({CASE_KEY: None, GROUND_KEY: None})


def build_router() -> Router:
    """A fresh router for each Dispatcher: aiogram attaches a router to one parent only."""
    router = Router(name=__name__)
    router.callback_query.register(on_accept, DecisionCb.filter(F.action == DecisionAction.ACCEPT))
    router.callback_query.register(on_refuse, DecisionCb.filter(F.action == DecisionAction.REFUSE))
    router.callback_query.register(on_ground, DecisionCb.filter(F.action == DecisionAction.GROUND))
    router.message.register(on_reason, Refusal.reason, F.text)
    return router
