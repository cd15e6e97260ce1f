"""Outer middlewares: resolve the language and the acting user once per update."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, TelegramObject, Update
from aiogram.types.update import UpdateTypeLookupError

from bot.runtime import Services
from bot.texts import DEFAULT_LANG, Lang, parse_lang
from bot.usecases.identity import known_language
from handlers.telegram.context import LANG_KEY, actor_of, lang_value

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
_FIELD_NAME = re.compile(r"[a-z_]{1,40}")


class UnknownUpdateMiddleware(BaseMiddleware):
    """Updates of a type aiogram does not know: logged by their field names, never raw.

    aiogram itself would print a warning with the whole update (names, phone numbers,
    message text) on stderr, outside the log and its format.
    """

    def __init__(self, count: Callable[[], None]) -> None:
        self._count = count

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Update):
            try:
                _ = event.event_type
            except UpdateTypeLookupError:
                names = sorted(k for k in event.model_extra or {} if _FIELD_NAME.fullmatch(k))
                log.warning(
                    "ignored update %s of an unknown type (fields: %s)",
                    event.update_id,
                    ", ".join(names[:5]) or "none",
                )
                self._count()
                return None
        return await handler(event, data)


class ContextMiddleware(BaseMiddleware):
    """Adds `lang` and `actor` to handler data for messages and button presses.

    The language is the one the person chose (FSM), else the one stored for a linked
    guardian, else their Telegram interface language if it is ours, else Kazakh.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Message | CallbackQuery) and event.from_user is not None:
            update: Update = data["event_update"]
            data["actor"] = actor_of(event, update)
            data["lang"] = await self._language(event, data)
        return await handler(event, data)

    async def _language(self, event: Message | CallbackQuery, data: dict[str, Any]) -> Lang:
        state: FSMContext | None = data.get("state")
        if state is not None:
            chosen = lang_value((await state.get_data()).get(LANG_KEY))
            if chosen is not None:
                return chosen
        svc: Services = data["svc"]
        assert event.from_user is not None
        stored = await known_language(svc, event.from_user.id)
        if stored is not None:
            if state is not None:
                await state.update_data({LANG_KEY: stored.value})
            return stored
        return parse_lang(event.from_user.language_code) or DEFAULT_LANG


class TimingMiddleware(BaseMiddleware):
    """Logs slow updates; the handler latency histogram hooks in here too."""

    def __init__(self, observe: Callable[[float], None] | None = None) -> None:
        self._observe = observe

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return await handler(event, data)
        finally:
            elapsed = time.perf_counter() - started
            if self._observe is not None:
                self._observe(elapsed)
            if elapsed > 1.0:
                log.warning("slow update: %.2f s", elapsed)
