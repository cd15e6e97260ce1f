"""One error router: rule refusals become polite answers; anything else is logged."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from bot.errors import DomainError
from bot.runtime import Services
from bot.texts import DEFAULT_LANG, Lang, parse_lang
from bot.usecases.identity import known_language
from bot.usecases.replies import reply_unless_answered
from handlers.telegram.context import actor_of
from handlers.telegram.middlewares import answer_tap

log = logging.getLogger(__name__)

# Answers shown as a toast on the pressed button rather than as a new message.
TOAST_KEYS = frozenset({"error.not_your_case", "error.stale_button", "staff.not_your_school"})


async def _lang_of(svc: Services, event: ErrorEvent) -> Lang:
    user = event.update.message or event.update.callback_query
    if user is None or user.from_user is None:
        return DEFAULT_LANG
    stored = await known_language(svc, user.from_user.id)
    return stored or parse_lang(user.from_user.language_code) or DEFAULT_LANG


async def on_domain_error(event: ErrorEvent, svc: Services) -> None:
    """Tell the person what to do; a pressed button gets a toast, a message a reply.

    A press answered already (its use case took longer than the tap may wait) gets the
    toast's words as a reply instead.
    """
    error = event.exception
    assert isinstance(error, DomainError)
    lang = await _lang_of(svc, event)
    text = svc.texts(lang, error.text_key, **error.params)
    query = event.update.callback_query
    if query is not None:
        toast = error.text_key in TOAST_KEYS
        if await answer_tap(query, text if toast else None) and toast:
            return
    source = event.update.message or query
    if source is not None and source.from_user is not None:
        actor = actor_of(source, event.update)
        await reply_unless_answered(svc, actor, text, purpose=f"error:{error.text_key}")


async def on_unexpected_error(event: ErrorEvent, svc: Services) -> None:
    log.error("unhandled error in update %s", event.update.update_id, exc_info=event.exception)
    source = event.update.message or event.update.callback_query
    if source is None or source.from_user is None:
        return
    lang = await _lang_of(svc, event)
    if event.update.callback_query is not None:
        await answer_tap(event.update.callback_query)
    actor = actor_of(source, event.update)
    await reply_unless_answered(svc, actor, svc.texts(lang, "error.generic"), purpose="error")


def build_router() -> Router:
    """A fresh router for each Dispatcher: aiogram attaches a router to one parent only."""
    router = Router(name=__name__)
    router.errors.register(on_domain_error, ExceptionTypeFilter(DomainError))
    router.errors.register(on_unexpected_error)
    return router
