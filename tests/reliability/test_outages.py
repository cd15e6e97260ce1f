"""Outages lose nothing: the Bot API, the SMS gateway or a school's server down, then back.

Per database, one `homeschool-bot run` subprocess talks over loopback to this test's
Telegram emulator, an SMS gateway and a school's server. SQLite runs the bot in long
polling, PostgreSQL in webhook mode, so each mode's recovery is seen once.

(1) The Bot API refuses connections for 15 s (the emulator stopped, then started again
    on the same port; in webhook mode Telegram has meanwhile lost the webhook) and the
    SMS gateway for as long, while a signal arrives for each of three linked guardians
    and for three who never opened the bot.
(2) A school's server answers 503 from the moment a package is sent to it; then the Bot
    API refuses connections for longer than OUTAGE_ESCALATION_AFTER_S while another
    signal arrives for each guardian; Telegram comes back, then the school's server.

Each time: every message arrives exactly once, within 10 s of the return, nothing goes
`dead`, no attempt is counted, the outage shows in `/metrics` and in the log (one line
when it begins, one when it ends), and one lasting longer than the setting is escalated
once. The process cannot be given a test clock, so the setting is scaled down: 25 s
here for 10 minutes in production, and the outage of (2) lasts a little longer than it,
as a 10-minute outage or an hour of a school's 503s would in production. Nothing else
in the delivery path depends on how long an outage lasts: the probes come after 1, 2 and
4 s, then every 5 s, and no attempt is counted while a destination is down.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from sqlalchemy import select

from bot.emulator import ApiCall, TelegramEmulator, UserHandle
from storage.models import OutboxMessage
from tests.conftest import DATA_KEY, SIGNAL_SECRET
from tests.e2e.harness import (
    TOKEN,
    Stack,
    eventually,
    linked_guardian,
    shown,
    signal_for,
    submit_case,
    wait_for_status,
)
from tests.factories import make_phone
from tests.process import (
    BotProcess,
    clean_env,
    free_port,
    fresh_postgres_database,
    http,
    midday_zone,
)
from tests.reliability.sends import accepted_sends

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

ESCALATE_AFTER_S = 25  # OUTAGE_ESCALATION_AFTER_S of the process: 10 minutes, scaled
# Probes at 1, 3, 7, 12, 17 s of an outage: 15 s spans the back-off and a steady 5 s
# interval, and with that 5 s the circuit is open for less than the setting.
SHORT_OUTAGE_S = 15
LONG_OUTAGE_S = 30  # the "10 minutes": past the setting
BACK_WITHIN_S = 10.0
GUARDIANS = 3
# A wait for the bot or the database; a safety net, not a latency goal. On main, whose
# retries back off exponentially, a message came up to 64 s after the return.
PATIENCE_S = 90.0
SMS_TOKEN = "sms-gateway-token"


@dataclass(frozen=True)
class Hit:
    """One request an endpoint got: when (time.monotonic), what, and its answer."""

    at: float
    body: dict[str, object]
    headers: dict[str, str]
    status: int


@dataclass
class Endpoint:
    """An SMS gateway or a school's server on a fixed loopback port; `stop` refuses
    connections until `start`, `answering` is the status it gives meanwhile."""

    port: int = field(default_factory=free_port)
    answering: int = 200
    hits: list[Hit] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def delivered(self) -> list[Hit]:
        return [hit for hit in self.hits if hit.status == 200]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.hits.append(Hit(time.monotonic(), body, dict(request.headers), self.answering))
        return web.json_response({"ok": self.answering == 200}, status=self.answering)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@dataclass
class World:
    """The process and everything it talks to; `guardians` opened the bot earlier."""

    mode: str
    stack: Stack
    process: BotProcess
    emu_port: int
    sms: Endpoint
    guardians: list[UserHandle]
    telegram_up: bool = True

    @property
    def emu(self) -> TelegramEmulator:
        return self.stack.emu

    async def telegram_down(self) -> float:
        """Stop the Bot API; in webhook mode Telegram also forgets the webhook."""
        await self.emu.stop()
        self.telegram_up = False
        self.emu.state.webhook = None
        return time.monotonic()

    async def telegram_back(self) -> float:
        await self.emu.start(port=self.emu_port)
        self.telegram_up = True
        return time.monotonic()

    def metrics(self) -> dict[str, float]:
        status, text = http(f"{self.process.base_url}/metrics")
        assert status == 200, text
        series = re.findall(r"^(homeschool_channel_\w+\{[^}]*\}) (\S+)$", text, re.M)
        return {name: float(value) for name, value in series}

    def log_lines(self, since: int, fragment: str) -> list[str]:
        return [line for line in self.process.output()[since:].splitlines() if fragment in line]


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    folder = tmp_path_factory.mktemp(f"outages-{request.param}")
    async with AsyncExitStack() as exits:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{folder / 'outages.db'}"
        else:
            url = (await exits.enter_async_context(fresh_postgres_database("hsb_outages"))).url
        emu_port, port = free_port(), free_port()
        emu = TelegramEmulator(token=TOKEN)
        await emu.start(port=emu_port)
        exits.push_async_callback(emu.stop)
        sms = Endpoint()
        await sms.start()
        exits.push_async_callback(sms.stop)
        env = clean_env(
            DATABASE_URL=url,
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=str(emu.base_url),
            HTTP_PORT=str(port),
            SIGNAL_SECRETS=SIGNAL_SECRET.decode(),
            DATA_KEY=DATA_KEY,
            TIMEZONE=midday_zone(),
            SMS_GATEWAY_URL=sms.url,
            SMS_GATEWAY_TOKEN=SMS_TOKEN,
            OUTAGE_ESCALATION_AFTER_S=str(ESCALATE_AFTER_S),
        )
        mode = "polling"
        if request.param == "postgres":
            mode = "webhook"
            env["WEBHOOK_BASE_URL"] = f"http://127.0.0.1:{port}"
            env["WEBHOOK_SECRET"] = "outages-webhook-secret-0123456789"
        process = exits.enter_context(BotProcess(folder, env))
        await process.start()
        app = await exits.enter_async_context(process.seen_from_test())
        session = await exits.enter_async_context(aiohttp.ClientSession())
        stack = Stack(emu, app, session, PATIENCE_S)
        guardians = [await linked_guardian(stack) for _ in range(GUARDIANS)]
        world = World(mode, stack, process, emu_port, sms, guardians)
        yield world
        if not world.telegram_up:  # a failed test left Telegram down
            await world.telegram_back()
        code = await asyncio.to_thread(process.stop)
    output = process.output()
    assert code == 0 and "Traceback" not in output, process.output_tail()


def holds(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """`condition` in the shape `eventually` polls."""

    async def check() -> bool:
        return condition()

    return check


def notices_to(world: World, chat_id: int, question: str) -> list[ApiCall]:
    return [
        call
        for call in accepted_sends(world.emu)
        if call.result["chat"]["id"] == chat_id and question in call.result.get("text", "")
    ]


async def outbox(world: World) -> list[OutboxMessage]:
    async with world.stack.app.svc.sessions() as session:
        return list((await session.scalars(select(OutboxMessage))).all())


async def all_sent(world: World) -> list[OutboxMessage]:
    """Wait until no outbox row waits or is being sent; return them all."""

    async def settled() -> list[OutboxMessage] | None:
        rows = await outbox(world)
        return rows if not {r.status for r in rows} & {"pending", "retry", "sending"} else None

    return await eventually(settled, timeout=PATIENCE_S, what="every outbox row settled")


async def answers_again(world: World, user: UserHandle) -> None:
    """The bot takes updates again (polling resumed, or the webhook set again)."""
    await user.send_command("help")
    await world.stack.next_message(user.chat_id, shown(world.stack, "kk", "help.text")[:40])


def report(name: str, world: World, figures: dict[str, object]) -> None:
    print(f"\n{name} [{world.mode}]: " + ", ".join(f"{k} {v}" for k, v in figures.items()))  # noqa: T201


# -- (1) --------------------------------------------------------------------------------
async def test_bot_api_and_sms_gateway_down_15_s_lose_nothing(world: World) -> None:
    stack, question = world.stack, shown(world.stack, "kk", "consent.question")
    since = len(world.process.output())
    down_at = await world.telegram_down()
    await world.sms.stop()
    cases = [str((await signal_for(stack, user))["case_id"]) for user in world.guardians]
    strangers = [make_phone() for _ in range(GUARDIANS)]
    for phone in strangers:  # never opened the bot: an SMS with a link
        created = await stack.post_signal(guardian={"phone": phone, "iin": None})
        cases.append(str(created["case_id"]))

    async def both_down() -> bool:
        now = world.metrics()
        return not (
            now['homeschool_channel_up{channel="telegram"}']
            or now['homeschool_channel_up{channel="sms"}']
        )

    await eventually(both_down, timeout=PATIENCE_S, what="both outages seen")
    await asyncio.sleep(down_at + SHORT_OUTAGE_S - time.monotonic())
    during = await outbox(world)
    back_at = await world.telegram_back()
    await world.sms.start()
    rows = await all_sent(world)

    notices = {u.chat_id: notices_to(world, u.chat_id, question) for u in world.guardians}
    texts = Counter(str(hit.body["to"]) for hit in world.sms.delivered)
    arrivals = [c.at for calls in notices.values() for c in calls] + [
        hit.at for hit in world.sms.delivered
    ]
    after = world.metrics()
    ours = [r for r in rows if r.case_id in cases]
    report(
        "Bot API and SMS gateway down",
        world,
        {
            "outage s": round(back_at - down_at, 1),
            "queued": len([r for r in during if r.case_id in cases and r.status != "sent"]),
            "delivered": sum(map(len, notices.values())) + sum(texts.values()),
            "last after return s": round(max(arrivals, default=back_at) - back_at, 1),
            "duplicates": sum(len(c) - 1 for c in notices.values() if c)
            + sum(n - 1 for n in texts.values()),
            "dead": sum(r.status == "dead" for r in rows),
            "attempts": sum(r.attempts for r in ours),
        },
    )
    await answers_again(world, world.guardians[0])
    assert [len(calls) for calls in notices.values()] == [1] * GUARDIANS
    assert sorted(texts) == sorted(strangers) and set(texts.values()) == {1}
    assert all(0 <= at - back_at <= BACK_WITHIN_S for at in arrivals), arrivals
    assert {r.status for r in during if r.case_id in cases} <= {"pending", "retry"}
    assert {(r.status, r.attempts) for r in ours} == {("sent", 0)}
    assert not [r for r in rows if r.status == "dead"]
    assert world.emu.rejected_429 == 0  # the backlog left at Telegram's pace
    assert after['homeschool_channel_up{channel="telegram"}'] == 1
    assert after['homeschool_channel_outages_total{channel="telegram"}'] == 1
    assert after['homeschool_channel_outages_total{channel="sms"}'] == 1
    assert after['homeschool_channel_down_seconds_total{channel="telegram"}'] >= SHORT_OUTAGE_S - 5
    assert after['homeschool_channel_outage_escalations_total{channel="telegram"}'] == 0
    assert len(world.log_lines(since, "telegram is unreachable")) == 1
    assert len(world.log_lines(since, "telegram is reachable again")) == 1
    assert len(world.log_lines(since, "sms is unreachable")) == 1
    assert world.log_lines(since, "escalation:") == []
    if world.mode == "polling":  # aiogram's retries: the first failure, then quiet
        assert len(world.log_lines(since, "Failed to fetch updates")) == 1
        assert world.log_lines(since, "Sleep for") == []
    if world.mode == "webhook":
        assert world.emu.webhook is not None
        assert world.emu.webhook.url == f"{world.process.base_url}/telegram/webhook"


# -- (2) --------------------------------------------------------------------------------
async def test_school_503_and_bot_api_down_past_the_setting_escalated_once(world: World) -> None:
    stack, question = world.stack, shown(world.stack, "kk", "consent.question")
    school = Endpoint(answering=503)
    await school.start()
    try:
        authority = world.emu.group(-1001000000951, "Білім бөлімі")
        school_bin = await stack.add_school(
            webhook_url=school.url, webhook_secret="s" * 32, escalation_chat_id=authority.id
        )
        since = len(world.process.output())
        submitted = await submit_case(stack, school_bin)
        await eventually(holds(lambda: bool(school.hits)), what="the package tried")
        down_at = await world.telegram_down()
        cases = [str((await signal_for(stack, user))["case_id"]) for user in world.guardians]
        await asyncio.sleep(down_at + LONG_OUTAGE_S - time.monotonic())
        during = await outbox(world)
        escalated_while_down = world.metrics()
        back_at = await world.telegram_back()

        def noticed() -> bool:
            last = [notices_to(world, u.chat_id, question)[-1:] for u in world.guardians]
            return all(calls and calls[0].at > down_at for calls in last)

        await eventually(holds(noticed), timeout=PATIENCE_S, what="the notices after the return")
        school.answering, school_back_at = 200, time.monotonic()
        case = await wait_for_status(stack, submitted.case_id, "forwarded", timeout=PATIENCE_S)
        rows = await all_sent(world)
    finally:
        await school.stop()

    fresh = {
        u.chat_id: [c for c in notices_to(world, u.chat_id, question) if c.at > down_at]
        for u in world.guardians
    }
    arrivals = [c.at for calls in fresh.values() for c in calls]
    packages = Counter(hit.headers["Idempotency-Key"] for hit in school.delivered)
    after = world.metrics()
    ids = [*cases, submitted.case_id]
    ours = [r for r in rows if r.case_id in ids]
    report(
        "School 503 and Bot API down past the setting",
        world,
        {
            "Bot API outage s": round(back_at - down_at, 1),
            "school outage s": round(school_back_at - school.hits[0].at, 1),
            "queued": len([r for r in during if r.case_id in ids and r.status != "sent"]),
            "notices last after return s": round(max(arrivals, default=back_at) - back_at, 1),
            "package after return s": round(school.delivered[0].at - school_back_at, 1)
            if school.delivered
            else None,
            "duplicates": sum(len(c) - 1 for c in fresh.values() if c)
            + sum(n - 1 for n in packages.values()),
            "dead": sum(r.status == "dead" for r in rows),
            "attempts": sum(r.attempts for r in ours),
        },
    )
    escalation = await stack.next_message(authority.id, school_bin)
    await answers_again(world, world.guardians[1])
    to_authority = [m for m in world.emu.sent(authority.id) if school_bin in (m.text or "")]
    assert [len(calls) for calls in fresh.values()] == [1] * GUARDIANS
    assert all(0 <= at - back_at <= BACK_WITHIN_S for at in arrivals), arrivals
    assert list(packages.values()) == [1]
    assert 0 <= school.delivered[0].at - school_back_at <= BACK_WITHIN_S
    assert case.status == "forwarded"
    assert {(r.status, r.attempts) for r in ours} == {("sent", 0)}
    assert not [r for r in rows if r.status == "dead"]
    assert len(to_authority) == 1 and escalation.text == to_authority[0].text
    assert escalated_while_down['homeschool_channel_up{channel="telegram"}'] == 0
    assert escalated_while_down['homeschool_channel_up{channel="webhook"}'] == 0
    assert after['homeschool_channel_up{channel="telegram"}'] == 1
    assert after['homeschool_channel_up{channel="webhook"}'] == 1
    assert after['homeschool_channel_outage_escalations_total{channel="telegram"}'] == 1
    assert after['homeschool_channel_outage_escalations_total{channel="webhook"}'] == 1
    assert len(world.log_lines(since, "escalation: telegram")) == 1
    assert len(world.log_lines(since, "telegram is unreachable")) == 1
    assert len(world.log_lines(since, "telegram is reachable again")) == 1
    assert len(world.log_lines(since, "is unreachable (webhook")) == 1
    assert {r.status for r in during if r.case_id in cases} <= {"pending", "retry"}
