"""Keep aiogram's parametrized response models alive between Bot API calls.

aiogram parses every answer with `Response[<the method's result type>]`. pydantic keeps
such parametrized models in a weak cache, so the garbage collector drops them between
calls and the next call builds the model again; with the Telegram types built on first
use (`bot.aiogram_import`) that rebuild takes 50-100 ms of CPU for `Response[Message]`.
Holding one reference per result type makes pydantic's cache return the built model.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods.base import Response, TelegramMethod, TelegramType


class KeepResponseModels(BaseRequestMiddleware):
    """A Bot session middleware that holds `Response[T]` for each result type used."""

    def __init__(self) -> None:
        self._models: dict[Any, type[Response[Any]]] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self._models:
            self._models[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)
