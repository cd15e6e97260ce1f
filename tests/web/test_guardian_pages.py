"""The guardian's pages over HTTP against the real app: the SMS link, the choice, the code
to the signal's phone, the session and what it shows; the attacks on each step."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import LoopbackReceiver, Stack, eventually, load_case, running_stack
from tests.factories import make_phone
from tests.web.pages import Browser, csrf_of, next_code

pytestmark = pytest.mark.slow
LINK = re.compile(r"https://bala\.kz(/a/[A-Za-z0-9_-]+)")


@dataclass
class Unlinked:
    stack: Stack
    sms: LoopbackReceiver
    phone: str
    case_id: str
    link: str


async def _link_of(sms: LoopbackReceiver, phone: str) -> str:
    async def probe() -> str | None:
        for request in sms.requests:
            found = LINK.search(request.json()["text"])
            if request.json()["to"] == phone and found:
                return found.group(1)
        return None

    return await eventually(probe, what="the SMS with the link")


@pytest.fixture
async def unlinked(tmp_path: Path) -> AsyncIterator[Unlinked]:
    """A guardian who never opened the bot gets a signal: the SMS carries the page's link."""
    async with (
        LoopbackReceiver() as sms,
        running_stack(
            tmp_path,
            SMS_GATEWAY_URL=sms.url,
            SMS_GATEWAY_TOKEN="t",
            PUBLIC_BASE_URL="https://bala.kz",
        ) as stack,
    ):
        phone = make_phone()
        created = await stack.post_signal(guardian={"phone": phone})
        link = await _link_of(sms, phone)
        yield Unlinked(stack, sms, phone, str(created["case_id"]), link)


async def test_guardian_pages_link_code_session_show_the_case(unlinked: Unlinked) -> None:
    browser = Browser.open(unlinked.stack.base_url)
    try:
        opened = await browser.get(unlinked.link)
        _, choice, headers = await browser.get("/a/")
        started = await browser.post("/a/start", {"csrf": csrf_of(choice)})
        code = await next_code(unlinked.sms, unlinked.phone)
        signed_in = await browser.submit("/a/code", {"code": code})
        _, status_page, _ = await browser.get("/a/")
    finally:
        await browser.close()
    number = unlinked.case_id.replace("-", "")[:8].upper()
    assert (opened[0], opened[2]["Location"]) == (303, "/a/")
    assert number in choice and "Сейтқали" not in choice
    assert "https://t.me/" in choice and headers["Cache-Control"] == "no-store"
    assert (started[0], started[2]["Location"]) == (303, "/a/code")
    assert (signed_in[0], signed_in[2]["Location"]) == (303, "/a/")
    assert "Сейтқали Әлихан" in status_page and number in status_page
    # The code to the signal's phone proved the guardian, as sharing it in the chat does:
    # the page shows the notice, and the case no longer waits for the phone.
    assert "Даёте ли вы согласие?" in status_page and "Даю согласие" in status_page
    assert (await load_case(unlinked.stack, unlinked.case_id)).status == "notified"


async def test_guardian_pages_guessed_codes_lock_the_link(unlinked: Unlinked) -> None:
    thief = Browser.open(unlinked.stack.base_url)
    try:
        await thief.get(unlinked.link)
        _, choice, _ = await thief.get("/a/")
        await thief.post("/a/start", {"csrf": csrf_of(choice)})
        code = await next_code(unlinked.sms, unlinked.phone)
        wrong = f"{(int(code) + 3) % 1_000_000:06d}"
        answers = [(await thief.submit("/a/code", {"code": wrong}))[0] for _ in range(5)]
        right, page, _ = await thief.submit("/a/code", {"code": code})
        home = await thief.get("/a/")
    finally:
        await thief.close()
    assert answers == [422, 422, 422, 422, 429]
    assert right == 429 and "заблокирован" in page
    assert "Сейтқали" not in home[1]


async def test_guardian_pages_no_session_no_personal_data(unlinked: Unlinked) -> None:
    stranger = Browser.open(unlinked.stack.base_url)
    try:
        bad_link = await stranger.get("/a/not-a-real-token-at-all")
        no_cookie = await stranger.get("/a/")
        document = await stranger.get("/a/documents/application")
        await stranger.get(unlinked.link)
        stranger.http.cookie_jar.update_cookies({"__Host-hsb-guardian": "forged"})
        forged = await stranger.get("/a/")
        without_token = await stranger.post("/a/start", {})
    finally:
        await stranger.close()
    assert bad_link[0] == 404 and "недействительна" in bad_link[1]
    assert no_cookie[0] == 404
    assert (document[0], document[2]["Location"]) == (303, "/a/")
    assert forged[0] == 200 and "Сейтқали" not in forged[1]
    assert without_token[0] == 403
