"""End-to-end notice latency: signal accepted (202) -> notice delivered to the guardian.

    python benchmarks/latency.py --signals 1000   # about 2 min: 1,000 signals at 20/s
    python benchmarks/latency.py --signals 100    # quick run, about 25 s

The real application (`bot.app.run_application`, the code path of `run`) on a fresh
SQLite file with a clock shifted to a working morning, against the Telegram Bot API
emulator with Telegram's limits (30/s per bot, 1/s per private chat) in a child
process: it stands for Telegram, whose work is not done on our CPU or in our event loop.

N distinct users /start the bot in the emulator (their pending updates are then
dropped, so the app does not answer N /starts) and are linked through
`bot.usecases.identity.link_by_contact`, the code path of sharing one's contact; the N
link confirmations are delivered before measuring. Then N signed signals, one per
guardian (so per-chat pacing never delays a notice), are posted over loopback HTTP at a
steady `--rate` (default 20/s, below the 30/s bot limit). Latency of one signal = the
emulator's clock (CLOCK_MONOTONIC, shared by both processes) at the notice's accepted
sendMessage minus our monotonic clock when the 202 answer arrived.

Baseline in the same run, before the app starts: the round trip of a bare sendMessage
(aiogram Bot -> emulator -> answer), one per chat, at the same rate.
Goal: p50 <= 100 ms, p99 <= 500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.aiogram_import import import_aiogram_lazily  # isort: skip

import_aiogram_lazily()  # aiogram as `homeschool-bot run` loads it, before it is imported below
import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.telegram_side import telegram_side
from bot.app import run_application
from bot.clock import ShiftedClock
from bot.emulator import TelegramEmulator
from bot.settings import Settings
from bot.texts import Lang
from bot.usecases.access import Actor
from bot.usecases.identity import link_by_contact
from tests.factories import signal_payload, signed

TOKEN = "424242:benchmark-token"
SECRET = b"bench-secret"
BASELINE_CHATS = 101  # one warm-up, 100 measured
ALMATY = ZoneInfo("Asia/Almaty")
WORKING_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=ALMATY)  # a Wednesday


def phone_of(n: int) -> str:
    return f"+7701{n:07d}"


async def serve_emulator(users: int) -> None:
    """Child process: the emulator with `users` started chats, until stdin closes."""
    emu = TelegramEmulator(TOKEN)  # Telegram's limits

    async def stats(request: web.Request) -> web.Response:
        sent = [(c.params["chat_id"], c.at) for c in emu.calls_to("sendMessage") if c.ok]
        return web.json_response({"rejected_429": emu.rejected_429, "sent": sent})

    emu.app.router.add_get("/bench/stats", stats)
    await emu.start()
    chats = []
    for n in range(users):
        user = emu.user(first_name=f"User{n}", language_code="kk", phone=phone_of(n))
        await user.send_command("start")
        chats.append(user.chat_id)
    emu.state.updates.pending.clear()  # the app need not answer N /starts
    print(json.dumps({"url": emu.base_url, "chats": chats}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await emu.stop()


async def sent_calls(http: aiohttp.ClientSession, base_url: str) -> dict[str, object]:
    async with http.get(f"{base_url}/bench/stats") as resp:
        return dict(await resp.json())


async def baseline(base_url: str, chats: list[int], rate: float) -> list[float]:
    """Round trips (s) of bare sendMessage calls through the emulator, one per chat."""
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
    await bot.send_message(chats[0], "warm-up")  # connection set up, not measured
    await asyncio.sleep(1.1)
    times = []
    start = time.monotonic()
    for i, chat in enumerate(chats[1:]):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        began = time.perf_counter()
        await bot.send_message(chat, f"<b>Уведомление</b> №{i}", parse_mode="HTML")
        times.append(time.perf_counter() - began)
    await bot.session.close()
    await asyncio.sleep(1.1)  # let the emulator's rate windows pass
    return times


async def wait_sent(http: aiohttp.ClientSession, base_url: str, count: int) -> None:
    # Polls the emulator in the other process: no event to wait on.
    while len(list((await sent_calls(http, base_url))["sent"])) < count:  # noqa: ASYNC110
        await asyncio.sleep(0.2)


async def run(signals: int, rate: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="latency-bench-"))
    async with telegram_side(__file__, "--serve-emulator", f"--signals={signals}") as hello:
        chats, emu_url = hello["chats"], hello["url"]
        settings = Settings(
            _env_file=None,
            DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'bench.db'}",
            DATA_KEY=Fernet.generate_key().decode(),
            SIGNAL_SECRETS=SECRET.decode(),
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=emu_url,
            HTTP_PORT=0,
        )
        base_times = await baseline(emu_url, chats[:BASELINE_CHATS], rate)
        chats = chats[BASELINE_CHATS:]
        clock = ShiftedClock(WORKING_MORNING, ALMATY)
        async with run_application(settings, clock=clock) as app, aiohttp.ClientSession() as http:
            already = len(list((await sent_calls(http, emu_url))["sent"]))  # type: ignore[arg-type]
            for n, chat in enumerate(chats):
                actor = Actor(telegram_user_id=chat, chat_id=chat, origin=f"bench-link:{n}")
                await link_by_contact(app.svc, actor, phone_of(n), Lang.KK, None)
            await wait_sent(http, emu_url, already + len(chats))  # link confirmations
            api = f"http://127.0.0.1:{app.port}/api/v1/signals/vkk"
            accepted_at: dict[int, float] = {}

            async def post(n: int, chat: int) -> None:
                payload = signal_payload(guardian={"phone": phone_of(n), "iin": None})
                body, headers = signed(payload, SECRET, clock.timestamp())
                async with http.post(api, data=body, headers=headers) as resp:
                    accepted_at[chat] = time.monotonic()
                    assert resp.status == 202, await resp.text()

            posted = time.monotonic()
            tasks = []
            for n, chat in enumerate(chats):
                await asyncio.sleep(max(0.0, posted + n / rate - time.monotonic()))
                tasks.append(asyncio.create_task(post(n, chat)))
            await asyncio.gather(*tasks)
            await wait_sent(http, emu_url, already + 2 * len(chats))
            stats = await sent_calls(http, emu_url)
    notice_at: dict[int, float] = {}
    for raw_chat, at in stats["sent"]:  # type: ignore[attr-defined]
        chat = int(raw_chat)  # form-encoded by aiogram: a string
        if chat in accepted_at and at >= accepted_at[chat] and chat not in notice_at:
            notice_at[chat] = at
    latencies = sorted(notice_at[c] - accepted_at[c] for c in notice_at)
    report(latencies, sorted(base_times), signals, rate, int(stats["rejected_429"]))  # type: ignore[call-overload]


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def report(lat: list[float], base: list[float], signals: int, rate: float, rej: int) -> None:
    ms = 1000.0
    b50 = statistics.median(base)
    print(f"signals            {signals} at {rate:.0f}/s, one per linked guardian")
    print(f"notices measured   {len(lat)}; 429 answers from the emulator: {rej}")
    print(
        f"baseline           bare sendMessage round trip p50 {b50 * ms:.1f} ms, "
        f"p99 {pct(base, 99) * ms:.1f} ms ({len(base)} calls)"
    )
    for name, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100)):
        value = pct(lat, p)
        print(f"latency {name}        {value * ms:7.1f} ms = {value / b50:6.1f}x baseline p50")
    ok50, ok99 = pct(lat, 50) <= 0.100, pct(lat, 99) <= 0.500
    verdict = "met" if ok50 and ok99 else "not met"
    print(f"goal               p50 <= 100 ms ({ok50}), p99 <= 500 ms ({ok99}): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="signals a second")
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.serve_emulator:
        asyncio.run(serve_emulator(args.signals + BASELINE_CHATS))
    else:
        asyncio.run(run(args.signals, args.rate))


if __name__ == "__main__":
    main()
