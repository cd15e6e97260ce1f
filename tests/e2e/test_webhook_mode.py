"""Webhook mode: Telegram (the emulator) posts updates to our HTTP server."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest

from bot.telegram import WEBHOOK_PATH
from tests.e2e.harness import running_stack

pytestmark = pytest.mark.slow

SECRET = "webhook-secret-0123456789"


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
        prompt = await stack.next_message(user.chat_id, "Тілді таңдаңыз")
        assert prompt.buttons() == ["Қазақ тілі", "Русский язык"]

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
