"""The outbox dispatcher against the Telegram emulator, a webhook receiver and an SMS gateway.

Database times come from the frozen clock: a retry becomes due only when a test moves
the clock, so backoff is checked without waiting for it. Telegram pacing runs on real
monotonic time (it must match the emulator's limits), so pacing tests take a few seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import json
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import FrozenClock
from bot.delivery.claims import claim_due, load_owned, recover_orphans
from bot.delivery.dispatcher import OutboxDispatcher
from bot.delivery.effects import CaseDeliveryEffects
from bot.delivery.pacing import TelegramPacer
from bot.domain.choices import Act, Choice
from bot.emulator import Limit, RateLimits, TelegramEmulator
from bot.metrics import Metrics
from bot.runtime import Services, session_factory
from bot.signals import VkkSignal
from bot.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignedRequest, signature_problem
from bot.usecases.intake import accept_signal
from handlers.telegram.callbacks import CaseAction, CaseCb
from storage.models import AuditEvent, Document, OutboxMessage, School
from storage.outbox import (
    Kind,
    OutgoingMessage,
    Payload,
    SmsPayload,
    TelegramPayload,
    WebhookPayload,
    enqueue,
)
from storage.session import create_engine
from tests.conftest import Database, make_settings
from tests.factories import make_bin, signal_payload

SCHOOL_SECRET = "school-webhook-secret"
FOREVER = 10_000
SMS_TOKEN = "sms-gateway-token"
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
postgres_only = pytest.mark.parametrize(
    "database", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


class QuickCloseSession(AiohttpSession):
    """aiogram's HTTP session minus the 250 ms TLS grace sleep on close (plain HTTP here)."""

    opened: aiohttp.ClientSession | None = None

    async def create_session(self) -> aiohttp.ClientSession:
        self.opened = await super().create_session()
        return self.opened

    async def close(self) -> None:
        if self.opened is not None:
            await self.opened.close()


def make_bot(token: str, base_url: str) -> Bot:
    return Bot(token, session=QuickCloseSession(api=TelegramAPIServer.from_base(base_url)))


class RecordingHooks:
    """Remembers each hook call, with the row's status as the hook saw it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int | None]] = []
        self.failed: list[tuple[str, str, str]] = []
        self.raise_for: set[str] = set()
        self.needed: set[str] = set()  # kinds of message still worth sending after attempts
        self.outages: list[tuple[str, float]] = []

    async def delivered(
        self, session: AsyncSession, row: OutboxMessage, message_id: int | None
    ) -> None:
        assert session.in_transaction()
        self.sent.append((row.dedupe_key, row.status, message_id))
        event = {"actor": "test-hook", "event": "delivered", "details": {"key": row.dedupe_key}}
        session.add(AuditEvent(case_id=row.case_id, at=row.sent_at, **event))
        await session.flush()
        if row.dedupe_key in self.raise_for:
            raise RuntimeError("hook broke")

    async def undeliverable(self, session: AsyncSession, row: OutboxMessage, reason: str) -> None:
        assert session.in_transaction()
        self.failed.append((row.dedupe_key, row.status, reason))

    async def still_needed(self, kind: str, case_id: str | None) -> bool:
        return kind in self.needed

    async def channel_down(self, session: AsyncSession, destination: str, down_s: float) -> None:
        assert session.in_transaction()
        self.outages.append((destination, down_s))


class Monotonic:
    """Real monotonic time plus whatever a test skips: probes come due without waiting."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skipped

    def skip(self, seconds: float) -> None:
        self.skipped += seconds


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    signature_problem: str | None


@dataclass
class Receiver:
    """A school webhook and an SMS gateway on loopback; the first `failures` answers are 503."""

    clock: FrozenClock
    failures: int = 0
    failing_paths: set[str] = field(default_factory=set)  # answer 503 until removed
    requests: list[Received] = field(default_factory=list)
    base_url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        problem = signature_problem(
            [SCHOOL_SECRET.encode()],
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            SignedRequest(request.method, request.raw_path, body),
            self.clock.timestamp(),
        )
        status = 503 if self.failures > 0 or request.path in self.failing_paths else 200
        self.failures -= 1
        self.requests.append(Received(request.path, dict(request.headers), body, status, problem))
        return web.json_response({"ok": status == 200}, status=status)


@dataclass
class Harness:
    svc: Services
    emu: TelegramEmulator
    bot: Bot
    http: httpx.AsyncClient
    hooks: RecordingHooks
    clock: FrozenClock
    receiver: Receiver

    def dispatcher(self, svc: Services | None = None, **options: Any) -> OutboxDispatcher:
        options.setdefault("rng", random.Random(7))
        options.setdefault("commit_linger_s", 0.005)
        delivering = (svc or self.svc).delivering
        return OutboxDispatcher(delivering, self.hooks, self.bot, self.http, **options)

    def with_settings(self, **overrides: Any) -> Services:
        settings = self.svc.settings.model_copy(update=overrides)
        return dataclasses.replace(self.svc, settings=settings)

    async def enqueue(self, *messages: OutgoingMessage) -> None:
        async with self.svc.sessions.begin() as session:
            await enqueue(session, self.svc.cipher, self.clock.now(), *messages)

    async def row(self, dedupe_key: str) -> OutboxMessage:
        async with self.svc.sessions() as session:
            query = select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
            return (await session.scalars(query)).one()

    async def started_chat(self) -> int:
        """A guardian who has /started the bot; returns the private chat id."""
        user = self.emu.user()
        await user.send_command("start")
        return user.chat_id


def text_to(chat_id: int, text: str = "Здравствуйте", key: str | None = None) -> OutgoingMessage:
    params = {"chat_id": chat_id, "text": text, "parse_mode": "HTML"}
    return message(key or f"m:{uuid.uuid4().hex}", TelegramPayload("sendMessage", params))


def message(key: str, payload: Payload, case_id: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(dedupe_key=key, kind=Kind.NOTICE, payload=payload, case_id=case_id)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def harness(
    database: Database, services: Services, clock: FrozenClock
) -> AsyncIterator[Harness]:
    token = f"{random.randint(10**8, 10**9)}:{uuid.uuid4().hex}"
    receiver = Receiver(clock)
    app = web.Application()
    app.router.add_post("/{name}", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    settings = make_settings(
        database.url,
        BOT_TOKEN=token,
        SMS_GATEWAY_URL=f"{receiver.base_url}/sms",
        SMS_GATEWAY_TOKEN=SMS_TOKEN,
    )
    svc = dataclasses.replace(services, settings=settings)
    try:
        async with TelegramEmulator(token) as emu, httpx.AsyncClient() as http:
            assert emu.base_url is not None
            bot = make_bot(token, emu.base_url)
            try:
                yield Harness(svc, emu, bot, http, RecordingHooks(), clock, receiver)
            finally:
                await bot.session.close()
    finally:
        await runner.cleanup()


# -- delivery --------------------------------------------------------------------------
async def test_dispatcher_message_delivered_once_and_hook_called_once(harness: Harness) -> None:
    chat = await harness.started_chat()
    keyboard = {"inline_keyboard": [[{"text": "Да", "callback_data": "consent:yes"}]]}
    params = {"chat_id": chat, "text": "<b>Уведомление</b>", "parse_mode": "HTML"}
    params["reply_markup"] = keyboard
    await harness.enqueue(message("notice:1", TelegramPayload("sendMessage", params)))
    dispatcher = harness.dispatcher()

    assert await dispatcher.run_until_idle(timeout=5) == 1
    assert await dispatcher.run_until_idle(timeout=5) == 0

    sent = harness.emu.sent(chat)
    assert [(m.text, m.buttons()) for m in sent] == [("Уведомление", ["Да"])]
    assert harness.hooks.sent == [("notice:1", "sent", sent[0].message_id)]
    row = await harness.row("notice:1")
    assert (row.status, row.attempts, row.sent_at, row.claimed_until) == (
        "sent",
        0,
        harness.clock.now(),
        None,
    )
    assert dispatcher.counters.sent == 1


async def test_dispatcher_choices_sent_as_buttons_with_callback_data(harness: Harness) -> None:
    """A row offers neutral choices; the sender renders the callback data handlers parse."""
    chat = await harness.started_chat()
    case_id = str(uuid.uuid4())
    choices = ((Choice(Act.AGREE, "Да", case_id), Choice(Act.DECLINE, "Нет", case_id)),)
    params = {"chat_id": chat, "text": "Уведомление", "parse_mode": "HTML"}
    payload = TelegramPayload("sendMessage", params, choices=choices)
    await harness.enqueue(message("notice:choices", payload))

    assert await harness.dispatcher().run_until_idle(timeout=5) == 1

    [sent] = harness.emu.sent(chat)
    agree, decline = sent.button("Да"), sent.button("Нет")
    assert agree is not None and decline is not None
    assert CaseCb.unpack(agree["callback_data"]) == CaseCb(case_id=case_id, action=CaseAction.AGREE)
    assert decline["callback_data"] == f"c:{case_id}:decline"


async def test_dispatcher_same_dedupe_key_twice_sends_one_message(harness: Harness) -> None:
    chat = await harness.started_chat()
    await harness.enqueue(text_to(chat, key="notice:dup"))
    await harness.enqueue(text_to(chat, "другой текст", key="notice:dup"))

    assert await harness.dispatcher().run_until_idle(timeout=5) == 1

    assert [m.text for m in harness.emu.sent(chat)] == ["Здравствуйте"]


async def test_dispatcher_document_row_sends_decrypted_pdf(harness: Harness) -> None:
    svc, chat = harness.svc, await harness.started_chat()
    case = await accept_signal(svc.opening, VkkSignal.model_validate(signal_payload()))
    content = b"%PDF-1.4 application bytes"
    async with svc.sessions.begin() as session:
        document = Document(
            case_id=case.case_id,
            kind="application",
            language="ru",
            content_enc=svc.cipher.encrypt_bytes(content),
            sha256=hashlib.sha256(content).hexdigest(),
            created_at=harness.clock.now(),
        )
        session.add(document)
    params = {"chat_id": chat, "caption": "Заявление"}
    payload = TelegramPayload("sendDocument", params, document.id, "application.pdf")
    await harness.enqueue(message("doc:1", payload, case_id=case.case_id))

    assert await harness.dispatcher().run_until_idle(timeout=5) == 1

    sent = harness.emu.sent(chat)
    assert [(m.document, m.document_filename, m.caption) for m in sent] == [
        (content, "application.pdf", "Заявление")
    ]


async def test_dispatcher_new_row_wakes_running_dispatcher_at_once(harness: Harness) -> None:
    chat = await harness.started_chat()
    dispatcher = harness.dispatcher(sweep_interval_s=30.0)
    dispatcher.start()
    try:
        await asyncio.sleep(0.2)  # idle now: only the wakeup event can bring it back soon
        started = time.monotonic()
        await harness.enqueue(text_to(chat))
        await harness.emu.wait_for_message(chat, timeout=0.5)
        assert time.monotonic() - started < 0.5
    finally:
        await dispatcher.stop()


# -- Telegram errors -------------------------------------------------------------------
async def test_dispatcher_429_honours_retry_after_without_counting_attempt(
    harness: Harness,
) -> None:
    chat = await harness.started_chat()
    harness.emu.fail_next("sendMessage", error_code=429, retry_after=1)
    await harness.enqueue(text_to(chat, key="notice:429"))
    dispatcher = harness.dispatcher()

    assert await dispatcher.run_until_idle(timeout=5) == 0
    row = await harness.row("notice:429")
    expected_due = harness.clock.now() + timedelta(seconds=1)
    assert (row.status, row.attempts, row.next_attempt_at) == ("retry", 0, expected_due)

    harness.clock.advance(timedelta(seconds=1))
    assert await dispatcher.run_until_idle(timeout=5) == 1

    calls = harness.emu.calls_to("sendMessage")
    assert [c.error_code for c in calls] == [429, None]
    assert calls[1].at - calls[0].at >= 1.0
    row = await harness.row("notice:429")
    assert (row.status, row.attempts) == ("sent", 0)
    assert (dispatcher.counters.rate_limited, dispatcher.counters.retried) == (1, 0)


@pytest.mark.parametrize("failure", ["blocked", "chat_not_found"])
async def test_dispatcher_permanent_telegram_error_marks_dead_and_calls_hook(
    harness: Harness, failure: str
) -> None:
    if failure == "blocked":
        user = harness.emu.user()
        await user.send_command("start")
        user.block()
        chat = user.chat_id
    else:
        chat = 555_000_111  # never talked to the bot
    await harness.enqueue(text_to(chat, key="notice:x"))
    dispatcher = harness.dispatcher()

    assert await dispatcher.run_until_idle(timeout=5) == 0

    row = await harness.row("notice:x")
    assert (row.status, row.attempts) == ("dead", 1)
    assert row.last_error is not None and "Здравствуйте" not in row.last_error
    assert harness.hooks.failed == [("notice:x", "dead", failure)]
    assert harness.hooks.sent == []
    assert dispatcher.counters.dead == 1


async def test_dispatcher_server_error_is_an_outage_no_attempt_counted_getme_ends_it(
    harness: Harness,
) -> None:
    # A group chat: 20 messages a minute, so the retries need no real-time pacing wait.
    group = harness.emu.group(-1001000000777)
    harness.emu.fail_next("sendMessage", error_code=500)
    harness.emu.fail_next("getMe", error_code=502)
    await harness.enqueue(text_to(group.id, "1", key="pkg:1"), text_to(group.id, "2", key="pkg:2"))
    monotonic = Monotonic()
    dispatcher = harness.dispatcher(monotonic=monotonic)

    assert await dispatcher.run_until_idle(timeout=5) == 0
    first, second = await harness.row("pkg:1"), await harness.row("pkg:2")
    assert (first.status, first.attempts, second.status, second.attempts) == (
        "retry",
        0,
        "pending",
        0,
    )
    assert first.last_error is not None and "TelegramServerError" in first.last_error
    assert first.next_attempt_at <= harness.clock.now()  # due as it was: no backoff
    assert dispatcher.health.is_open("telegram")
    assert await dispatcher.run_until_idle(timeout=5) == 0  # no probe due yet
    assert len(harness.emu.calls_to("getMe")) == 0

    monotonic.skip(1.0)  # the first probe: Telegram still answers 502
    assert await dispatcher.run_until_idle(timeout=5) == 0
    assert len(harness.emu.calls_to("getMe")) == 1 and dispatcher.health.is_open("telegram")
    monotonic.skip(1.0)  # the next probe waits 2 s
    assert await dispatcher.run_until_idle(timeout=5) == 0
    assert len(harness.emu.calls_to("getMe")) == 1
    monotonic.skip(1.0)  # getMe answers: the backlog goes at once, in order
    assert await dispatcher.run_until_idle(timeout=5) == 2

    assert len(harness.emu.calls_to("getMe")) == 2 and not dispatcher.health.is_open("telegram")
    assert [m.text for m in harness.emu.sent(group.id)] == ["1", "2"]
    rows = [await harness.row(key) for key in ("pkg:1", "pkg:2")]
    assert [(r.status, r.attempts, r.last_error) for r in rows] == [("sent", 0, None)] * 2
    assert len(harness.emu.calls_to("sendMessage")) == 3  # one refused, two delivered
    assert dispatcher.counters.retried == 0 and dispatcher.health.outages("telegram") == 1


async def test_dispatcher_server_error_of_one_message_counts_once_telegram_proved_up(
    harness: Harness,
) -> None:
    group, other = harness.emu.group(-1001000000776), harness.emu.group(-1001000000775)
    harness.emu.fail_next("sendMessage", times=FOREVER, error_code=500, chat_id=group.id)
    await harness.enqueue(text_to(group.id, key="bad:1"))
    monotonic = Monotonic()
    dispatcher = harness.dispatcher(monotonic=monotonic)

    assert await dispatcher.run_until_idle(timeout=5) == 0
    assert (await harness.row("bad:1")).attempts == 0 and dispatcher.health.is_open("telegram")
    monotonic.skip(1.0)  # getMe answers: Telegram is up, so the next 500 is the message's
    await harness.enqueue(text_to(other.id, key="good:1"))
    assert await dispatcher.run_until_idle(timeout=5) == 1

    bad = await harness.row("bad:1")
    assert (bad.status, bad.attempts) == ("retry", 1)
    assert bad.next_attempt_at > harness.clock.now()  # its own backoff
    assert not dispatcher.health.is_open("telegram")
    assert (await harness.row("good:1")).status == "sent"


async def test_dispatcher_network_error_opens_the_circuit_without_an_attempt(
    harness: Harness,
) -> None:
    await harness.enqueue(text_to(12345, key="notice:net"))
    unreachable = make_bot(harness.emu.token, f"http://127.0.0.1:{free_port()}")
    dispatcher = OutboxDispatcher(harness.svc.delivering, harness.hooks, unreachable, harness.http)
    try:
        assert await dispatcher.run_until_idle(timeout=5) == 0
    finally:
        await unreachable.session.close()

    row = await harness.row("notice:net")
    assert (row.status, row.attempts) == ("retry", 0)
    assert row.last_error is not None and "TelegramNetworkError" in row.last_error
    assert dispatcher.health.is_open("telegram") and not dispatcher.health.channel_up("telegram")


async def test_dispatcher_attempts_exhausted_marks_dead(harness: Harness) -> None:
    group = harness.emu.group(-1001000000778)
    harness.emu.fail_next("sendMessage", times=10, error_code=400, description="Bad Request: x")
    await harness.enqueue(text_to(group.id, key="pkg:dead"))
    dispatcher = harness.dispatcher(max_attempts=3)

    for _ in range(3):
        assert await dispatcher.run_until_idle(timeout=5) == 0
        harness.clock.advance(timedelta(minutes=15))

    row = await harness.row("pkg:dead")
    assert (row.status, row.attempts) == ("dead", 3)
    assert harness.hooks.failed == [("pkg:dead", "dead", "attempts_exhausted")]
    assert len(harness.emu.calls_to("sendMessage")) == 3
    assert await dispatcher.run_until_idle(timeout=5) == 0  # dead stays dead


async def test_dispatcher_message_still_needed_keeps_trying_past_its_attempts(
    harness: Harness,
) -> None:
    group = harness.emu.group(-1001000000774)
    harness.emu.fail_next("sendMessage", times=4, error_code=400, description="Bad Request: x")
    payload = TelegramPayload("sendMessage", {"chat_id": group.id, "text": "x"})
    await harness.enqueue(message("notice:kept", payload))
    harness.hooks.needed.add("notice")
    dispatcher = harness.dispatcher(max_attempts=2)

    for _ in range(4):
        assert await dispatcher.run_until_idle(timeout=5) == 0
        harness.clock.advance(timedelta(hours=1))
    assert (await harness.row("notice:kept")).status == "retry"
    assert await dispatcher.run_until_idle(timeout=5) == 1

    row = await harness.row("notice:kept")
    assert (row.status, row.attempts, harness.hooks.failed) == ("sent", 4, [])


async def test_dispatcher_failed_message_holds_later_messages_to_same_chat(
    harness: Harness,
) -> None:
    # A group chat takes 20 messages a minute: the retry needs no real-time pacing wait.
    first, other = harness.emu.group(-1001000000779).id, await harness.started_chat()
    harness.emu.fail_next("sendMessage", error_code=400, description="Bad Request", chat_id=first)
    await harness.enqueue(
        text_to(first, "первое", key="a:1"),
        text_to(first, "второе", key="a:2"),
        text_to(other, key="b:1"),
    )
    dispatcher = harness.dispatcher()

    assert await dispatcher.run_until_idle(timeout=5) == 1  # b:1 was not blocked by a:1
    failed, follower = await harness.row("a:1"), await harness.row("a:2")
    assert (failed.status, follower.status) == ("retry", "pending")
    assert follower.next_attempt_at == failed.next_attempt_at

    harness.clock.advance(timedelta(minutes=10))
    assert await dispatcher.run_until_idle(timeout=5) == 2
    assert [m.text for m in harness.emu.sent(first)] == ["первое", "второе"]


async def test_dispatcher_failing_hook_spoils_neither_its_row_nor_the_batch(
    harness: Harness,
) -> None:
    chats = [await harness.started_chat() for _ in range(3)]
    harness.hooks.raise_for = {"notice:b"}
    keys = ["notice:a", "notice:b", "notice:c"]
    await harness.enqueue(*(text_to(c, key=k) for c, k in zip(chats, keys, strict=True)))
    dispatcher = harness.dispatcher(commit_linger_s=0.3)  # all three outcomes in one batch

    assert await dispatcher.run_until_idle(timeout=5) == 3
    assert await dispatcher.run_until_idle(timeout=5) == 0

    rows = [await harness.row(key) for key in keys]
    assert [(r.status, r.last_error) for r in rows] == [
        ("sent", None),
        ("sent", "hook failed: RuntimeError"),
        ("sent", None),
    ]
    async with harness.svc.sessions() as session:
        events = (await session.scalars(select(AuditEvent.details))).all()
    assert sorted(e["key"] for e in events if e) == ["notice:a", "notice:c"]  # committed once
    assert [len(harness.emu.sent(c)) for c in chats] == [1, 1, 1]


# -- webhook and SMS -------------------------------------------------------------------
async def add_school(harness: Harness, url: str, escalation_chat_id: int | None = None) -> School:
    svc, now = harness.svc, harness.clock.now()
    async with svc.sessions.begin() as session:
        school = School(
            bin=make_bin(),
            name_ru="Школа №1",
            webhook_url=url,
            webhook_secret_enc=svc.cipher.encrypt_text(SCHOOL_SECRET),
            escalation_chat_id=escalation_chat_id,
            created_at=now,
            updated_at=now,
        )
        session.add(school)
    return school


async def test_dispatcher_webhook_down_then_up_delivered_once_signed(harness: Harness) -> None:
    url = f"{harness.receiver.base_url}/webhook"
    school = await add_school(harness, url)
    body = {"case_id": "c-1", "application": {"grade": 4}, "pdf": "JVBERi0="}
    await harness.enqueue(message("pkg:hook", WebhookPayload(school.id, url, body)))
    harness.receiver.failures = 2
    monotonic = Monotonic()
    dispatcher = harness.dispatcher(monotonic=monotonic)
    destination = f"webhook:school:{school.id}"

    assert await dispatcher.run_until_idle(timeout=5) == 0  # 503: the school's server is down
    assert dispatcher.health.is_open(destination)
    monotonic.skip(1.0)  # the row itself is the probe: 503 again
    assert await dispatcher.run_until_idle(timeout=5) == 0
    assert (await harness.row("pkg:hook")).attempts == 0
    monotonic.skip(2.0)
    assert await dispatcher.run_until_idle(timeout=5) == 1
    assert await dispatcher.run_until_idle(timeout=5) == 0

    requests = harness.receiver.requests
    assert [r.answered for r in requests] == [503, 503, 200]
    assert [r.signature_problem for r in requests] == [None, None, None]
    assert json.loads(requests[-1].body) == body
    assert requests[-1].headers["Idempotency-Key"] == "pkg:hook"
    row = await harness.row("pkg:hook")
    assert (row.status, row.attempts) == ("sent", 0)
    assert not dispatcher.health.is_open(destination)


async def test_dispatcher_school_down_holds_only_that_school_and_escalates_once(
    harness: Harness,
) -> None:
    down = await add_school(harness, f"{harness.receiver.base_url}/down")
    up = await add_school(harness, f"{harness.receiver.base_url}/up")
    harness.receiver.failing_paths.add("/down")
    for n in range(3):
        for school in (down, up):
            payload = WebhookPayload(school.id, school.webhook_url or "", {"n": n})
            await harness.enqueue(message(f"pkg:{school.id}:{n}", payload))
    svc = harness.with_settings(OUTAGE_ESCALATION_AFTER_S=30)
    monotonic = Monotonic()
    dispatcher = harness.dispatcher(svc, monotonic=monotonic)
    metrics = Metrics()
    metrics.watch_channels(dispatcher.health)

    assert await dispatcher.run_until_idle(timeout=5) == 3  # the other school got all three
    for _ in range(12):  # a probe every 5 s at most: one a time, each one row
        monotonic.skip(5.0)
        assert await dispatcher.run_until_idle(timeout=5) == 0
    downs = [r for r in harness.receiver.requests if r.path == "/down"]
    scraped = metrics.render().decode()
    harness.receiver.failing_paths.clear()
    monotonic.skip(5.0)
    assert await dispatcher.run_until_idle(timeout=5) == 3

    assert len(downs) == 1 + 12  # the first send, then one probe each 5 s (the cap)
    assert all(json.loads(r.body) == {"n": 0} for r in downs)  # the oldest row probes
    assert harness.hooks.outages == [(f"webhook:school:{down.id}", pytest.approx(31, abs=5))]
    assert 'homeschool_channel_up{channel="webhook"} 0.0' in scraped
    assert 'homeschool_channel_outage_escalations_total{channel="webhook"} 1.0' in scraped
    after = metrics.render().decode()
    assert 'homeschool_channel_up{channel="webhook"} 1.0' in after
    rows = [await harness.row(f"pkg:{down.id}:{n}") for n in range(3)]
    assert [(r.status, r.attempts) for r in rows] == [("sent", 0)] * 3
    oks = [json.loads(r.body)["n"] for r in harness.receiver.requests if r.answered == 200]
    assert oks.count(0) == oks.count(1) == oks.count(2) == 2  # once per school, never twice


async def test_dispatcher_sms_gateway_down_then_back(harness: Harness) -> None:
    harness.receiver.failing_paths.add("/sms")
    for n in range(3):
        await harness.enqueue(message(f"sms:{n}", SmsPayload("+77011234567", f"t{n}")))
    monotonic = Monotonic()
    dispatcher = harness.dispatcher(monotonic=monotonic)

    assert await dispatcher.run_until_idle(timeout=5) == 0
    tried = len(harness.receiver.requests)
    harness.receiver.failing_paths.clear()
    monotonic.skip(1.0)
    assert await dispatcher.run_until_idle(timeout=5) == 3

    assert 1 <= tried <= 3  # those in flight when the first 503 came back
    rows = [await harness.row(f"sms:{n}") for n in range(3)]
    assert [(r.status, r.attempts) for r in rows] == [("sent", 0)] * 3
    assert sorted(json.loads(r.body)["text"] for r in harness.receiver.requests[tried:]) == [
        "t0",
        "t1",
        "t2",
    ]


async def test_dispatcher_sms_gateway_gets_documented_request(harness: Harness) -> None:
    await harness.enqueue(message("sms:1", SmsPayload("+77011234567", "Ссылка: t.me/x")))

    assert await harness.dispatcher().run_until_idle(timeout=5) == 1

    [request] = harness.receiver.requests
    assert request.path == "/sms"
    assert request.headers["Authorization"] == f"Bearer {SMS_TOKEN}"
    assert json.loads(request.body) == {"to": "+77011234567", "text": "Ссылка: t.me/x"}
    assert harness.hooks.sent == [("sms:1", "sent", None)]


# -- pacing ----------------------------------------------------------------------------
@sqlite_only  # pacing runs on the monotonic clock; the database plays no part in it
async def test_dispatcher_paces_chat_and_bot_without_head_of_line_blocking(
    harness: Harness,
) -> None:
    harness.emu.set_rate_limits(RateLimits(per_bot=Limit(5, 1.0)))
    svc = harness.with_settings(TELEGRAM_RATE_PER_S=5.0)
    busy = await harness.started_chat()
    others = [await harness.started_chat() for _ in range(7)]
    await harness.enqueue(*(text_to(busy, f"#{n}") for n in range(3)))
    await harness.enqueue(*(text_to(chat) for chat in others))

    dispatcher = harness.dispatcher(svc, commit_linger_s=0.1)
    assert await dispatcher.run_until_idle(timeout=10) == 10

    calls = harness.emu.calls_to("sendMessage")
    assert harness.emu.rejected_429 == 0
    busy_times = [c.at for c in calls if c.params["chat_id"] == str(busy)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(busy_times)]
    assert len(gaps) == 2 and min(gaps) >= 1.0
    times = [c.at for c in calls]
    assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[5:], strict=False))
    order = [c.params["chat_id"] for c in calls]
    last_other = max(order.index(str(chat)) for chat in others)
    busy_last = len(order) - 1 - order[::-1].index(str(busy))
    assert last_other < busy_last  # the busy chat's wait did not hold the others back


def test_pacer_counts_sends_from_their_answer_and_in_flight_ones_as_recent() -> None:
    now = [100.0]
    pacer = TelegramPacer(1.0, clock=lambda: now[0])  # one message a second, bot-wide
    pacer.begin(42)
    assert pacer.wait_time(7) == pytest.approx(1.0)  # even spacing: one per 1 / rate s
    now[0] = 101.0
    assert pacer.global_wait() == pytest.approx(0.005)  # in flight: fills the window
    now[0] = 101.3
    pacer.end(42)  # the answer after a slow 1.3 s: Telegram may have counted it just now

    assert pacer.wait_time(42) == pytest.approx(1.0)  # the chat: 1 s after the answer
    assert pacer.global_wait() == pytest.approx(1.0)  # the bot: the same, never earlier
    assert pacer.global_wait(now=102.3) == 0.0
    for _ in range(20):
        pacer.end(-100123)
    assert pacer.chat_wait(-100123, now[0]) == pytest.approx(60.0)  # 20 a minute per group


# -- leases and replicas ---------------------------------------------------------------
async def test_dispatcher_expired_lease_reclaimed_live_lease_left_alone(harness: Harness) -> None:
    stuck, busy = await harness.started_chat(), await harness.started_chat()
    await harness.enqueue(text_to(stuck, key="stuck"), text_to(busy, key="busy"))
    now = harness.clock.now()
    async with harness.svc.sessions.begin() as session:
        for key, lease_end in (
            ("stuck", now - timedelta(seconds=1)),
            ("busy", now + timedelta(seconds=30)),
        ):
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.dedupe_key == key)
                .values(status="sending", claimed_until=lease_end)
            )
    dispatcher = harness.dispatcher()

    assert await dispatcher.run_until_idle(timeout=5) == 1
    assert ((await harness.row("stuck")).status, (await harness.row("busy")).status) == (
        "sent",
        "sending",
    )
    harness.clock.advance(timedelta(seconds=31))
    assert await dispatcher.run_until_idle(timeout=5) == 1
    assert len(harness.emu.sent(stuck)) == len(harness.emu.sent(busy)) == 1


async def test_dispatcher_start_recovers_rows_a_killed_sender_left_sending(
    harness: Harness,
) -> None:
    """A SIGKILLed process leaves its claims `sending` with a minute of lease; the next
    sender makes them due after the grace, not after the lease, and sends each once."""
    chats = [await harness.started_chat() for _ in range(3)]
    await harness.enqueue(*(text_to(chat, key=f"orphan:{n}") for n, chat in enumerate(chats)))
    now = harness.clock.now()
    leases = [now + timedelta(seconds=60), now + timedelta(seconds=60), now + timedelta(seconds=2)]
    async with harness.svc.sessions.begin() as session:
        for n, lease_end in enumerate(leases):
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.dedupe_key == f"orphan:{n}")
                .values(status="sending", claimed_until=lease_end)
            )
    dispatcher = harness.dispatcher(orphan_grace_s=5.0, sweep_interval_s=0.05)
    dispatcher.start()
    try:
        recovered = now + timedelta(seconds=5)
        expected = [recovered, recovered, leases[2]]  # shortened, never lengthened

        async def lease_ends() -> list[object]:
            return [(await harness.row(f"orphan:{n}")).claimed_until for n in range(3)]

        async with asyncio.timeout(5):
            while await lease_ends() != expected:  # noqa: ASYNC110 - polls the database
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # several sweeps: the grace holds while the clock stands
        assert await lease_ends() == expected
        assert [len(harness.emu.sent(chat)) for chat in chats] == [0, 0, 0]

        harness.clock.advance(timedelta(seconds=5, milliseconds=1))
        await harness.emu.wait_until(
            lambda: all(harness.emu.sent(chat) for chat in chats), timeout=5
        )
    finally:
        await dispatcher.stop()
    assert [len(harness.emu.sent(chat)) for chat in chats] == [1, 1, 1]
    assert [(await harness.row(f"orphan:{n}")).status for n in range(3)] == ["sent"] * 3


async def test_recovered_claim_keeps_its_outcome_until_claimed_again(harness: Harness) -> None:
    """A sender that lost the lock may still record what it sent during the grace; once
    the next sender has claimed the row, only the new claim may."""
    await harness.enqueue(text_to(await harness.started_chat(), key="slow"))
    lease = timedelta(seconds=60)
    async with harness.svc.sessions.begin() as session:
        [old] = await claim_due(session, now=harness.clock.now(), lease=lease, limit=10)
    harness.clock.advance(timedelta(seconds=1))
    async with harness.svc.sessions.begin() as session:
        grace = timedelta(seconds=5)
        assert await recover_orphans(session, now=harness.clock.now(), grace=grace) == 1
        assert list(await load_owned(session, [old])) == [old.id]
        assert await claim_due(session, now=harness.clock.now(), lease=lease, limit=10) == []
    harness.clock.advance(timedelta(seconds=6))
    async with harness.svc.sessions.begin() as session:
        [new] = await claim_due(session, now=harness.clock.now(), lease=lease, limit=10)
        assert (new.id, new.previous_status) == (old.id, "pending")
        assert await load_owned(session, [old]) == {}
        assert list(await load_owned(session, [new])) == [new.id]


async def test_dispatcher_stop_gives_queued_rows_back(harness: Harness) -> None:
    chat = await harness.started_chat()
    await harness.enqueue(*(text_to(chat, f"#{n}", key=f"q:{n}") for n in range(3)))
    dispatcher = harness.dispatcher()
    dispatcher.start()
    await harness.emu.wait_for_message(chat, timeout=2)

    await dispatcher.stop()  # the other two wait for the chat's 1 s spacing

    rows = [await harness.row(f"q:{n}") for n in range(3)]
    assert [(r.status, r.claimed_until) for r in rows] == [
        ("sent", None),
        ("pending", None),
        ("pending", None),
    ]
    assert not dispatcher.holds_lock


@postgres_only
async def test_dispatcher_two_replicas_send_each_row_once(
    harness: Harness, database: Database
) -> None:
    engine = create_engine(
        database.url, connect_args={"server_settings": {"search_path": database.schema}}
    )
    wakeup = asyncio.Event()
    other_svc = dataclasses.replace(
        harness.svc, engine=engine, sessions=session_factory(engine, wakeup), outbox_wakeup=wakeup
    )
    assert harness.emu.base_url is not None
    other_bot = make_bot(harness.emu.token, harness.emu.base_url)
    replicas = [
        OutboxDispatcher(
            svc.delivering,
            harness.hooks,
            bot,
            harness.http,
            sweep_interval_s=0.2,
            standby_interval_s=0.2,
        )
        for svc, bot in ((harness.svc, harness.bot), (other_svc, other_bot))
    ]
    chats = [await harness.started_chat() for _ in range(12)]
    try:
        for replica in replicas:
            replica.start()
        await harness.enqueue(*(text_to(chat) for chat in chats))
        await harness.emu.wait_until(lambda: len(harness.emu.state.sent) == 12, timeout=5)
        await asyncio.sleep(0.5)  # a second sender would have sent duplicates by now

        assert sorted(m.chat_id for m in harness.emu.state.sent) == sorted(chats)
        assert [r.holds_lock for r in replicas].count(True) == 1
        holder = next(r for r in replicas if r.holds_lock)
        standby = next(r for r in replicas if not r.holds_lock)
        await holder.stop()
        late = await harness.started_chat()
        await harness.enqueue(text_to(late))
        await harness.emu.wait_for_message(late, timeout=3)
        assert standby.holds_lock
    finally:
        for replica in replicas:
            await replica.stop()
        await other_bot.session.close()
        await engine.dispose()


async def test_outage_escalated_once_when_a_new_sender_times_it_afresh(harness: Harness) -> None:
    url = f"{harness.receiver.base_url}/down"
    school = await add_school(harness, url, escalation_chat_id=-1001000000950)
    await harness.enqueue(message("pkg:waiting", WebhookPayload(school.id, url, {"n": 1})))
    svc = harness.svc
    effects = CaseDeliveryEffects(svc.delivering, svc.texts, svc.guardian_links)

    for down_s in (601.0, 1900.0):  # the first sender, then the replica that took over
        async with harness.svc.sessions.begin() as session:
            await effects.channel_down(session, f"webhook:school:{school.id}", down_s)

    async with harness.svc.sessions() as session:
        query = select(OutboxMessage).where(OutboxMessage.kind == Kind.ESCALATION)
        [row] = (await session.scalars(query)).all()
    assert row.recipient == "-1001000000950"
    text = json.loads(harness.svc.cipher.decrypt_text(row.payload_enc or b""))["params"]["text"]
    assert school.bin in text and "10" in text  # minutes down, when first escalated
