"""aiogram's FSM storage, for staff chats only: Redis when configured, else the database.

The guardian's conversation is not in aiogram's FSM: where a guardian is lives in the
case, draft and `guardian_starts` rows, written in the transaction of each answer.
What is left for the FSM is the staff's two-message refusal prompt (the ground, then
the reason as a reply) in a school's group chat, per staff member, before any case
row changes. `StaffChatsOnly` keeps private chats away from the storage, so a
guardian's update costs no FSM read (aiogram asks for the state of every update).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StateType, StorageKey
from aiogram.fsm.storage.memory import SimpleEventIsolation
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
        from aiogram.fsm.storage.redis import RedisStorage  # and Redis: only when configured

        # Each write sets the key's lifetime: an abandoned dialog expires like an
        # untouched `fsm_states` row is purged (see `storage.redis_dialogs`).
        return RedisStorage.from_url(
            settings.REDIS_URL,
            state_ttl=settings.retention,
            data_ttl=settings.retention,
            key_builder=fsm_key_builder(),
            json_dumps=partial(_seal, cipher),
            json_loads=partial(_open, cipher),
        )
    return SqlStorage(sessions, cipher, clock.now)


def event_isolation(storage: BaseStorage) -> BaseEventIsolation:
    """One person's updates handled one at a time: across replicas through Redis's lock
    when the storage is Redis, else within this process."""
    if isinstance(storage, SqlStorage):
        return SimpleEventIsolation()
    from aiogram.fsm.storage.redis import RedisStorage

    assert isinstance(storage, RedisStorage), storage
    return storage.create_isolation()


def _seal(cipher: DataCipher, data: dict[str, Any]) -> str:
    return cipher.encrypt_json(data).decode("ascii")


def _open(cipher: DataCipher, value: str) -> dict[str, Any]:
    return cipher.decrypt_json(value.encode("ascii"))


class StaffChatsOnly(BaseStorage):
    """`inner` for group chats (negative chat ids); private chats have no aiogram state.

    Reading a private chat's state answers "none" without any I/O; writing one is a
    programming error, since the guardian's conversation lives in the case rows.
    """

    def __init__(self, inner: BaseStorage) -> None:
        self.inner = inner

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        if _private(key):
            if state is None or (isinstance(state, State) and state.state is None):
                return
            raise RuntimeError("a private chat's conversation is kept in the case rows")
        await self.inner.set_state(key, state)

    async def get_state(self, key: StorageKey) -> str | None:
        return None if _private(key) else await self.inner.get_state(key)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if _private(key):
            if data:
                raise RuntimeError("a private chat's conversation is kept in the case rows")
            return
        await self.inner.set_data(key, data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return {} if _private(key) else await self.inner.get_data(key)

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        if _private(key):
            await self.set_data(key, data)
            return {}
        return await self.inner.update_data(key, data)

    async def close(self) -> None:
        await self.inner.close()


def _private(key: StorageKey) -> bool:
    """Telegram gives users (and so private chats) positive ids, groups negative ones."""
    return key.chat_id > 0
