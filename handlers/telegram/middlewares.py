"""Outer middlewares: the acting user once per update, unknown updates, timing."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update
from aiogram.types.update import UpdateTypeLookupError

from handlers.telegram.context import actor_of

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
    """Adds `actor` to handler data for messages and button presses.

    Nothing is read here: the language to answer in is the use case's to find, in the
    transaction that answers (the guardian's, the chat's since `/start`, the app's).
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Message | CallbackQuery) and event.from_user is not None:
            update: Update = data["event_update"]
            data["actor"] = actor_of(event, update)
        return await handler(event, data)


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
