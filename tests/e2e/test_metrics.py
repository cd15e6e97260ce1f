"""`GET /metrics` and `GET /readyz` as Prometheus and a load balancer see them.

One flow touches every series: signals of each result, a case decided after its
deadline, Telegram messages sent, retried, rate-limited and dead, a school webhook
retried then delivered, and an SMS sent when a guardian blocked the bot.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from bot.emulator import TelegramEmulator
from bot.usecases.schools import issue_school_api_key
from storage.models import OutboxMessage
from tests.conftest import SIGNAL_SECRET
from tests.e2e.harness import (
    TOKEN,
    LoopbackReceiver,
    MovableClock,
    Stack,
    eventually,
    linked_guardian,
    outbox_rows,
    post_decision,
    running_stack_on,
    signal_for,
    submit_case,
    wait_for_status,
)
from tests.factories import signed
from tests.process import admin_execute, fresh_postgres_database

pytestmark = pytest.mark.slow

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(stack: Stack) -> Samples:
    """Every sample of one scrape, keyed by name and labels, parsed as Prometheus does."""
    async with stack.http.get(f"{stack.base_url}/metrics") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        body = await resp.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def post_signed(stack: Stack, payload: dict[str, Any]) -> int:
    body, headers = signed(payload, SIGNAL_SECRET, stack.app.svc.clock.timestamp())
    async with stack.http.post(
        f"{stack.base_url}/api/v1/signals/vkk", data=body, headers=headers
    ) as resp:
        return resp.status


async def rows_by_channel(stack: Stack, status: str) -> dict[str, int]:
    async with stack.app.svc.sessions() as session:
        query = (
            select(OutboxMessage.channel, func.count())
            .where(OutboxMessage.status == status)
            .group_by(OutboxMessage.channel)
        )
        return {channel: int(n) for channel, n in (await session.execute(query)).all()}


async def test_metrics_follow_signals_cases_messages_and_deadlines(tmp_path: Path) -> None:
    clock = MovableClock()
    async with (
        TelegramEmulator(token=TOKEN) as emu,
        LoopbackReceiver(fail_first=1, fail_status=503) as school_hook,
        LoopbackReceiver() as sms_gateway,
        running_stack_on(
            emu,
            tmp_path,
            clock=clock,
            SMS_GATEWAY_URL=sms_gateway.url,
            SMS_GATEWAY_TOKEN="sms-token",
        ) as stack,
    ):
        school_bin = await stack.add_school(webhook_url=school_hook.url, webhook_secret="s3cret")
        key = (await issue_school_api_key(stack.app.svc, school_bin)).key
        emu.fail_next("sendMessage", error_code=429, retry_after=1)
        case = await submit_case(stack, school_bin)
        await school_hook.wait_delivered()
        await wait_for_status(stack, case.case_id, "forwarded")

        assert await post_signed(stack, case.signal) == 200
        broken = json.loads(json.dumps(case.signal))
        broken["signal_id"] = "KZ-VKK-2026-BROKEN"
        broken["child"]["iin"] = "000000000001"
        assert await post_signed(stack, broken) == 422
        async with stack.http.post(f"{stack.base_url}/api/v1/signals/vkk", json={}) as resp:
            assert resp.status == 401

        clock.advance(timedelta(days=7))
        assert (await post_decision(stack, case.case_id, {"decision": "accepted"}, key=key))[
            0
        ] == 200

        blocked = await linked_guardian(stack, first_name="Динара")
        blocked.block()
        await signal_for(stack, blocked)
        await sms_gateway.wait_delivered()
        stuck = await linked_guardian(stack, first_name="Сәуле")
        emu.fail_next("sendMessage", times=100, error_code=500, chat_id=stuck.chat_id)
        stuck_case = await signal_for(stack, stuck)

        async def retried_once() -> bool:
            [notice] = await outbox_rows(stack, str(stuck_case["case_id"]), "notice")
            return notice.attempts >= 1

        await eventually(retried_once, what="the stuck notice failed once")

        async def settled() -> Samples | None:
            samples = await scrape(stack)
            sent = await rows_by_channel(stack, "sent")
            exported = {
                channel: value(samples, "homeschool_messages_total", channel=channel, result="sent")
                for channel in ("telegram", "webhook", "sms")
            }
            return samples if exported == {c: sent.get(c, 0) for c in exported} else None

        samples = await eventually(settled, what="sent counters matching the outbox")

    assert value(samples, "homeschool_signals_received_total", result="accepted") == 3
    assert value(samples, "homeschool_signals_received_total", result="duplicate") == 1
    assert value(samples, "homeschool_signals_received_total", result="invalid") == 1
    assert value(samples, "homeschool_signals_received_total", result="unauthorized") == 1

    assert value(samples, "homeschool_cases", status="accepted") == 1
    assert sum(v for (name, _), v in samples.items() if name == "homeschool_cases") == 3
    assert value(samples, "homeschool_deadline_breaches") == 1

    def messages(channel: str, result: str) -> float:
        return value(samples, "homeschool_messages_total", channel=channel, result=result)

    assert messages("telegram", "sent") >= 10
    assert messages("telegram", "retried") >= 1
    assert messages("telegram", "dead") == 1
    # The school's 503 was an outage of its server, the stuck chat's 500 one of Telegram
    # until getMe proved it up; then the 500s counted against that message.
    assert (messages("webhook", "sent"), messages("webhook", "retried")) == (1, 0)
    for channel, outages in (("telegram", 1), ("webhook", 1), ("sms", 0)):
        assert value(samples, "homeschool_channel_outages_total", channel=channel) == outages
        assert value(samples, "homeschool_channel_up", channel=channel) == 1
    assert messages("sms", "sent") == 1
    assert value(samples, "homeschool_telegram_429_total") == 1

    assert value(samples, "homeschool_outbox_backlog") >= 1
    assert value(samples, "homeschool_outbox_oldest_pending_seconds") > 0
    guardian_updates = 3 * 2 + 3  # /start and contact each; consent, address, confirm
    assert value(samples, "homeschool_update_handling_seconds_count") >= guardian_updates


async def readiness(stack: Stack) -> tuple[int, dict[str, Any]]:
    async with stack.http.get(f"{stack.base_url}/readyz") as resp:
        return resp.status, await resp.json()


@pytest.mark.postgres
async def test_readyz_fails_while_the_database_refuses_connections(tmp_path: Path) -> None:
    async with (
        fresh_postgres_database("readyz") as database,
        TelegramEmulator(token=TOKEN) as emu,
        running_stack_on(emu, tmp_path, database.url) as stack,
    ):
        assert await readiness(stack) == (200, {"status": "ok", "database": "ok"})
        await admin_execute(f'ALTER DATABASE "{database.name}" ALLOW_CONNECTIONS false')
        await admin_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database.name}'"
        )
        try:
            assert await readiness(stack) == (
                503,
                {"status": "unavailable", "database": "unreachable"},
            )
            async with stack.http.get(f"{stack.base_url}/healthz") as resp:
                assert resp.status == 200
        finally:
            await admin_execute(f'ALTER DATABASE "{database.name}" ALLOW_CONNECTIONS true')

        async def ready_again() -> bool:
            return (await readiness(stack))[0] == 200

        await eventually(ready_again, what="ready again once the database is back")
