"""One sender per bot token: a PostgreSQL advisory lock held on a dedicated connection.

Telegram's limits apply per bot token, so two replicas pacing independently would
together send twice the allowed rate. The replica holding the lock sends; the others
stand by and try again every few seconds. The lock belongs to the database session, so
a replica that dies (or loses its connection) frees it at once and another takes over.
SQLite runs in one process: the lock is always granted there.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)


def lock_key(bot_token: str | None) -> int:
    """Return a signed 64-bit advisory lock key derived from the bot token.

    A one-way hash, so the key in `pg_locks` tells nothing about the token.
    """
    digest = hashlib.sha256(b"homeschool-bot/outbox-sender/" + (bot_token or "").encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SenderLock:
    """The right to send for one bot token."""

    def __init__(self, engine: AsyncEngine, bot_token: str | None) -> None:
        self._engine = engine
        self.key = lock_key(bot_token)
        self._postgres = engine.dialect.name == "postgresql"
        self._connection: AsyncConnection | None = None
        self.held = False

    async def acquire(self) -> bool:
        """Try to take the lock without waiting; return whether it is held now."""
        if self.held:
            return True
        if not self._postgres:
            self.held = True
            return True
        try:
            connection = await self._engine.connect()
        except (DBAPIError, SQLAlchemyError, OSError) as error:
            log.warning("outbox sender lock: cannot connect (%s)", type(error).__name__)
            return False
        try:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            statement = text("SELECT pg_try_advisory_lock(:key)")
            got = bool(await connection.scalar(statement, {"key": self.key}))
        except (DBAPIError, SQLAlchemyError, OSError):
            await connection.invalidate()
            await connection.close()
            raise
        if not got:
            await connection.close()
            return False
        self._connection = connection
        self.held = True
        return True

    async def check(self) -> bool:
        """Tell whether the lock is still held (its connection is alive)."""
        if not self.held or self._connection is None:
            return self.held
        try:
            await self._connection.scalar(text("SELECT 1"))
        except (DBAPIError, SQLAlchemyError, OSError) as error:
            log.error("outbox sender lock lost with its connection (%s)", type(error).__name__)
            await self._drop_connection()
            return False
        return True

    async def release(self) -> None:
        """Give the lock up so a standby replica can take over at once."""
        if not self.held:
            return
        self.held = False
        if self._connection is None:
            return
        try:
            await self._connection.scalar(
                text("SELECT pg_advisory_unlock(:key)"), {"key": self.key}
            )
        except (DBAPIError, SQLAlchemyError, OSError) as error:
            log.warning("outbox sender lock: unlock failed (%s)", type(error).__name__)
            await self._drop_connection()
            return
        await self._connection.close()
        self._connection = None

    async def _drop_connection(self) -> None:
        """Close the connection for good: the server then frees every lock it held."""
        self.held = False
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.invalidate()
                await connection.close()
            except (DBAPIError, SQLAlchemyError, OSError):
                log.debug("closing a broken lock connection failed", exc_info=True)
