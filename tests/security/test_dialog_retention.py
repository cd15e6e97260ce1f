"""Dialogs in Redis do not outlive the retention period.

A half-finished dialog holds encrypted personal data (an address, an IIN). In the SQL
FSM storage the retention purge deletes untouched rows; Redis keys used to have no
lifetime at all, and the purge did not reach them.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator

import pytest
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis

from bot.fsm_storage import build_fsm_storage
from bot.runtime import Services
from scheduler.jobs import run_purge_personal_data
from storage.fsm import fsm_key_builder
from tests.conftest import NO_REDIS, Database, make_settings, redis_url

pytestmark = pytest.mark.redis

BOT_ID = 800_000_000 + secrets.randbelow(99_999_999)  # a key namespace of its own
DAY_S = 24 * 3600


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    url = redis_url()
    if url is None:
        pytest.skip(NO_REDIS)
    client = Redis.from_url(url)
    yield client
    async for key in client.scan_iter(match=f"fsm:{BOT_ID}:*"):
        await client.delete(key)
    await client.aclose()


def with_redis(services: Services) -> Services:
    settings = make_settings(services.settings.DATABASE_URL, REDIS_URL=redis_url())
    return dataclasses.replace(services, settings=settings)


def dialog(user_id: int) -> StorageKey:
    return StorageKey(bot_id=BOT_ID, chat_id=user_id, user_id=user_id)


async def test_dialog_written_to_redis_expires_after_the_retention_period(
    database: Database, services: Services, redis: Redis
) -> None:
    svc = with_redis(services)
    storage = build_fsm_storage(svc.settings, svc.sessions, svc.cipher, svc.clock)
    assert isinstance(storage, RedisStorage)
    key = dialog(5_001)
    try:
        await storage.set_state(key, "Intake:address")
        await storage.set_data(key, {"address": "г. Алматы, ул. Абая 150"})
    finally:
        await storage.close()

    names = [fsm_key_builder().build(key, part) for part in ("state", "data")]
    lifetimes = [await redis.ttl(name) for name in names]
    retention_s = svc.settings.RETENTION_DAYS * DAY_S
    assert all(retention_s - 60 < ttl <= retention_s for ttl in lifetimes), lifetimes


async def test_retention_purge_gives_a_lifetime_to_redis_dialogs_written_without_one(
    database: Database, services: Services, redis: Redis
) -> None:
    svc = with_redis(services)
    legacy = fsm_key_builder().build(dialog(5_002), "data")
    await redis.set(legacy, "gAAAA-encrypted-dialog-of-an-older-version")
    assert await redis.ttl(legacy) == -1

    await run_purge_personal_data(svc)

    assert 0 < await redis.ttl(legacy) <= svc.settings.RETENTION_DAYS * DAY_S
