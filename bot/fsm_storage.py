"""Choice of the aiogram FSM storage: Redis when configured, else the service's database."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.settings import Settings
from storage.crypto import DataCipher
from storage.fsm import FSM_PREFIX, SqlStorage, fsm_key_builder


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
        # Each write sets the key's lifetime: an abandoned dialog expires like an
        # untouched `fsm_states` row is purged (see `bound_redis_dialogs`).
        return RedisStorage.from_url(
            settings.REDIS_URL,
            state_ttl=dialog_lifetime(settings),
            data_ttl=dialog_lifetime(settings),
            key_builder=fsm_key_builder(),
            json_dumps=partial(_seal, cipher),
            json_loads=partial(_open, cipher),
        )
    return SqlStorage(sessions, cipher, clock.now)


def dialog_lifetime(settings: Settings) -> timedelta:
    """How long a dialog nobody touches is kept: the retention period."""
    return timedelta(days=settings.RETENTION_DAYS)


async def bound_redis_dialogs(settings: Settings) -> int:
    """Give every Redis dialog key without a lifetime one; return how many there were.

    Keys written before dialogs had a lifetime would otherwise stay forever. Their age
    is unknown, so they get the full retention period from now.
    """
    assert settings.REDIS_URL is not None
    ttl = int(dialog_lifetime(settings).total_seconds())
    redis = Redis.from_url(settings.REDIS_URL)
    bounded = 0
    try:
        async for key in redis.scan_iter(match=f"{FSM_PREFIX}:*", count=500):
            if await redis.expire(key, ttl, nx=True):
                bounded += 1
    finally:
        await redis.aclose()
    return bounded


def _seal(cipher: DataCipher, data: dict[str, Any]) -> str:
    return cipher.encrypt_json(data).decode("ascii")


def _open(cipher: DataCipher, value: str) -> dict[str, Any]:
    return cipher.decrypt_json(value.encode("ascii"))
