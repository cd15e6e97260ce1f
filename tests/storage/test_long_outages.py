"""Long outages on a shifted test clock: the Bot API gone for 10 minutes, a school's server
answering 503 for an hour, and nothing lost.

The real dispatcher runs in the background against the loopback servers of
`test_dispatcher`; one fake clock drives both its monotonic time (probes, escalation,
pacing) and the services' clock (row due times, leases, signatures), moved 30 s at a
time. Each step waits for the probe that step brings, so an hour takes seconds. The
dispatcher's waits are real timeouts worked out from its clock, so a short sweep interval
lets it see each step at once (the default 1 s would cost a real second a step).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from bot.clock import FrozenClock
from bot.delivery.circuits import PROBE_CAP_S, TELEGRAM
from bot.delivery.dispatcher import OutboxDispatcher
from bot.delivery.effects import CaseDeliveryEffects
from bot.metrics import Metrics
from storage.models import OutboxMessage
from storage.outbox import Kind, OutgoingMessage, WebhookPayload
from tests.storage import test_dispatcher
from tests.storage.test_dispatcher import Harness, add_school, message, text_to

STEP_S = 30.0
harness = test_dispatcher.harness  # the loopback servers and the bot of those tests
WAITING = {("pending", 0), ("retry", 0), ("sending", 0)}  # "sending": a probe in flight
WAITING = {("pending", 0), ("retry", 0), ("sending", 0)}  # "sending": the probe in flight
SWEEP_S = 0.05  # the dispatcher notices each step of the clock within 50 ms


class FakeTime:
    """Monotonic seconds and the services' clock, moved together only by the test."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.clock.advance(timedelta(seconds=seconds))


async def until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - polls the dispatcher's state
            await asyncio.sleep(0.01)


async def follow_real_time(fake: FakeTime, done: Callable[[], bool], within_s: float) -> None:
    """After the return, fake time runs with real time: pacing needs it to move."""
    async with asyncio.timeout(within_s):
        while not done():
            await asyncio.sleep(0.02)
            fake.advance(0.02)


async def rows(harness: Harness) -> list[OutboxMessage]:
    async with harness.svc.sessions() as session:
        return list((await session.scalars(select(OutboxMessage))).all())


def metric(metrics: Metrics, line: str) -> bool:
    return line in metrics.render().decode()


async def test_bot_api_down_ten_minutes_loses_nothing(harness: Harness) -> None:
    fake = FakeTime(harness.clock)
    chats = [await harness.started_chat() for _ in range(10)]
    dispatcher = OutboxDispatcher(
        harness.svc.delivering,
        harness.hooks,
        harness.bot,
        harness.http,
        monotonic=fake,
        sweep_interval_s=SWEEP_S,
        commit_linger_s=0.005,
    )
    metrics = Metrics()
    metrics.watch_channels(dispatcher.health)
    port = urlsplit(harness.emu.base_url).port
    dispatcher.start()
    try:
        await harness.emu.stop()  # connections refused from now on
        await harness.enqueue(
            *(text_to(chat, "до", key=f"before:{n}") for n, chat in enumerate(chats[:5]))
        )
        await until(lambda: dispatcher.health.is_open(TELEGRAM))
        started = fake.now
        later = iter(enumerate(chats[5:]))
        while fake.now - started < 600.0:
            fake.advance(STEP_S)
            probes = dispatcher.health.circuits[TELEGRAM].probes
            await until(lambda p=probes: dispatcher.health.circuits[TELEGRAM].probes > p)
            if int(fake.now - started) % 120 == 0 and (item := next(later, None)):
                await harness.enqueue(text_to(item[1], "во время", key=f"during:{item[0]}"))
        await until(lambda: len(harness.hooks.outages) == 1)
        assert dispatcher.health.is_open(TELEGRAM)
        getme_refused = dispatcher.health.circuits[TELEGRAM].probes
        assert metric(metrics, 'homeschool_channel_up{channel="telegram"} 0.0')
        waiting = await rows(harness)
        assert {(r.status, r.attempts) for r in waiting} <= WAITING

        await harness.emu.start(port=port or 0)
        returned_fake, returned_real = fake.now, time.monotonic()
        fake.advance(PROBE_CAP_S)  # the next probe, at most this long after the return
        await follow_real_time(fake, lambda: len(harness.emu.state.sent) == 10, within_s=15)
        fake_after, real_after = fake.now - returned_fake, time.monotonic() - returned_real
        await asyncio.sleep(0.3)  # a duplicate would have gone by now
    finally:
        await dispatcher.stop()

    final = await rows(harness)
    print(  # noqa: T201 - the figures of the run, shown with -s
        f"\ntelegram: down {fake.now - started - fake_after:.0f} s fake, {len(final)} queued, "
        f"{getme_refused} refused getMe probes, escalated after "
        f"{harness.hooks.outages[0][1]:.0f} s, all sent {fake_after:.2f} s fake / "
        f"{real_after:.2f} s real after the return"
    )
    assert len(final) == 10
    assert [(r.status, r.attempts) for r in final] == [("sent", 0)] * 10
    assert sorted(m.chat_id for m in harness.emu.state.sent) == sorted(chats)  # each once
    assert fake_after < PROBE_CAP_S + 2  # the next probe, then the backlog at once
    assert harness.hooks.outages == [(TELEGRAM, 600.0)]  # OUTAGE_ESCALATION_AFTER_S, once
    assert getme_refused == 600 / STEP_S  # one probe a step, none of them counted on a row
    assert dispatcher.health.outages(TELEGRAM) == 1
    assert dispatcher.health.escalations(TELEGRAM) == 1
    assert metric(metrics, 'homeschool_channel_outage_escalations_total{channel="telegram"} 1.0')
    assert metric(metrics, 'homeschool_channel_up{channel="telegram"} 1.0')
    assert dispatcher.counters.dead == 0 and dispatcher.counters.retried == 0


async def test_school_server_503_for_an_hour_loses_nothing(harness: Harness) -> None:
    fake = FakeTime(harness.clock)
    authority = harness.emu.group(-1001000000960)
    url = f"{harness.receiver.base_url}/school"
    school = await add_school(harness, url, escalation_chat_id=authority.id)
    destination = f"webhook:school:{school.id}"
    harness.receiver.failing_paths.add("/school")
    dispatcher = OutboxDispatcher(
        harness.svc.delivering,
        CaseDeliveryEffects(harness.svc.delivering, harness.svc.texts, harness.svc.guardian_links),
        harness.bot,
        harness.http,
        monotonic=fake,
        sweep_interval_s=SWEEP_S,
        commit_linger_s=0.005,
    )
    metrics = Metrics()
    metrics.watch_channels(dispatcher.health)

    def package(n: int) -> OutgoingMessage:
        return message(f"pkg:{n}", WebhookPayload(school.id, url, {"n": n}))

    dispatcher.start()
    try:
        await harness.enqueue(*(package(n) for n in range(5)))
        await until(lambda: dispatcher.health.is_open(destination))
        started, queued = fake.now, 5
        while fake.now - started < 3600.0:
            fake.advance(STEP_S)
            probes = dispatcher.health.circuits[destination].probes
            await until(lambda p=probes: dispatcher.health.circuits[destination].probes > p)
            if int(fake.now - started) % 600 == 0:
                await harness.enqueue(package(queued))
                queued += 1
        assert dispatcher.health.is_open(destination)
        assert metric(metrics, 'homeschool_channel_up{channel="webhook"} 0.0')
        waiting = [r for r in await rows(harness) if r.channel == "webhook"]
        assert {(r.status, r.attempts) for r in waiting} <= WAITING

        harness.receiver.failing_paths.clear()
        returned_fake, returned_real = fake.now, time.monotonic()
        fake.advance(PROBE_CAP_S)  # the next probe, at most this long after the return

        def all_in() -> bool:
            return sum(r.answered == 200 for r in harness.receiver.requests) == queued

        await follow_real_time(fake, all_in, within_s=15)
        fake_after, real_after = fake.now - returned_fake, time.monotonic() - returned_real
        await asyncio.sleep(0.3)  # a duplicate would have gone by now
    finally:
        await dispatcher.stop()

    final = await rows(harness)
    packages = [r for r in final if r.channel == "webhook"]
    escalations = [r for r in final if r.kind == Kind.ESCALATION]
    oks = [json.loads(r.body)["n"] for r in harness.receiver.requests if r.answered == 200]
    refused = sum(r.answered == 503 for r in harness.receiver.requests)
    print(  # noqa: T201 - the figures of the run, shown with -s
        f"\nschool: down {fake.now - started - fake_after:.0f} s fake, {queued} queued, "
        f"{refused} refused probes, all sent {fake_after:.2f} s fake / {real_after:.2f} s "
        "real after the return"
    )
    assert sorted(oks) == list(range(queued))  # every package once, none twice
    assert [(r.status, r.attempts) for r in packages] == [("sent", 0)] * queued
    assert fake_after < PROBE_CAP_S + 2  # the next probe, then the backlog at once
    assert [(r.recipient, r.status) for r in escalations] == [(str(authority.id), "sent")]
    assert len(harness.emu.sent(authority.id)) == 1
    assert school.bin in (harness.emu.sent(authority.id)[0].text or "")
    assert refused == 1 + 3600 / STEP_S  # the first send, then one probe (one row) a step
    assert dispatcher.health.outages("webhook") == dispatcher.health.escalations("webhook") == 1
    assert metric(metrics, 'homeschool_channel_outage_escalations_total{channel="webhook"} 1.0')
    assert metric(metrics, 'homeschool_channel_up{channel="webhook"} 1.0')
    assert dispatcher.counters.dead == 0 and dispatcher.counters.retried == 0
