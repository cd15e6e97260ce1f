"""The Bot session keeps each parametrized response model, so it is built once."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.methods.base import Response
from aiogram.types import Message

from bot.response_models import KeepResponseModels


async def test_response_model_survives_garbage_collection() -> None:
    keep = KeepResponseModels()
    bot = Bot("123:ABC")
    sent: list[str] = []

    async def make_request(bot: Bot, method: Any) -> Any:
        sent.append(method.text)
        return None

    await keep(make_request, bot, SendMessage(chat_id=1, text="a"))
    built = weakref.ref(Response[Message])
    gc.collect()
    await keep(make_request, bot, SendMessage(chat_id=1, text="b"))

    assert built() is not None, "pydantic's weak cache lost Response[Message]"
    assert Response[Message] is built()  # the same model, not a rebuilt one
    assert sent == ["a", "b"]
    await bot.session.close()
