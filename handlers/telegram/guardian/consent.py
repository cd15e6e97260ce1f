"""Consent: the notice's agree / decline buttons, the way back, and `/withdraw`."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.runtime import Services
from bot.usecases import consent
from bot.usecases.access import Actor
from handlers.telegram.callbacks import CaseAction, CaseCb
from handlers.telegram.guardian.views import TelegramPresenter


def _message_id(query: CallbackQuery) -> int | None:
    return query.message.message_id if query.message else None


async def on_agree(
    query: CallbackQuery,
    callback_data: CaseCb,
    svc: Services,
    actor: Actor,
    present: TelegramPresenter,
) -> None:
    """Consent given: the first question of the form (or its summary) follows."""
    await consent.agree(svc, actor, callback_data.case_id, _message_id(query), present=present)


async def on_decline(
    query: CallbackQuery,
    callback_data: CaseCb,
    svc: Services,
    actor: Actor,
    present: TelegramPresenter,
) -> None:
    await consent.decline(svc, actor, callback_data.case_id, _message_id(query), present=present)


async def on_changed_mind(
    query: CallbackQuery,
    callback_data: CaseCb,
    svc: Services,
    actor: Actor,
    present: TelegramPresenter,
) -> None:
    await consent.ask_again(svc, actor, callback_data.case_id, present=present)


async def on_withdraw_command(message: Message, svc: Services, actor: Actor) -> None:
    """Before the form's routes: `/withdraw` typed mid-form is the command, not an answer."""
    await consent.offer_withdrawal(svc, actor)


async def on_withdraw(
    query: CallbackQuery,
    callback_data: CaseCb,
    svc: Services,
    actor: Actor,
    present: TelegramPresenter,
) -> None:
    case_id = callback_data.case_id
    await consent.withdraw(svc, actor, case_id, _message_id(query), present=present)


def build_router() -> Router:
    """A fresh router for each Dispatcher: aiogram attaches a router to one parent only."""
    router = Router(name=__name__)
    router.callback_query.register(on_agree, CaseCb.filter(F.action == CaseAction.AGREE))
    router.callback_query.register(on_decline, CaseCb.filter(F.action == CaseAction.DECLINE))
    router.callback_query.register(on_changed_mind, CaseCb.filter(F.action == CaseAction.AGAIN))
    router.message.register(on_withdraw_command, Command("withdraw"), F.chat.type == "private")
    router.callback_query.register(on_withdraw, CaseCb.filter(F.action == CaseAction.WITHDRAW))
    return router
