"""Choice of the aiogram FSM storage: Redis when configured, else the service's database."""

from __future__ import annotations

from functools import partial
from typing import Any

from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.redis import RedisStorage
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.settings import Settings
from storage.crypto import DataCipher
from storage.fsm import SqlStorage, fsm_key_builder


def build_fsm_storage(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    cipher: DataCipher,
    clock: Clock,
) -> BaseStorage:
    """Return a RedisStorage when REDIS_URL is set, else a SqlStorage on `sessions`.

    Both backends encrypt the data mapping with DATA_KEY: dialog data can hold personal
    data, and a Redis dump is as much "at rest" as a database file. Both build keys the
    same way (bot id and destiny included). The caller closes the storage on shutdown.
    """
    if settings.REDIS_URL:
        return RedisStorage.from_url(
            settings.REDIS_URL,
            key_builder=fsm_key_builder(),
            json_dumps=partial(_seal, cipher),
            json_loads=partial(_open, cipher),
        )
    return SqlStorage(sessions, cipher, clock.now)


def _seal(cipher: DataCipher, data: dict[str, Any]) -> str:
    return cipher.encrypt_json(data).decode("ascii")


def _open(cipher: DataCipher, value: str) -> dict[str, Any]:
    return cipher.decrypt_json(value.encode("ascii"))
