"""Outbox dispatch throughput against Telegram's limits, enforced exactly by the emulator.

    python benchmarks/dispatch.py --messages 3000              # about 100 s at 30 msg/s
    python benchmarks/dispatch.py --messages 300               # quick run, about 10 s
    python benchmarks/dispatch.py --messages 300 --per-chat 3  # also checks chat spacing

A fresh SQLite file (migrated), the Telegram Bot API emulator with Telegram's limits
(TELEGRAM_RATE_PER_S a second per bot, 1 a second per private chat) answering 429 to
anything beyond them, and N distinct guardians who /started the bot and are linked to
their chat. One notice per guardian (or `--per-chat` each) is enqueued in one
transaction, then the real dispatcher (aiogram over loopback HTTP) sends them all.
The emulator runs in a child process: it stands for Telegram, whose work is not done
on our CPU or in our event loop.

Reported, with the goals:
- achieved rate = accepted sends / time from the first to the last accepted send (and
  end to end, from start to the last row marked sent), as a fraction of the configured
  rate: >= 0.95;
- 429 answers from the emulator: 0;
- minimum spacing between two messages to the same chat (emulator clock): >= 1 s
  (only meaningful with --per-chat > 1).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.aiogram_import import import_aiogram_lazily  # isort: skip

import_aiogram_lazily()  # aiogram as `homeschool-bot run` loads it, before it is imported below
import httpx
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.telegram_side import telegram_side
from bot.clock import Clock
from bot.delivery.dispatcher import OutboxDispatcher
from bot.domain.calendar import load_calendar
from bot.emulator import Limit, RateLimits, TelegramEmulator
from bot.runtime import Services, session_factory
from bot.settings import Settings
from bot.texts import Texts
from storage.crypto import DataCipher
from storage.migrate import upgrade_to_head
from storage.models import Guardian, OutboxMessage
from storage.outbox import Kind, OutgoingMessage, TelegramPayload, enqueue
from storage.session import create_engine

TOKEN = "424242:benchmark-token"


class CountingHooks:
    """The dispatcher alone is measured (case effects are another benchmark's business);
    `done` is set when the last expected row is delivered."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.done = asyncio.Event()

    async def delivered(
        self, session: AsyncSession, row: OutboxMessage, message_id: int | None
    ) -> None:
        self.expected -= 1
        if self.expected <= 0:
            self.done.set()

    async def undeliverable(self, session: AsyncSession, row: OutboxMessage, reason: str) -> None:
        return None


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Services on a migrated database, as the app builds them, minus the HTTP side."""
    engine = create_engine(settings.DATABASE_URL)
    try:
        await upgrade_to_head(engine)
        assert settings.DATA_KEY is not None
        wakeup = asyncio.Event()
        yield Services(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine, wakeup),
            cipher=DataCipher([settings.DATA_KEY.get_secret_value()]),
            clock=Clock(settings.zone),
            calendar=load_calendar(settings.zone),
            texts=Texts(),
            outbox_wakeup=wakeup,
        )
    finally:
        await engine.dispose()


def emulator_limits(rate: float) -> RateLimits:
    per_window = max(1, int(rate))
    return RateLimits(per_bot=Limit(per_window, per_window / rate))


async def serve_emulator(users: int, rate: float) -> None:
    """Child process: the emulator with `users` started chats, until stdin closes."""
    emu = TelegramEmulator(TOKEN, rate_limits=emulator_limits(rate))

    async def stats(request: web.Request) -> web.Response:
        accepted = [(c.params["chat_id"], c.at) for c in emu.calls_to("sendMessage") if c.ok]
        return web.json_response({"rejected_429": emu.rejected_429, "accepted": accepted})

    emu.app.router.add_get("/bench/stats", stats)
    await emu.start()
    chats = []
    for _ in range(users):
        user = emu.user()
        await user.send_command("start")
        chats.append(user.chat_id)
    print(json.dumps({"url": emu.base_url, "chats": chats}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await emu.stop()


@dataclass(frozen=True)
class EmulatorStats:
    rejected_429: int
    accepted: list[tuple[str, float]]  # (chat id, emulator monotonic time), in order


async def link_guardians(svc: Services, chats: list[int]) -> None:
    """Guardians who /started the bot, stored with their chat id."""
    now = svc.clock.now()
    rows = [
        {
            "phone_hash": svc.cipher.blind_index(f"+7701{n:07d}"),
            "telegram_user_id": chat,
            "chat_id": chat,
            "language": "ru",
            "created_at": now,
            "updated_at": now,
        }
        for n, chat in enumerate(chats)
    ]
    async with svc.sessions.begin() as session:
        await session.execute(insert(Guardian), rows)


async def enqueue_notices(svc: Services, chats: list[int], per_chat: int) -> None:
    messages = [
        OutgoingMessage(
            dedupe_key=f"bench:{chat}:{n}",
            kind=Kind.NOTICE,
            payload=TelegramPayload(
                "sendMessage",
                {"chat_id": chat, "text": f"<b>Уведомление</b> №{n}", "parse_mode": "HTML"},
            ),
        )
        for chat in chats
        for n in range(per_chat)  # a chat's messages back to back: its 1/s limit binds
    ]
    async with svc.sessions.begin() as session:
        await enqueue(session, svc.cipher, svc.clock.now(), *messages)


async def count_sent(svc: Services) -> int:
    async with svc.sessions() as session:
        query = select(func.count()).where(OutboxMessage.status == "sent")
        return int(await session.scalar(query) or 0)


async def run(messages: int, per_chat: int, rate: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="dispatch-bench-"))
    settings = Settings(
        _env_file=None,
        DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'bench.db'}",
        DATA_KEY=Fernet.generate_key().decode(),
        BOT_TOKEN=TOKEN,
        TELEGRAM_RATE_PER_S=rate,
    )
    async with telegram_side(
        __file__, "--serve-emulator", f"--messages={messages // per_chat}", f"--rate={rate}"
    ) as hello:
        chats, base_url = hello["chats"], hello["url"]
        async with open_services(settings) as svc, httpx.AsyncClient() as http:
            await link_guardians(svc, chats)
            await enqueue_notices(svc, chats, per_chat)
            total = len(chats) * per_chat
            elapsed = await dispatch_all(svc, http, base_url, total)
            assert await count_sent(svc) == total
            answer = (await http.get(f"{base_url}/bench/stats")).json()
    stats = EmulatorStats(answer["rejected_429"], [(str(c), at) for c, at in answer["accepted"]])
    report(stats, total, per_chat, rate, elapsed)


async def dispatch_all(svc: Services, http: httpx.AsyncClient, base_url: str, total: int) -> float:
    """Run the dispatcher until every row is sent; return the seconds it took."""
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
    hooks = CountingHooks(total)
    dispatcher = OutboxDispatcher(svc.delivering, hooks, bot, http)
    started = time.monotonic()
    dispatcher.start()
    await hooks.done.wait()
    await dispatcher.stop()  # the last outcome is committed when this returns
    elapsed = time.monotonic() - started
    await bot.session.close()
    return elapsed


def report(stats: EmulatorStats, total: int, per_chat: int, rate: float, elapsed: float) -> None:
    accepted = stats.accepted
    span = accepted[-1][1] - accepted[0][1]
    sustained = (len(accepted) - 1) / span if span > 0 else float("inf")
    by_chat: dict[str, list[float]] = defaultdict(list)
    for chat, at in accepted:
        by_chat[chat].append(at)
    gaps = [b - a for times in by_chat.values() for a, b in itertools.pairwise(times)]
    print(f"messages           {total} to {total // per_chat} chats ({per_chat} each)")
    print(f"accepted sends     {len(accepted)} (duplicates: {len(accepted) - total})")
    print(f"configured rate    {rate:.1f} msg/s")
    print(
        f"achieved rate      {sustained:.2f} msg/s = {sustained / rate:.3f} of configured "
        "(first to last accepted send; goal >= 0.95)"
    )
    print(
        f"end to end         {total / elapsed:.2f} msg/s = {total / elapsed / rate:.3f} "
        f"({elapsed:.1f} s from start to the last row marked sent)"
    )
    print(f"429 answers        {stats.rejected_429} (goal 0)")
    spacing = f"{min(gaps):.3f} s" if gaps else "n/a (one message per chat)"
    print(f"min chat spacing   {spacing} (goal >= 1 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--per-chat", type=int, default=1, help="messages to each chat")
    parser.add_argument("--rate", type=float, default=30.0, help="TELEGRAM_RATE_PER_S")
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.serve_emulator:
        asyncio.run(serve_emulator(args.messages, args.rate))
    else:
        asyncio.run(run(args.messages, args.per_chat, args.rate))


if __name__ == "__main__":
    main()
