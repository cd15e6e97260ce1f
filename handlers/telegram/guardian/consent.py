"""Consent buttons on the notice: agree, decline, and "I changed my mind"."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery

from bot.callbacks import CaseAction, CaseCb
from bot.runtime import Services
from bot.services import consent
from bot.services.access import Actor
from handlers.telegram.context import enter_step


def _message_id(query: CallbackQuery) -> int | None:
    return query.message.message_id if query.message else None


async def on_agree(
    query: CallbackQuery, callback_data: CaseCb, state: FSMContext, svc: Services, actor: Actor
) -> None:
    step = await consent.agree(svc, actor, callback_data.case_id, _message_id(query))
    await query.answer()
    await enter_step(state, callback_data.case_id, step)


async def on_decline(
    query: CallbackQuery, callback_data: CaseCb, state: FSMContext, svc: Services, actor: Actor
) -> None:
    await consent.decline(svc, actor, callback_data.case_id, _message_id(query))
    await query.answer()
    await enter_step(state, callback_data.case_id, None)


async def on_changed_mind(
    query: CallbackQuery, callback_data: CaseCb, svc: Services, actor: Actor
) -> None:
    await consent.ask_again(svc, actor, callback_data.case_id)
    await query.answer()


def build_router() -> Router:
    """A fresh router for each Dispatcher: aiogram attaches a router to one parent only."""
    router = Router(name=__name__)
    router.callback_query.register(on_agree, CaseCb.filter(F.action == CaseAction.AGREE))
    router.callback_query.register(on_decline, CaseCb.filter(F.action == CaseAction.DECLINE))
    router.callback_query.register(on_changed_mind, CaseCb.filter(F.action == CaseAction.AGAIN))
    return router
