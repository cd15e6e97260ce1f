"""Getting the package and the result through when Telegram pushes back: flood control
(429), a staff group that removed the bot (escalation) and a guardian who blocked the
bot (SMS fallback)."""

from __future__ import annotations

import asyncio
import re
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.emulator import ApiCall, TelegramEmulator
from bot.usecases.case_views import case_number
from bot.usecases.schools import issue_school_api_key
from bot.usecases.stats import collect_stats
from storage.models import Guardian, LinkToken, OutboxMessage
from storage.repositories.tokens import token_hash
from tests.e2e.harness import (
    LoopbackReceiver,
    ReceivedRequest,
    Stack,
    SubmittedCase,
    eventually,
    load_case,
    outbox_rows,
    post_decision,
    running_stack,
    submit_case,
    wait_for_status,
)

pytestmark = pytest.mark.slow

ACCEPT = {"decision": "accepted"}
REFUSE = {"decision": "refused", "ground": 2, "reason": "Сынып нөмірі қорытындыға сәйкес емес"}
SMS_TOKEN = "sms-gateway-token"
KICKED = "Forbidden: bot was kicked from the supergroup chat"


def calls_to_chat(emu: TelegramEmulator, method: str, chat_id: int) -> list[ApiCall]:
    return [c for c in emu.calls_to(method) if str(c.params.get("chat_id")) == str(chat_id)]


def check_waited_after_429(emu: TelegramEmulator, method: str, chat_id: int, ok: int) -> None:
    """One 429 answer; then `ok` successful calls, the first no sooner than retry_after."""
    calls = calls_to_chat(emu, method, chat_id)
    [rejected] = [c for c in calls if c.error_code == 429]
    later = [c for c in calls if c.ok and c.at > rejected.at]
    assert len(later) == ok, [(c.ok, c.error_code) for c in calls]
    assert later[0].at - rejected.at >= 1.0


async def result_row(
    stack: Stack, case_id: str, status: str, attempts: int
) -> OutboxMessage | None:
    [row] = await outbox_rows(stack, case_id, "result")
    return row if (row.status, row.attempts) == (status, attempts) else None


async def check_sms_fallback(stack: Stack, case: SubmittedCase, sms: ReceivedRequest) -> None:
    """The SMS carries a fresh deep link for the case; the guardian is unreachable and
    the result that could not be delivered is a dead letter."""
    assert sms.headers["Authorization"] == f"Bearer {SMS_TOKEN}"
    assert sms.json()["to"] == case.guardian.user.phone
    link = re.search(r"https://t\.me/homeschool_test_bot\?start=(\S+)", sms.json()["text"])
    assert link is not None, sms.json()["text"]
    async with stack.app.svc.sessions() as session:
        token = await session.scalar(
            select(LinkToken).where(LinkToken.token_hash == token_hash(link.group(1)))
        )
        guardian = await session.scalar(
            select(Guardian).where(Guardian.telegram_user_id == case.guardian.id)
        )
    assert token is not None and (token.purpose, token.case_id) == ("guardian", case.case_id)
    assert guardian is not None and guardian.unreachable_at is not None
    [result] = await outbox_rows(stack, case.case_id, "result")
    assert result.status == "dead" and "Forbidden" in (result.last_error or "")
    assert (await load_case(stack, case.case_id)).status == "accepted"


async def check_kicked_inbox(stack: Stack, case: SubmittedCase, authority_chat: int) -> None:
    """The package cannot reach a group that removed the bot: both rows are dead, the
    case waits as `submitted`, and the local authority is told."""
    alert = await stack.next_message(authority_chat, "жеткізу мүмкін болмады")
    assert case_number(case.case_id) in (alert.text or "")
    assert case.signal["school"]["bin"] in (alert.text or "")
    assert stack.app.svc.texts("kk", "undeliverable.blocked") in (alert.text or "")
    rows = await outbox_rows(stack, case.case_id, "school_package")
    assert [r.status for r in rows] == ["dead", "dead"]
    assert all("Forbidden" in (r.last_error or "") for r in rows)
    assert (await load_case(stack, case.case_id)).status == "submitted"


async def test_flood_control_is_honoured_and_blocked_chats_are_worked_around(
    tmp_path: Path,
) -> None:
    async with (
        LoopbackReceiver() as gateway,
        running_stack(tmp_path, SMS_GATEWAY_URL=gateway.url, SMS_GATEWAY_TOKEN=SMS_TOKEN) as stack,
    ):
        emu = stack.emu
        inbox = emu.group(chat_id=-1001000000701, title="№ 12 мектеп")
        school_bin = await stack.add_school(telegram_chat_id=inbox.id)
        key = (await issue_school_api_key(stack.app.svc, school_bin)).key
        emu.fail_next("sendDocument", error_code=429, retry_after=1, chat_id=inbox.id)
        kicked, authority = emu.group(chat_id=-1001000000702), emu.group(chat_id=-1001000000703)
        kicked_bin = await stack.add_school(
            telegram_chat_id=kicked.id, escalation_chat_id=authority.id
        )
        for method in ("sendMessage", "sendDocument"):
            emu.fail_next(method, error_code=403, description=KICKED, chat_id=kicked.id)
        patient, blocking, unlucky = await asyncio.gather(
            submit_case(stack, school_bin),
            submit_case(stack, school_bin, first_name="Динара"),
            submit_case(stack, kicked_bin, first_name="Сәуле"),
        )
        for case in (patient, blocking):
            await wait_for_status(stack, case.case_id, "forwarded")
        check_waited_after_429(emu, "sendDocument", inbox.id, ok=2)
        assert len([m for m in emu.sent(inbox.id) if m.document is not None]) == 2

        younger = await stack.post_signal(
            guardian={"phone": blocking.guardian.user.phone, "iin": None},
            school={"bin": school_bin, "grade": 1},
        )
        await stack.next_message(blocking.guardian.chat_id, "Келісім бересіз бе?")
        await wait_for_status(stack, younger["case_id"], "notified")
        blocking.guardian.block()
        emu.fail_next(
            "sendMessage", error_code=429, retry_after=1, chat_id=patient.guardian.chat_id
        )
        assert (await post_decision(stack, patient.case_id, REFUSE, key=key))[0] == 200
        assert (await post_decision(stack, blocking.case_id, ACCEPT, key=key))[0] == 200

        await stack.next_message(patient.guardian.chat_id, "бас тарту туралы алдын ала шешім")
        check_waited_after_429(emu, "sendMessage", patient.guardian.chat_id, ok=1)
        assert emu.rejected_429 == 2
        # Flood control is no failure: the attempt is not counted.
        await eventually(partial(result_row, stack, patient.case_id, "sent", 0), what="sent")

        [sms] = await gateway.wait_delivered()
        await check_sms_fallback(stack, blocking, sms)
        await check_kicked_inbox(stack, unlucky, authority.id)
        stats = await collect_stats(stack.app.svc)
        assert stats.unreachable_open == 1  # the younger child's case, still open
        assert stats.dead_letters == 3  # the blocked guardian's result, the kicked package


async def test_guardian_back_through_the_sms_link_gets_the_missed_receipt(tmp_path: Path) -> None:
    async with (
        LoopbackReceiver() as gateway,
        running_stack(tmp_path, SMS_GATEWAY_URL=gateway.url, SMS_GATEWAY_TOKEN=SMS_TOKEN) as stack,
    ):
        inbox = stack.emu.group(chat_id=-1001000000801, title="№ 12 мектеп")
        school_bin = await stack.add_school(telegram_chat_id=inbox.id)
        key = (await issue_school_api_key(stack.app.svc, school_bin)).key
        case = await submit_case(stack, school_bin)
        case.guardian.block()
        assert (await post_decision(stack, case.case_id, ACCEPT, key=key))[0] == 200
        [sms] = await gateway.wait_delivered()
        link = re.search(r"\?start=(\S+)", sms.json()["text"])
        assert link is not None

        case.guardian.unblock()
        await case.guardian.send_command("/start", link.group(1))
        # Linked already: the link brings back their cases and what they missed.
        await stack.next_message(case.guardian.chat_id, "Сіздің өтінімдеріңіз")
        await stack.next_message(case.guardian.chat_id, "Тіркеу нөмірі: 2026/00001", timeout=3)
