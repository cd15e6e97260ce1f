"""Who the guardian is: the SMS deep link, someone else's contact, and nothing medical
shown to anyone before their own phone matched the case.

The three stories run side by side in one process (each chat is paced on its own), so
they cost the time of the longest one.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.emulator import UserHandle
from storage.models import Guardian, LinkToken
from tests.e2e.harness import (
    LoopbackReceiver,
    ReceivedRequest,
    Stack,
    audit_events,
    chat_texts,
    eventually,
    load_case,
    outbox_rows,
    running_stack,
    shown,
    wait_for_status,
)
from tests.factories import make_phone

pytestmark = pytest.mark.slow

SMS_TOKEN = "sms-gateway-test-token"
DEEP_LINK = re.compile(r"https://t\.me/homeschool_test_bot\?start=([A-Za-z0-9_-]+)")
CONCLUSION = {
    "number": "ВКК-3141-59",
    "organization": "Қаскелең аудандық емханасы",
    "summary": "Созылмалы ауру, ұзақ емдеу",
}


def medical_details(payload: dict[str, Any]) -> list[str]:
    """What only the guardian whose phone matched may read."""
    conclusion = payload["conclusion"]
    child = payload["child"]
    return [child["full_name"], child["iin"], *(conclusion[k] for k in CONCLUSION)]


def leaked(stack: Stack, chat_id: int, payload: dict[str, Any]) -> list[str]:
    everything = "\n".join(chat_texts(stack, chat_id))
    return [detail for detail in medical_details(payload) if detail in everything]


async def linked_user_id(stack: Stack, telegram_user_id: int) -> int | None:
    async with stack.app.svc.sessions() as session:
        query = select(Guardian.id).where(Guardian.telegram_user_id == telegram_user_id)
        return (await session.execute(query)).scalar_one_or_none()


async def open_bot_and_share_phone(stack: Stack, user: UserHandle, token: str | None) -> None:
    """`/start [token]` (Kazakh, as Telegram reports), then the own phone."""
    await user.send_command("/start", token)
    await stack.next_message(user.chat_id, shown(stack, "kk", "identity.ask_contact"))
    await user.share_contact()


async def sms_link_token(gateway: LoopbackReceiver, phone: str) -> str:
    """Wait for the SMS to `phone` and return the deep-link token it carries."""

    async def probe() -> list[ReceivedRequest] | None:
        return [r for r in gateway.delivered if r.json()["to"] == phone] or None

    [sms] = await eventually(probe, what=f"an SMS to {phone}")
    assert sms.headers["Authorization"] == f"Bearer {SMS_TOKEN}"
    assert sms.headers["Content-Type"].startswith("application/json")
    match = DEEP_LINK.search(sms.json()["text"])
    assert match is not None, sms.json()
    return match.group(1)


async def deep_link_links_only_the_phone_it_was_sent_to(
    stack: Stack, gateway: LoopbackReceiver
) -> None:
    """A forwarded SMS link is refused to another phone, works once for the right one,
    and afterwards only says it is used up."""
    phone = make_phone()
    created = await stack.post_signal(guardian={"phone": phone, "iin": None}, conclusion=CONCLUSION)
    case_id, payload = str(created["case_id"]), created["payload"]
    assert created["status"] == "awaiting_link"
    token = await sms_link_token(gateway, phone)
    [sms] = [r.json()["text"] for r in gateway.delivered if r.json()["to"] == phone]
    assert [d for d in medical_details(payload) if d in sms] == []

    stranger = stack.emu.user(first_name="Бөтен", language_code="kk", phone=make_phone())
    await open_bot_and_share_phone(stack, stranger, token)
    await stack.next_message(stranger.chat_id, shown(stack, "kk", "identity.token_other_phone"))
    assert await linked_user_id(stack, stranger.id) is None
    assert (await load_case(stack, case_id)).status == "awaiting_link"

    guardian = stack.emu.user(first_name="Айгүл", language_code="kk", phone=phone)
    await open_bot_and_share_phone(stack, guardian, token)
    notice = await stack.next_message(guardian.chat_id, shown(stack, "kk", "consent.question"))
    await wait_for_status(stack, case_id, "notified")
    assert payload["child"]["full_name"] in (notice.text or "")
    assert CONCLUSION["organization"] in (notice.text or "")

    await open_bot_and_share_phone(stack, stranger, token)
    used = await stack.next_message(stranger.chat_id, shown(stack, "kk", "identity.token_invalid"))
    assert shown(stack, "kk", "identity.no_cases") in (used.text or "")
    assert leaked(stack, stranger.chat_id, payload) == []
    async with stack.app.svc.sessions() as session:
        link = (await session.scalars(select(LinkToken).where(LinkToken.case_id == case_id))).one()
    assert link.used_at is not None
    assert "guardian_linked" in [e.event for e in await audit_events(stack, case_id)]


async def expired_link_says_so_then_matches_by_phone(
    stack: Stack, gateway: LoopbackReceiver
) -> None:
    phone = make_phone()
    created = await stack.post_signal(guardian={"phone": phone, "iin": None})
    case_id = str(created["case_id"])
    token = await sms_link_token(gateway, phone)
    async with stack.app.svc.sessions.begin() as session:
        yesterday = stack.app.svc.clock.now() - timedelta(days=1)
        await session.execute(
            update(LinkToken).where(LinkToken.case_id == case_id).values(expires_at=yesterday)
        )

    guardian = stack.emu.user(first_name="Айгүл", language_code="kk", phone=phone)
    await open_bot_and_share_phone(stack, guardian, token)
    linked = await stack.next_message(
        guardian.chat_id, shown(stack, "kk", "identity.token_invalid")
    )
    notice = await stack.next_message(guardian.chat_id, shown(stack, "kk", "consent.question"))
    await wait_for_status(stack, case_id, "notified")
    assert shown(stack, "kk", "identity.linked", count=1) in (linked.text or "")
    assert created["payload"]["child"]["full_name"] in (notice.text or "")


async def someone_elses_contact_links_nothing_and_reveals_nothing(stack: Stack) -> None:
    phone = make_phone()
    user = stack.emu.user(first_name="Айгүл", language_code="kk", phone=phone)
    created = await stack.post_signal(guardian={"phone": phone, "iin": None}, conclusion=CONCLUSION)
    case_id, payload = str(created["case_id"]), created["payload"]
    assert created["status"] == "awaiting_link"

    await user.send_command("/start")
    await stack.next_message(user.chat_id, shown(stack, "kk", "identity.ask_contact"))
    await user.send_text(phone)
    await stack.next_message(user.chat_id, shown(stack, "kk", "identity.use_button"))
    await user.share_contact(phone, own=False)
    refused = await stack.next_message(user.chat_id, shown(stack, "kk", "identity.not_own_contact"))
    assert refused.buttons() == [shown(stack, "kk", "identity.contact_button")]
    before_match = chat_texts(stack, user.chat_id)
    assert len(before_match) == 3
    assert [d for d in medical_details(payload) if d in "\n".join(before_match)] == []
    assert await linked_user_id(stack, user.id) is None
    assert await outbox_rows(stack, case_id, kind="notice") == []
    assert (await load_case(stack, case_id)).status == "awaiting_link"

    await user.share_contact()
    notice = await stack.next_message(user.chat_id, shown(stack, "kk", "consent.question"))
    await wait_for_status(stack, case_id, "notified")
    assert payload["child"]["full_name"] in (notice.text or "")
    assert await linked_user_id(stack, user.id) is not None
    # The one notice is the whole answer to the shared phone: no confirmation before it.
    assert chat_texts(stack, user.chat_id) == [*before_match, notice.text]

    await user.press(shown(stack, "kk", "consent.agree_button"), notice)
    # The signal named no school: the first question wants typed text.
    school = await stack.next_message(user.chat_id, shown(stack, "kk", "form.ask_school"))
    assert school.reply_markup == {"remove_keyboard": True}


async def two_waiting_cases_are_counted_then_each_notice_follows(stack: Stack) -> None:
    phone = make_phone()
    user = stack.emu.user(first_name="Айгүл", language_code="kk", phone=phone)
    first = await stack.post_signal(guardian={"phone": phone, "iin": None})
    second = await stack.post_signal(guardian={"phone": phone, "iin": None})

    await open_bot_and_share_phone(stack, user, None)
    linked = await stack.next_message(user.chat_id, shown(stack, "kk", "identity.linked", count=2))
    assert linked.reply_markup == {"remove_keyboard": True}
    notices = [
        await stack.next_message(user.chat_id, shown(stack, "kk", "consent.question"))
        for _ in range(2)
    ]
    numbers = {f"№ {c['payload']['conclusion']['number']}" for c in (first, second)}
    assert {number for number in numbers for n in notices if number in (n.text or "")} == numbers
    for created in (first, second):
        await wait_for_status(stack, str(created["case_id"]), "notified")


async def test_only_the_own_phone_links_a_chat_and_unlocks_the_case(tmp_path: Path) -> None:
    async with (
        LoopbackReceiver() as gateway,
        running_stack(tmp_path, SMS_GATEWAY_URL=gateway.url, SMS_GATEWAY_TOKEN=SMS_TOKEN) as stack,
        asyncio.TaskGroup() as stories,
    ):
        stories.create_task(deep_link_links_only_the_phone_it_was_sent_to(stack, gateway))
        stories.create_task(expired_link_says_so_then_matches_by_phone(stack, gateway))
        stories.create_task(someone_elses_contact_links_nothing_and_reveals_nothing(stack))
        stories.create_task(two_waiting_cases_are_counted_then_each_notice_follows(stack))
