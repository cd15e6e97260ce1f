"""The guardian's first pages in Debian's Chromium against a real `homeschool-bot run`:
the SMS link, the choice, the code, the notice; axe-core and screenshots on each (the
rest of the story: `test_guardian_story`)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tests.e2e.harness import LoopbackReceiver, Stack, eventually
from tests.factories import make_phone
from tests.web.chromium import ARTIFACTS, Chromium, require_chromium, step
from tests.web.pages import next_code
from tests.web.served import served_stack

pytestmark = pytest.mark.slow
LINK = re.compile(r"https://bala\.kz(/a/[A-Za-z0-9_-]+)")


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Stack, LoopbackReceiver]]:
    require_chromium()
    async with AsyncExitStack() as exits:
        yield await served_stack(exits, tmp_path, PUBLIC_BASE_URL="https://bala.kz")


async def test_guardian_browser_link_choice_code_status(
    served: tuple[Stack, LoopbackReceiver],
) -> None:
    stack, sms = served
    phone = make_phone()
    await stack.post_signal(guardian={"phone": phone})

    async def sms_link() -> str | None:
        texts = [r.json()["text"] for r in sms.requests if r.json()["to"] == phone]
        found = [LINK.search(text) for text in texts]
        return next((f.group(1) for f in found if f), None)

    link = await eventually(sms_link, timeout=30, what="the SMS with the page's link")
    browser = Chromium(stack.base_url, ARTIFACTS / "guardian")
    await asyncio.to_thread(browser.start)
    try:
        await step(browser.open, "/a/no-such-link")
        assert "недействительна" in browser.text
        await step(browser.check, "link-invalid")
        await step(browser.open, link)
        assert browser.path == "/a/" and "Сейтқали" not in browser.text
        await step(browser.check, "choice")
        await step(browser.press, "form.card button")
        assert browser.path == "/a/code"
        code = await next_code(sms, phone)
        await step(browser.fill, "code", f"{(int(code) + 1) % 1_000_000:06d}")
        await step(browser.press, "form.card button")
        await step(browser.check, "code-wrong")
        await step(browser.fill, "code", code)
        await step(browser.press, "form.card button")
        assert browser.path == "/a/" and "Сейтқали Әлихан" in browser.text
        assert "Даёте ли вы согласие?" in browser.text
        await step(browser.check, "notice")
        await step(browser.follow, "Қазақша")
        assert "Келісім бересіз бе?" in browser.text
        await step(browser.check, "notice-kk")
    finally:
        await asyncio.to_thread(browser.quit)
    assert browser.problems == {}
