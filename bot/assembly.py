"""The composition root's shared part: the services every entry point builds alike.

`run` (through `bot.app`), `demo` and the commands of `bot.cli` open the database and
build the cipher, clock, calendar and texts here, once, so they cannot drift apart.
Nothing here imports Telegram, the HTTP server or Alembic (which `storage.migrate`
loads only when the database is not at the head revision).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, closing
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock
from bot.domain.calendar import load_calendar
from bot.errors import StartupError
from bot.runtime import Services, session_factory
from bot.settings import Settings
from bot.startup import (
    database_unusable,
    is_startup_failure,
    key_file_unusable,
    migration_failed,
    shown_url,
)
from bot.texts import Texts
from storage.backup import DatabaseInUse, database_lock, sqlite_file
from storage.crypto import DataCipher, load_or_create_key_file
from storage.migrate import upgrade_to_head
from storage.session import create_engine


def build_cipher(settings: Settings) -> DataCipher:
    """Use DATA_KEY, or the generated key of the embedded default."""
    if settings.DATA_KEY is not None:
        keys = [k for k in settings.DATA_KEY.get_secret_value().split(",") if k.strip()]
    else:
        keys = [load_or_create_key_file(settings.data_dir)]
    return DataCipher(keys)


@asynccontextmanager
async def open_services(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Services]:
    """Open the database (migrated to head) and yield the services; dispose on exit.

    Raises StartupError when the database cannot be used, so every command stops with
    one line naming the setting instead of a driver's traceback.
    """
    async with AsyncExitStack() as stack:
        database = sqlite_file(settings.DATABASE_URL)
        if database is not None:
            _hold_database(stack, settings, database)
        engine = create_engine(settings.DATABASE_URL)
        stack.push_async_callback(engine.dispose)
        await _open_database(settings, engine)
        try:
            cipher = build_cipher(settings)
        except OSError as exc:
            raise key_file_unusable(settings, exc) from None
        wakeup = asyncio.Event()
        yield Services(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine, wakeup),
            cipher=cipher,
            clock=clock or Clock(settings.zone),
            calendar=load_calendar(settings.zone, settings.CALENDAR_OVERRIDES),
            texts=Texts(),
            outbox_wakeup=wakeup,
        )


def _hold_database(stack: AsyncExitStack, settings: Settings, database: Path) -> None:
    """Take the shared lock of a SQLite database's users (`restore` needs it free), and
    open the file once without aiosqlite, whose worker thread outlives a failed connect
    and then prints a traceback of its own at exit."""
    try:
        database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        stack.enter_context(database_lock(database, exclusive=False))
        with closing(sqlite3.connect(database)) as connection:
            connection.execute("PRAGMA schema_version")  # the file opens on first use
    except DatabaseInUse:
        raise StartupError(
            "DATABASE_URL",
            f"{database} is being replaced by a restore right now; start again when it is done",
        ) from None
    except (OSError, sqlite3.Error) as exc:
        raise database_unusable(settings, exc) from None


async def _open_database(settings: Settings, engine: AsyncEngine) -> None:
    """Connect and prove the database takes writes, then migrate it to head."""
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                # SQLite opens a file it may not write read-only, and BEGIN IMMEDIATE
                # still succeeds; rewriting a header field with its own value does not.
                version = await connection.scalar(text("PRAGMA user_version"))
                await connection.execute(text(f"PRAGMA user_version = {int(version or 0)}"))
            else:
                read_only = await connection.scalar(text("SHOW transaction_read_only"))
                if read_only == "on":
                    raise StartupError(
                        "DATABASE_URL",
                        f"the server only allows reading (a standby?) ({shown_url(settings)})",
                    )
    except Exception as exc:
        if is_startup_failure(exc):
            raise database_unusable(settings, exc) from None
        raise
    try:
        await upgrade_to_head(engine)
    except Exception as exc:
        if is_startup_failure(exc):
            raise migration_failed(settings, exc) from None
        raise
