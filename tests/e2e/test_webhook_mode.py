"""Webhook mode: Telegram (the emulator) posts updates to our HTTP server."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.telegram import WEBHOOK_PATH
from storage.models import OutboxMessage
from tests.e2e.harness import (
    chat_texts,
    linked_guardian,
    load_case,
    running_stack,
    shown,
    signal_for,
    submit_case,
    wait_for_status,
)

pytestmark = pytest.mark.slow

SECRET = "webhook-secret-0123456789abcdefghij"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_registers_checks_secret_and_answers_updates(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with running_stack(
        tmp_path, HTTP_PORT=port, WEBHOOK_BASE_URL=base, WEBHOOK_SECRET=SECRET
    ) as stack:
        hook = stack.emu.webhook
        assert hook is not None and hook.url == f"{base}{WEBHOOK_PATH}"
        user = stack.emu.user(first_name="Айгүл", language_code="kk", phone="+77011239911")
        await user.send_command("/start")
        prompt = await stack.next_message(user.chat_id, "қазақ тілінде жіберіледі")
        assert prompt.buttons() == ["📱 Нөмірді жіберу", "Русский язык"]

        async with aiohttp.ClientSession() as http:
            forged = {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "text": "/start",
                    "chat": {"id": 1, "type": "private"},
                },
            }
            async with http.post(f"{base}{WEBHOOK_PATH}", json=forged) as no_secret:
                assert no_secret.status == 401
            wrong = {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}
            async with http.post(f"{base}{WEBHOOK_PATH}", json=forged, headers=wrong) as bad:
                assert bad.status == 401
        assert stack.emu.sent(1) == []


async def test_webhook_redelivered_button_press_is_acknowledged_not_failed(tmp_path: Path) -> None:
    """Telegram delivers an update again when our 200 came too late (or a crash came
    first). The press was answered the first time and can't be again; the update must
    still end in a 200, or Telegram would deliver it again and again."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with running_stack(
        tmp_path, HTTP_PORT=port, WEBHOOK_BASE_URL=base, WEBHOOK_SECRET=SECRET
    ) as stack:
        user = await linked_guardian(stack)
        school = {"bin": await stack.add_school(), "grade": 4}
        created = await signal_for(stack, user, school=school)
        notice = await stack.next_message(user.chat_id, shown(stack, "kk", "consent.question"))
        await wait_for_status(stack, str(created["case_id"]), "notified")
        agree = shown(stack, "kk", "consent.agree_button")
        query_id = await user.press(agree, notice)
        await stack.next_message(user.chat_id, shown(stack, "kk", "form.ask_address"))
        press = {
            "id": query_id,
            "from": user.user.to_json(),
            "message": user.chat.messages[notice.message_id],
            "chat_instance": "1",
            "data": notice.button(agree)["callback_data"],  # type: ignore[index]
        }
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with stack.http.post(
            f"{base}{WEBHOOK_PATH}",
            json={"update_id": 10**6, "callback_query": press},
            headers=headers,
        ) as again:
            status = again.status
        sent_after = chat_texts(stack, user.chat_id)

    assert status == 200
    answers = stack.emu.calls_to("answerCallbackQuery")
    assert [c.ok for c in answers if c.params["callback_query_id"] == query_id] == [True, False]
    assert (await load_case(stack, str(created["case_id"]))).status == "consented"
    assert sent_after[-1] == shown(stack, "kk", "form.ask_address")  # nothing more was said


async def test_webhook_redelivered_accept_gets_no_second_contradicting_answer(
    tmp_path: Path,
) -> None:
    """Telegram delivers the staff's Accept press again (same update): the second run
    finds the case decided. The chat already has the answer to that press; it must not
    also hear "already decided", and the guardian gets one receipt."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with running_stack(
        tmp_path, HTTP_PORT=port, WEBHOOK_BASE_URL=base, WEBHOOK_SECRET=SECRET
    ) as stack:
        group = stack.emu.group(chat_id=-1001000000501, title="№ 12 мектеп")
        submitted = await submit_case(stack, await stack.add_school(telegram_chat_id=group.id))
        accept = shown(stack, "kk", "staff.accept_button")

        def package_arrived() -> bool:
            return any(m.button(accept) for m in stack.emu.sent(group.id))

        await stack.emu.wait_until(package_arrived, timeout=stack.patience, recheck=None)
        await wait_for_status(stack, submitted.case_id, "forwarded")
        teacher = group.member(800_000_501, "Гүлнар", language_code="kk")
        query_id = await teacher.press(accept)
        await stack.next_message(submitted.guardian.chat_id, "Тіркеу нөмірі")
        update = stack.emu.state.callback_queries[query_id]["update"]
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with stack.http.post(f"{base}{WEBHOOK_PATH}", json=update, headers=headers) as again:
            status = again.status  # the update is handled before the answer
        async with stack.app.svc.sessions() as session:
            to_staff = await session.scalars(
                select(OutboxMessage.dedupe_key).where(OutboxMessage.recipient == str(group.id))
            )
            purposes = sorted(key.split(":", 1)[1] for key in to_staff if key.startswith("u"))
        receipts = [m for m in stack.emu.sent(submitted.guardian.chat_id) if m.document]

    assert status == 200
    answers = stack.emu.calls_to("answerCallbackQuery")
    assert [c.ok for c in answers if c.params["callback_query_id"] == query_id] == [True, False]
    assert purposes == ["accepted"]  # and no "error:staff.already_decided"
    assert len(receipts) == 2  # the application copy and the one receipt
