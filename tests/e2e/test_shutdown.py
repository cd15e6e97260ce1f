"""A clean stop (SIGTERM) lets the message in flight finish, so it never goes out twice.

Telegram takes a message when it processes the request; if the bot then loses the
answer (its HTTP session closed under the request), the outbox row looks failed and
is sent again after the restart. Here a proxy in front of the emulator holds back the
answer to each sendMessage, and the app is stopped while Telegram has taken the notice
but its answer is still on the way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.emulator import TelegramEmulator
from tests.e2e.harness import (
    TOKEN,
    linked_guardian,
    outbox_rows,
    running_stack_on,
    shown,
    signal_for,
)

pytestmark = pytest.mark.slow

ANSWER_DELAY_S = 0.5


@asynccontextmanager
async def slow_answers(api_url: str) -> AsyncIterator[str]:
    """A Bot API proxy that answers sendMessage `ANSWER_DELAY_S` late; yields its URL."""

    async def forward(request: web.Request) -> web.Response:
        content_type = {"Content-Type": request.headers.get("Content-Type", "")}
        async with session.post(
            f"{api_url}{request.rel_url}", data=await request.read(), headers=content_type
        ) as answer:
            body = await answer.read()
        if request.match_info["method"] == "sendMessage":
            await asyncio.sleep(ANSWER_DELAY_S)
        return web.Response(status=answer.status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", forward)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with aiohttp.ClientSession() as session:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_stop_waits_for_the_send_in_flight_so_it_is_not_sent_again(tmp_path: Path) -> None:
    async with TelegramEmulator(token=TOKEN) as emu, slow_answers(str(emu.base_url)) as proxy:
        async with running_stack_on(emu, tmp_path, TELEGRAM_API_URL=proxy) as stack:
            user = await linked_guardian(stack)
            question = shown(stack, "kk", "consent.question")
            created = await signal_for(stack, user)
            await stack.next_message(user.chat_id, question)  # taken; the answer is held
        async with running_stack_on(emu, tmp_path, TELEGRAM_API_URL=proxy) as restarted:
            notices = await outbox_rows(restarted, str(created["case_id"]), "notice")

    assert [(row.status, row.attempts) for row in notices] == [("sent", 0)]  # no failed try
