"""A real `homeschool-bot run` for the browser tests: the Telegram emulator and a loopback
SMS gateway in the test's loop, and the test's own services on the process's database."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp

from bot.emulator import TelegramEmulator
from tests.conftest import DATA_KEY, SIGNAL_SECRET
from tests.e2e.harness import TOKEN, LoopbackReceiver, Stack
from tests.process import BotProcess, clean_env, free_port, midday_zone

PATIENCE_S = 30.0


async def served_stack(
    exits: AsyncExitStack, folder: Path, **settings: str
) -> tuple[Stack, LoopbackReceiver]:
    """Start the process (entered into `exits`) and return the moves and the SMS gateway."""
    emu = await exits.enter_async_context(TelegramEmulator(token=TOKEN))
    sms = await exits.enter_async_context(LoopbackReceiver())
    env = clean_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'web.db'}",
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=str(emu.base_url),
        HTTP_PORT=str(free_port()),
        SIGNAL_SECRETS=SIGNAL_SECRET.decode(),
        DATA_KEY=DATA_KEY,
        TIMEZONE=midday_zone(),
        SMS_GATEWAY_URL=sms.url,
        SMS_GATEWAY_TOKEN="sms-token",
        **settings,
    )
    process = exits.enter_context(BotProcess(folder, env))
    await process.start()
    app = await exits.enter_async_context(process.seen_from_test())
    http = await exits.enter_async_context(aiohttp.ClientSession())
    return Stack(emu, app, http, PATIENCE_S), sms
