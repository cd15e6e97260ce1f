"""aiogram FSM storage on the service's own database, so a dialog survives a restart.

One row per conversation key holds the state name and the data mapping. The data is
encrypted, because a half-finished dialog can hold an address or an IIN. A row with
neither state nor data is deleted, so finished dialogs leave nothing behind.

Dialogs kept in Redis are bounded by `storage.redis_dialogs`. This is the only module in
`storage/` that imports aiogram.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StateType,
    StorageKey,
)
from sqlalchemy import CursorResult, Insert, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.crypto import DataCipher
from storage.models.fsm import FsmRecord
from storage.redis_dialogs import FSM_PREFIX

KEY_MAX_LENGTH = 200  # FsmRecord.key is String(200)


def fsm_key_builder() -> DefaultKeyBuilder:
    """Return the key builder both FSM backends use, so SQL rows and Redis keys agree."""
    return DefaultKeyBuilder(prefix=FSM_PREFIX, with_destiny=True, with_bot_id=True)


class SqlStorage(BaseStorage):
    """FSM state and encrypted data in the `fsm_states` table; each call is one transaction."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cipher: DataCipher,
        clock: Callable[[], datetime],
        key_builder: KeyBuilder | None = None,
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._clock = clock
        self._key_builder = key_builder or fsm_key_builder()

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        """Set the state; `None` (or an unnamed `State()`) clears it."""
        value = state.state if isinstance(state, State) else state
        row_key = self._row_key(key)
        async with self._sessions.begin() as session:
            if value is None:
                await self._clear(session, row_key, "state")
            else:
                await self._upsert(session, row_key, {"state": value})

    async def get_state(self, key: StorageKey) -> str | None:
        """Return the current state name, or None."""
        row_key = self._row_key(key)
        async with self._sessions.begin() as session:
            return await session.scalar(select(FsmRecord.state).where(FsmRecord.key == row_key))

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        """Replace the data; an empty mapping clears it."""
        if not isinstance(data, dict):
            msg = f"Data must be a dict or dict-like object, got {type(data).__name__}"
            raise DataNotDictLikeError(msg)
        row_key = self._row_key(key)
        async with self._sessions.begin() as session:
            await self._write_data(session, row_key, data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        """Return a fresh copy of the data (empty when there is none)."""
        row_key = self._row_key(key)
        async with self._sessions.begin() as session:
            token = await session.scalar(select(FsmRecord.data_enc).where(FsmRecord.key == row_key))
        return self._cipher.decrypt_json(token) if token else {}

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        """Merge `data` into the stored data (like `dict.update`) and return the result.

        Read and write happen in one transaction with the row locked, so concurrent
        updates of one key never lose each other's fields. The row is made to exist
        first because `FOR UPDATE` cannot lock a row that is not there yet. SQLite
        serialises writers with BEGIN IMMEDIATE instead of row locks.
        """
        row_key = self._row_key(key)
        async with self._sessions.begin() as session:
            await session.execute(self._insert(session, {"key": row_key, **self._stamp()}, None))
            token = await session.scalar(
                select(FsmRecord.data_enc).where(FsmRecord.key == row_key).with_for_update()
            )
            merged = self._cipher.decrypt_json(token) if token else {}
            merged.update(data)
            await self._write_data(session, row_key, merged)
        return merged.copy()

    async def delete_stale(self, updated_before: datetime) -> int:
        """Delete dialogs untouched since `updated_before`; return how many.

        An abandoned dialog keeps its encrypted data forever otherwise; a retention
        job can call this with its cut-off.
        """
        async with self._sessions.begin() as session:
            result = cast(
                CursorResult[Any],
                await session.execute(
                    delete(FsmRecord).where(FsmRecord.updated_at < updated_before)
                ),
            )
        return int(result.rowcount)

    async def close(self) -> None:
        """Do nothing: the engine belongs to the application, which disposes of it."""

    def _row_key(self, key: StorageKey) -> str:
        row_key = self._key_builder.build(key)
        if len(row_key) > KEY_MAX_LENGTH:
            raise ValueError(f"FSM key is longer than {KEY_MAX_LENGTH} characters")
        return row_key

    def _stamp(self) -> dict[str, Any]:
        return {"updated_at": self._clock()}

    async def _write_data(
        self, session: AsyncSession, row_key: str, data: Mapping[str, Any]
    ) -> None:
        if data:
            await self._upsert(
                session, row_key, {"data_enc": self._cipher.encrypt_json(dict(data))}
            )
        else:
            await self._clear(session, row_key, "data_enc")

    async def _upsert(self, session: AsyncSession, row_key: str, values: dict[str, Any]) -> None:
        changes = {**values, **self._stamp()}
        await session.execute(self._insert(session, {"key": row_key, **changes}, changes))

    async def _clear(self, session: AsyncSession, row_key: str, column: str) -> None:
        """Null one column, then drop the row if the other one is empty too."""
        await session.execute(
            update(FsmRecord)
            .where(FsmRecord.key == row_key)
            .values({column: None, **self._stamp()})
        )
        await session.execute(
            delete(FsmRecord).where(
                FsmRecord.key == row_key,
                FsmRecord.state.is_(None),
                FsmRecord.data_enc.is_(None),
            )
        )

    @staticmethod
    def _insert(
        session: AsyncSession, row: dict[str, Any], on_conflict: dict[str, Any] | None
    ) -> Insert:
        """INSERT of `row` that updates `on_conflict` columns (or does nothing) on a clash."""
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            pg = postgresql.insert(FsmRecord).values(row)
            if on_conflict is None:
                return pg.on_conflict_do_nothing(index_elements=[FsmRecord.key])
            return pg.on_conflict_do_update(index_elements=[FsmRecord.key], set_=on_conflict)
        if dialect == "sqlite":
            lite = sqlite.insert(FsmRecord).values(row)
            if on_conflict is None:
                return lite.on_conflict_do_nothing(index_elements=[FsmRecord.key])
            return lite.on_conflict_do_update(index_elements=[FsmRecord.key], set_=on_conflict)
        raise ValueError(f"FSM storage supports SQLite and PostgreSQL, not {dialect!r}")
