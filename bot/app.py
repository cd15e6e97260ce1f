"""Assembly and lifecycle: build every long-lived object, run, and close them in order."""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock
from bot.delivery.dispatcher import OutboxDispatcher
from bot.delivery.effects import CaseDeliveryEffects
from bot.domain.calendar import load_calendar
from bot.errors import StartupError
from bot.runtime import Services, session_factory
from bot.settings import Settings
from bot.startup import (
    cannot_listen,
    database_unusable,
    is_startup_failure,
    key_file_unusable,
    migration_failed,
    shown_url,
)
from bot.telegram import TelegramRunner, build_bot, build_dispatcher
from bot.texts import Texts
from handlers.http.app import build_web_app
from handlers.http.server import PrivateAppRunner
from handlers.web.app import mount_pages
from scheduler.setup import build_scheduler
from storage.backup import DatabaseInUse, database_lock, sqlite_file
from storage.crypto import DataCipher, load_or_create_key_file
from storage.migrate import upgrade_to_head
from storage.session import create_engine

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class RunningApp:
    svc: Services
    port: int
    telegram: TelegramRunner | None
    outbox: OutboxDispatcher


@asynccontextmanager
async def run_application(
    settings: Settings, clock: Clock | None = None
) -> AsyncIterator[RunningApp]:
    """Start HTTP API, bot, outbox dispatcher and scheduler; stop them in reverse order.

    `run`, `demo` and the end-to-end tests all go through here, so they exercise the
    same wiring.
    """
    async with AsyncExitStack() as stack:
        svc = await stack.enter_async_context(open_services(settings, clock))
        web_app = build_web_app(svc)
        mount_pages(web_app, svc)
        telegram = None
        if settings.BOT_TOKEN is not None:
            bot = build_bot(svc)
            telegram = TelegramRunner(svc, bot, build_dispatcher(svc))
            # Closed last: closing the Bot's session under a send in flight loses the
            # answer to a message Telegram already took, which then goes out twice.
            stack.push_async_callback(telegram.close)
            if telegram.webhook_mode:
                telegram.mount_webhook(web_app)
        runner = PrivateAppRunner(web_app)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        try:
            await web.TCPSite(runner, settings.HTTP_HOST, settings.HTTP_PORT).start()
        except OSError as exc:
            raise cannot_listen(settings, exc) from None
        port = _bound_port(runner)
        log.info("HTTP API listening on http://%s:%s", settings.HTTP_HOST, port)
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10.0))
        outbox = OutboxDispatcher(
            svc,
            CaseDeliveryEffects(svc),
            telegram.bot if telegram else None,
            http,
            on_telegram_back=telegram.reassert_webhook if telegram else None,
        )
        svc.metrics.watch_delivery(lambda: outbox.counters)
        svc.metrics.watch_channels(outbox.health)
        outbox.start()
        stack.push_async_callback(outbox.stop)
        scheduler = build_scheduler(svc)
        scheduler.start()
        stack.callback(scheduler.shutdown, wait=False)
        if telegram is not None:
            await telegram.start()
            stack.push_async_callback(telegram.stop)
        else:
            log.info("BOT_TOKEN is not set: serving the HTTP API only, no Telegram bot")
        yield RunningApp(svc=svc, port=port, telegram=telegram, outbox=outbox)
        log.info("shutting down")


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run everything until SIGINT/SIGTERM (or `stop`), then close cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with run_application(settings):
        await stop.wait()
    log.info("stopped")


def _bound_port(runner: web.AppRunner) -> int:
    """The real port, so HTTP_PORT=0 (any free port) is reported usefully."""
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    return 0
