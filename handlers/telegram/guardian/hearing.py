"""The "no objections" button under a preliminary refusal (the hearing, APPK art. 73)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery

from bot.runtime import Deciding
from bot.usecases import hearing
from bot.usecases.access import Actor
from handlers.telegram.callbacks import CaseAction, CaseCb
from handlers.telegram.guardian.views import TelegramPresenter


async def on_no_objections(
    query: CallbackQuery,
    callback_data: CaseCb,
    deciding: Deciding,
    actor: Actor,
    present: TelegramPresenter,
) -> None:
    await hearing.state_position(deciding, actor, callback_data.case_id, None, present=present)


def build_router() -> Router:
    """A fresh router for each Dispatcher: aiogram attaches a router to one parent only."""
    router = Router(name=__name__)
    router.callback_query.register(
        on_no_objections, CaseCb.filter(F.action == CaseAction.NO_OBJECTIONS)
    )
    return router
