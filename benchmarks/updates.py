"""Update throughput: guardian updates/s in webhook mode, whole stack vs. a bare aiogram bot.

    python benchmarks/updates.py --updates 1000 --rounds 3
    python benchmarks/updates.py --updates 1000 --rounds 3 \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Telegram's side runs in a child process, as in the other benchmarks (its work is not
done on our CPU): the emulator and the poster, which POSTs the updates to the webhook
the way Telegram does (secret header, keep-alive connections, at most `--concurrency`
updates in flight). Every guardian plays one script, in order, each update posted when
the previous one was answered: /status, the consent button of the real notice, a
sticker, the address, /help, the summary's confirm button, /status again (7 updates;
bodies built here as plain Update dicts). The first 16 guardians warm up, unmeasured.
Both sides' CPU use during a run is printed, to show which one is the limit.

Whole stack: `run_application` (the code path of `run`) in this process, webhook mode
(aiogram's SimpleRequestHandler, handle_in_background=False: the 200 comes after the
update is handled), the conversation in the database (one transaction per update), a
fresh SQLite file (or PostgreSQL database) per measurement. It is measured twice: as
it is, and with the application PDF rendered once and its bytes reused for every
other case ("PDF rendered once"), which shows the stack without fpdf's CPU (one
update in seven is the confirm press that renders it). Setup, unmeasured: N guardians
link their chat, one signal each opens a case at one of 20 schools with a staff chat,
and their notices are delivered (a setup run with TELEGRAM_RATE_PER_S=1000). The
measured run restarts the app with the default 30/s, so replies queue in the outbox and
go out paced in the background, as in production: updates/s measures handling, which
is what a webhook's throughput is.
Checked: every update answered 200, every press answered at the emulator, no failed
Bot API call, every update counted by the handler timing middleware, every case
submitted, no FSM state left, a queued reply for every update, no error replies.

Baseline, same updates and concurrency: a plain aiogram Dispatcher with MemoryStorage
behind the same SimpleRequestHandler, answering each update with a sendMessage (and
answerCallbackQuery for presses) straight to the emulator, keeping the form step in
its FSM; every answer is counted at the emulator. The emulator's flood limits are off,
otherwise those direct sends would be throttled at 30/s. Rounds rotate the order;
the figures are medians, and "in flight" is the median number of updates in flight
as each was posted. Bar: whole stack >= 0.25x the bare bot; goal >= 0.5x with a p99
of at most 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any
from unittest.mock import patch

from bot.aiogram_import import import_aiogram_lazily  # isort: skip

import_aiogram_lazily()  # aiogram as `homeschool-bot run` loads it, before it is imported below
import aiohttp
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import CallbackQuery, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.intake import free_port
from benchmarks.telegram_side import telegram_side
from bot.app import run_application
from bot.clock import ShiftedClock
from bot.documents import ApplicationData, render_application
from bot.emulator import RateLimits, TelegramEmulator
from bot.runtime import Services
from bot.settings import Settings
from bot.signals import VkkSignal
from bot.telegram import WEBHOOK_PATH
from bot.texts import Lang, Texts, parse_lang
from bot.usecases import submission
from bot.usecases.access import Actor
from bot.usecases.identity import link_by_contact
from bot.usecases.intake import accept_signals
from bot.usecases.registry import RegistryLine, import_school_registry
from handlers.telegram.callbacks import CaseAction, CaseCb
from handlers.telegram.guardian.views import TelegramPresenter
from storage.models import Case, FsmRecord, OutboxMessage
from tests.conftest import ALMATY
from tests.e2e.harness import TOKEN, WORKING_MORNING, eventually, stack_settings
from tests.factories import make_bin, make_phone, signal_payload

SECRET = "bench-webhook-secret-0123456789abcdef"
BAR, GOAL, GOAL_P99_MS = 0.25, 0.5, 500
SCRIPT = ("/status", "agree", "sticker", "address", "/help", "confirm", "/status")
WARMUP_GUARDIANS = 16
SCHOOLS = 20
SETUP_RATE = 1000.0  # TELEGRAM_RATE_PER_S of the setup run only
ADDRESS = "Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10"
STICKER = {
    "file_id": "CAACAgIAAxkBAAEBench",
    "file_unique_id": "AgADBench",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
    "emoji": "👍",
}
Update = dict[str, Any]


def staff_chat(school: int) -> int:
    return -1001_900_000_000 - school


# --- Telegram's side (child process): the emulator and the poster --------------------


async def serve_telegram(users: int) -> None:
    """Child process: the emulator with `users` started chats and the schools' staff
    groups, plus the poster behind /bench/load, until stdin closes."""
    emu = TelegramEmulator(TOKEN, rate_limits=RateLimits.disabled())
    emu.app.router.add_get("/bench/notices", partial(notices, emu))
    emu.app.router.add_post("/bench/load", partial(load, emu))
    await emu.start()
    handles = [
        emu.user(first_name=f"Guardian{n}", language_code=("kk", "ru")[n % 2]) for n in range(users)
    ]
    for handle in handles:
        await handle.send_command("start")
    for school in range(SCHOOLS):
        emu.group(staff_chat(school), title=f"School {school}")
    emu.state.updates.pending.clear()  # nothing for the webhook worker to deliver
    print(json.dumps({"url": emu.base_url, "users": [h.user.to_json() for h in handles]}))
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await emu.stop()


async def notices(emu: TelegramEmulator, request: web.Request) -> web.Response:
    """The latest message with a consent button in each chat, as Telegram stores it."""
    found: dict[str, Any] = {}
    for sent in emu.state.sent:
        rows = (sent.reply_markup or {}).get("inline_keyboard", [])
        if any(str(b.get("callback_data", "")).endswith(":agree") for row in rows for b in row):
            found[str(sent.chat_id)] = emu.state.chats[sent.chat_id].messages[sent.message_id]
    return web.json_response(found)


def register_presses(emu: TelegramEmulator, scripts: list[list[Update]]) -> int:
    """Make every press answerable once, as if the guardian had just tapped it."""
    presses = [u["callback_query"] for script in scripts for u in script if "callback_query" in u]
    for query in presses:
        emu.state.callback_queries[query["id"]] = {
            "data": query["data"],
            "user_id": query["from"]["id"],
            "answered": False,
        }
    return len(presses)


@dataclass
class InFlight:
    """How many updates were in flight when each was posted (itself included)."""

    now: int = 0
    seen: list[int] = field(default_factory=list)


async def post_scripts(
    url: str, scripts: list[list[Update]], concurrency: int
) -> tuple[float, list[float], list[str], InFlight]:
    """POST each script's updates in order, `concurrency` guardians at a time; return
    the wall time, each update's latency, every answer other than 200 and the updates
    in flight."""
    queue = [[json.dumps(u).encode() for u in script] for script in reversed(scripts)]
    latencies: list[float] = []
    failures: list[str] = []
    flight = InFlight()
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def guardian() -> None:
            while queue:
                for body in queue.pop():
                    flight.now += 1
                    flight.seen.append(flight.now)
                    began = time.perf_counter()
                    async with http.post(url, data=body, headers=headers) as resp:
                        answer = await resp.read()
                    latencies.append(time.perf_counter() - began)
                    flight.now -= 1
                    if resp.status != 200:
                        failures.append(f"{resp.status} {answer[:200]!r}")

        began = time.perf_counter()
        await asyncio.gather(*(guardian() for _ in range(concurrency)))
        return time.perf_counter() - began, latencies, failures, flight


async def load(emu: TelegramEmulator, request: web.Request) -> web.Response:
    """Post the scripts to the webhook; report timings and the Bot API calls they caused."""
    job = await request.json()
    presses = register_presses(emu, job["scripts"])
    first_call, cpu = len(emu.calls), time.process_time()
    wall, latencies, failures, flight = await post_scripts(
        job["url"], job["scripts"], job["concurrency"]
    )
    calls = emu.calls[first_call:]
    return web.json_response(
        {
            "wall": wall,
            "cpu": (time.process_time() - cpu) / wall,
            "latencies": latencies,
            "in_flight": statistics.median(flight.seen),
            "failures": failures,
            "presses": presses,
            "answered": sum(1 for c in calls if c.ok and c.method == "answerCallbackQuery"),
            "sent": sum(1 for c in calls if c.ok and c.method == "sendMessage"),
            "api_errors": [f"{c.method}: {c.description}" for c in calls if not c.ok],
        }
    )


# --- our side: the client of the child, the runs and their checks ---------------------


@dataclass(frozen=True)
class Run:
    rate: float
    p50_ms: float
    p99_ms: float
    in_flight: float  # median of the updates in flight as each was posted
    app_cpu: float  # share of one core this process used during the run
    telegram_cpu: float  # the same for the child (emulator + poster)


@dataclass(frozen=True)
class Telegram:
    url: str
    users: list[dict[str, Any]]
    http: aiohttp.ClientSession

    async def notices(self) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/bench/notices") as resp:
            return dict(await resp.json())

    async def load(
        self, hook: str, scripts: list[list[Update]], concurrency: int, *, bare: bool
    ) -> Run:
        """Post the scripts; fail loudly unless each was answered 200 and, for the bare
        bot, each got its sendMessage (and each press its answerCallbackQuery)."""
        job = {"url": hook, "scripts": scripts, "concurrency": concurrency}
        cpu, began = time.process_time(), time.perf_counter()
        async with self.http.post(f"{self.url}/bench/load", json=job) as resp:
            out = await resp.json()
        app_cpu = (time.process_time() - cpu) / (time.perf_counter() - began)
        updates = sum(len(script) for script in scripts)
        failures, api_errors = out["failures"], out["api_errors"]
        problems = {
            f"{len(failures)} updates not answered 200, e.g. {failures[:3]}": bool(failures),
            f"{out['answered']} of {out['presses']} presses answered": (
                out["answered"] != out["presses"]
            ),
            f"{len(api_errors)} failed Bot API calls, e.g. {api_errors[:3]}": bool(api_errors),
            f"{out['sent']} of {updates} bare answers sent": bare and out["sent"] != updates,
        }
        if any(problems.values()):
            raise RuntimeError("; ".join(p for p, failed in problems.items() if failed))
        lat = sorted(out["latencies"])
        return Run(
            rate=len(lat) / out["wall"],
            p50_ms=1000 * statistics.median(lat),
            p99_ms=1000 * statistics.quantiles(lat, n=100)[98],
            in_flight=out["in_flight"],
            app_cpu=app_cpu,
            telegram_cpu=out["cpu"],
        )


def app_settings(database_url: str, telegram_url: str, **overrides: object) -> Settings:
    port = free_port()  # the webhook URL must be known before the app binds
    return stack_settings(
        database_url,
        telegram_url,
        HTTP_PORT=port,
        WEBHOOK_BASE_URL=f"http://127.0.0.1:{port}",
        WEBHOOK_SECRET=SECRET,
        **overrides,
    )


async def open_cases(svc: Services, users: list[dict[str, Any]]) -> None:
    """Schools with staff chats, linked guardians, one case each; wait for the notices."""
    bins = [make_bin(1000 + k) for k in range(SCHOOLS)]
    lines = [
        RegistryLine(
            number=k + 2,
            cells={
                "bin": b,
                "name_kk": f"№ {k} мектеп",
                "name_ru": f"Школа № {k}",
                "authority_ru": "Управление образования",
                "telegram_chat_id": str(staff_chat(k)),
            },
        )
        for k, b in enumerate(bins)
    ]
    assert (await import_school_registry(svc, lines)).imported == SCHOOLS
    present = TelegramPresenter(svc.texts, svc.cipher, svc.clock)  # link confirmations
    for n, user in enumerate(users):
        actor = Actor(telegram_user_id=user["id"], chat_id=user["id"], origin=f"bench-link:{n}")
        lang = parse_lang(user.get("language_code")) or Lang.KK
        await link_by_contact(svc, actor, make_phone(n), lang, present=present)
    signals = [
        VkkSignal.model_validate(
            signal_payload(
                guardian={"phone": make_phone(n), "iin": None},
                school={"bin": bins[n % SCHOOLS], "grade": 4},
            )
        )
        for n in range(len(users))
    ]
    refused = [r for r in await accept_signals(svc.opening, signals) if isinstance(r, Exception)]
    assert not refused, refused[:3]

    async def all_notified() -> bool:
        async with svc.sessions() as session:
            query = select(func.count()).where(Case.status == "notified")
            return await session.scalar(query) == len(users)

    await eventually(all_notified, timeout=300, what="every notice delivered")


def guardian_script(first_id: int, user: dict[str, Any], notice: dict[str, Any]) -> list[Update]:
    """The updates one guardian sends, in order, with update ids from `first_id`."""
    agree = next(
        str(b["callback_data"])
        for row in notice["reply_markup"]["inline_keyboard"]
        for b in row
        if str(b.get("callback_data", "")).endswith(":agree")
    )
    confirm = CaseCb(case_id=CaseCb.unpack(agree).case_id, action=CaseAction.CONFIRM).pack()
    chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    updates: list[Update] = []
    for update_id, step in enumerate(SCRIPT, first_id):
        if step in ("agree", "confirm"):
            data = agree if step == "agree" else confirm
            query = {
                "id": f"q{update_id}",
                "from": user,
                "message": notice,
                "chat_instance": str(user["id"]),
                "data": data,
            }
            updates.append({"update_id": update_id, "callback_query": query})
            continue
        content: dict[str, Any] = {"sticker": STICKER} if step == "sticker" else {"text": step}
        if step.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(step)}]
        elif step == "address":
            content["text"] = ADDRESS
        message = {"message_id": update_id, "date": int(time.time()), "chat": chat, "from": user}
        updates.append({"update_id": update_id, "message": {**message, **content}})
    return updates


async def prepare_round(database_url: str, telegram: Telegram) -> list[list[Update]]:
    """Open the cases (unmeasured setup run) and return one script per guardian."""
    settings = app_settings(database_url, telegram.url, TELEGRAM_RATE_PER_S=SETUP_RATE)
    async with run_application(settings, clock=ShiftedClock(WORKING_MORNING, ALMATY)) as app:
        await open_cases(app.svc, telegram.users)
    found = await telegram.notices()
    return [
        guardian_script(1 + n * len(SCRIPT), user, found[str(user["id"])])
        for n, user in enumerate(telegram.users)
    ]


def handled_updates(svc: Services) -> float:
    """Updates the handler timing middleware saw (messages and button presses)."""
    return svc.metrics.registry.get_sample_value("homeschool_update_handling_seconds_count") or 0


async def check_full(svc: Services, scripts: list[list[Update]], handled: float) -> None:
    """Prove the whole stack did the work: DB rows, FSM and queued replies."""
    updates = [u for script in scripts for u in script]
    case_ids = [CaseCb.unpack(s[1]["callback_query"]["data"]).case_id for s in scripts]
    async with svc.sessions() as session:
        done = Case.id.in_(case_ids) & Case.submitted_at.is_not(None)
        submitted = await session.scalar(select(func.count()).where(done))
        in_form = await session.scalar(select(func.count()).where(FsmRecord.state.is_not(None)))
        keys = list((await session.scalars(select(OutboxMessage.dedupe_key))).all())
    replied = {int(m[1]) for k in keys if (m := re.match(r"u(\d+):", k))}
    unanswered = [
        u["update_id"]
        for u in updates
        if u["update_id"] not in replied
        and not u.get("callback_query", {}).get("data", "").endswith(":confirm")
    ]
    problems = {
        "updates not seen by the handlers": len(updates) - (handled_updates(svc) - handled),
        "cases not submitted": len(scripts) - (submitted or 0),
        "FSM states left": in_form or 0,
        "updates without a queued reply": len(unanswered),
        "error replies": sum(1 for k in keys if ":error" in k),
    }
    if any(problems.values()):
        raise RuntimeError(f"the whole stack did not handle every update: {problems}")


async def measure_full(
    database_url: str, telegram: Telegram, scripts: list[list[Update]], concurrency: int
) -> Run:
    settings = app_settings(database_url, telegram.url)
    async with run_application(settings, clock=ShiftedClock(WORKING_MORNING, ALMATY)) as app:
        hook = f"http://127.0.0.1:{app.port}{WEBHOOK_PATH}"
        await telegram.load(hook, scripts[:WARMUP_GUARDIANS], concurrency, bare=False)
        handled = handled_updates(app.svc)
        run = await telegram.load(hook, scripts[WARMUP_GUARDIANS:], concurrency, bare=False)
        await check_full(app.svc, scripts[WARMUP_GUARDIANS:], handled)
    return run


class BareForm(StatesGroup):
    address = State()
    summary = State()


def bare_router(texts: Texts) -> Router:
    """Answers of the same kinds, each a direct sendMessage; the form step in the FSM."""
    router = Router(name="bare")

    def lang(event: Message | CallbackQuery) -> Lang:
        return parse_lang(event.from_user.language_code if event.from_user else None) or Lang.KK

    @router.message(Command("status"))
    async def on_status(message: Message, state: FSMContext) -> None:
        await state.get_data()
        await message.answer(texts(lang(message), "status.none"))

    @router.message(Command("help"))
    async def on_help(message: Message) -> None:
        await message.answer(texts(lang(message), "help.text"))

    @router.callback_query(CaseCb.filter(F.action == CaseAction.AGREE))
    async def on_agree(query: CallbackQuery, callback_data: CaseCb, state: FSMContext) -> None:
        await query.answer()
        await state.set_state(BareForm.address)
        await state.update_data(case_id=callback_data.case_id)
        assert isinstance(query.message, Message)
        await query.message.answer(texts(lang(query), "form.ask_address"))

    @router.message(BareForm.address, F.text)
    async def on_address(message: Message, state: FSMContext) -> None:
        await state.update_data(address=message.text)
        await state.set_state(BareForm.summary)
        await message.answer(texts(lang(message), "form.nothing_to_answer"))

    @router.callback_query(CaseCb.filter(F.action == CaseAction.CONFIRM))
    async def on_confirm(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer()
        await state.clear()
        assert isinstance(query.message, Message)
        await query.message.answer(texts(lang(query), "status.none"))

    @router.message()
    async def on_other(message: Message) -> None:
        await message.answer(texts(lang(message), "form.not_text"))

    return router


@asynccontextmanager
async def bare_bot(telegram_url: str) -> AsyncIterator[str]:
    """The baseline bot behind the same webhook handler; yields its webhook URL."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(telegram_url))
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    dispatcher = Dispatcher(storage=MemoryStorage())
    dispatcher.include_router(bare_router(Texts()))
    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dispatcher, bot=bot, handle_in_background=False, secret_token=SECRET
    ).register(app, path=WEBHOOK_PATH)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}{WEBHOOK_PATH}"
    finally:
        await runner.cleanup()
        await bot.session.close()


async def measure_bare(telegram: Telegram, scripts: list[list[Update]], concurrency: int) -> Run:
    async with bare_bot(telegram.url) as hook:
        await telegram.load(hook, scripts[:WARMUP_GUARDIANS], concurrency, bare=True)
        return await telegram.load(hook, scripts[WARMUP_GUARDIANS:], concurrency, bare=True)


@asynccontextmanager
async def round_database(base: str | None, folder: Path, name: str) -> AsyncIterator[str]:
    """A fresh SQLite file, or a fresh PostgreSQL database on `base`'s server (dropped)."""
    if base is None:
        yield f"sqlite+aiosqlite:///{folder / f'round{name}.db'}"
        return
    name = f"bench_updates_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


KINDS = ("bare", "full", "pdf_once")
LABELS = {
    "bare": "bare aiogram + MemoryStorage",
    "full": "whole stack",
    "pdf_once": "whole stack, PDF rendered once",
}


async def run(args: argparse.Namespace) -> None:
    guardians = math.ceil(args.updates / len(SCRIPT))
    async with telegram_side(
        __file__, "--serve-telegram", f"--users={guardians + WARMUP_GUARDIANS}"
    ) as hello:
        kinds = tuple(k for k in KINDS if k in args.kinds.split(","))
        results: dict[str, list[Run]] = {kind: [] for kind in kinds}
        folder = Path(tempfile.mkdtemp(prefix="updates-bench-"))
        timeout = aiohttp.ClientTimeout(total=None)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            telegram = Telegram(hello["url"], hello["users"], http)
            for round_no in range(1, args.rounds + 1):
                shift = round_no % len(kinds)
                for kind in kinds[shift:] + kinds[:shift]:
                    result = await measure(kind, args, telegram, folder, f"{round_no}{kind}")
                    results[kind].append(result)
                    print(f"round {round_no} {kind:8s} {describe(result)}", flush=True)
    report(results, guardians, args)


async def measure(
    kind: str, args: argparse.Namespace, telegram: Telegram, folder: Path, name: str
) -> Run:
    """One measurement of `kind` on a database of its own, with cases of its own."""
    async with round_database(args.database_url, folder, name) as url:
        scripts = await prepare_round(url, telegram)
        if kind == "bare":
            return await measure_bare(telegram, scripts, args.concurrency)
        if kind == "full":
            return await measure_full(url, telegram, scripts, args.concurrency)
        with patch.object(submission, "render_application", RenderedOnce(render_application)):
            return await measure_full(url, telegram, scripts, args.concurrency)


class RenderedOnce:
    """The application PDF rendered for the first case, then the same bytes for every
    other: the whole stack without fpdf's CPU, everything else as it is."""

    def __init__(self, render: Callable[[ApplicationData], bytes]) -> None:
        self._render, self._pdf = render, b""

    def __call__(self, data: ApplicationData) -> bytes:
        self._pdf = self._pdf or self._render(data)
        return self._pdf


def describe(r: Run) -> str:
    return (
        f"{r.rate:7.0f} updates/s  p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:6.1f} ms  "
        f"{r.in_flight:3.0f} in flight  "
        f"(CPU: this process {r.app_cpu:.0%}, Telegram side {r.telegram_cpu:.0%})"
    )


def report(results: dict[str, list[Run]], guardians: int, args: argparse.Namespace) -> None:
    medians = {
        kind: Run(*(statistics.median(getattr(r, f.name) for r in runs) for f in fields(Run)))
        for kind, runs in results.items()
    }
    database = make_url(args.database_url).get_backend_name() if args.database_url else "sqlite"
    print(
        f"\nmedian of {args.rounds} rounds: {guardians} guardians x {len(SCRIPT)} updates = "
        f"{guardians * len(SCRIPT)} updates, {args.concurrency} guardians at once, {database}"
    )
    for kind in medians:
        print(f"  {LABELS[kind]:31s} {describe(medians[kind])}")
    for kind in [k for k in ("full", "pdf_once") if k in medians and "bare" in medians]:
        run = medians[kind]
        ratio = run.rate / medians["bare"].rate
        bar = "met" if ratio >= BAR else "not met"
        goal = "met" if ratio >= GOAL and run.p99_ms <= GOAL_P99_MS else "not met"
        print(
            f"  {LABELS[kind]} / bare: {ratio:.2f}x, p99 {run.p99_ms:.0f} ms at "
            f"{run.in_flight:.0f} in flight (bar >= {BAR}x: {bar}; goal >= {GOAL}x with "
            f"p99 <= {GOAL_P99_MS} ms: {goal})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (default: SQLite)")
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help=f"which of {', '.join(KINDS)} to measure"
    )
    parser.add_argument("--serve-telegram", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.serve_telegram:
        asyncio.run(serve_telegram(args.users))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
