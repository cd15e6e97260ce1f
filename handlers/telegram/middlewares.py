"""Outer middlewares: the acting user once per update, unknown updates, timing, taps."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message, TelegramObject, Update
from aiogram.types.update import UpdateTypeLookupError

from handlers.telegram.context import actor_of

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
_FIELD_NAME = re.compile(r"[a-z_]{1,40}")
TAP_ANSWER_WITHIN_S = 0.5
"""The longest a button press waits for its answer, however many are in flight."""


async def answer_tap(query: CallbackQuery, text: str | None = None) -> bool:
    """Answer the press if Telegram still takes an answer; True if it took this one.

    A press can be answered once, within seconds. It was answered already when the
    use case took longer than `TAP_ANSWER_WITHIN_S`, or when Telegram delivers an
    update again because our 200 came too late (or never: a crash); answering again
    fails then, and letting that failure escape would fail the update once more, and
    Telegram would redeliver it forever.
    """
    try:
        await query.answer(text, show_alert=False)
    except TelegramBadRequest as error:
        log.info("button press not answered: %s", error.message)
        return False
    return True


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


class TapMiddleware(BaseMiddleware):
    """Every button press answered within `within` seconds, however busy the bot is.

    Telegram shows a spinner on the button until the press is answered, and takes one
    answer. The handler's outcome answers it when it comes in time: empty, or, through
    the error router, a toast ("this button is no longer valid"). When the use case
    takes longer (a burst of taps queues for the database), the press is answered
    empty at `within` and a refusal then reaches the person as a message instead
    (`errors.on_domain_error`). Handlers never answer presses themselves.
    """

    def __init__(self, within: float = TAP_ANSWER_WITHIN_S) -> None:
        self._within = within

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, CallbackQuery):
            return await handler(event, data)
        early: list[asyncio.Task[bool]] = []
        timer = asyncio.get_running_loop().call_later(
            self._within, lambda: early.append(asyncio.create_task(answer_tap(event)))
        )
        try:
            result = await handler(event, data)
        finally:
            timer.cancel()
            if early:  # finished first, so that the error router finds the press answered
                await early[0]
        if not early:
            await answer_tap(event)
        return result
