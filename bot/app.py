"""`run`'s lifecycle: start the HTTP API, bot, dispatcher and scheduler, stop them in order.

What every entry point shares (database, cipher, clock, calendar, texts) is built in
`bot.assembly`. The Telegram adapter (aiogram, and Redis for its storage) is imported
only when `BOT_TOKEN` is set: an HTTP-only service does not load it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from aiohttp import web

from bot.assembly import open_services
from bot.clock import Clock
from bot.delivery.dispatcher import OutboxDispatcher
from bot.delivery.effects import CaseDeliveryEffects
from bot.runtime import Services
from bot.settings import Settings
from bot.startup import cannot_listen
from handlers.http.app import build_web_app
from handlers.http.server import PrivateAppRunner
from handlers.web.app import mount_pages
from scheduler.setup import build_scheduler

if TYPE_CHECKING:
    from bot.telegram import TelegramRunner

log = logging.getLogger(__name__)


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
            from bot.telegram import TelegramRunner, build_bot, build_dispatcher

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
            svc.delivering,
            CaseDeliveryEffects(svc.delivering, svc.texts, svc.guardian_links),
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
