"""The school's inbox in Debian's Chromium against a real `homeschool-bot run`.

The process serves the pages, the Telegram emulator plays the guardians, a loopback SMS
gateway receives the sign-in codes. A staff member signs in, accepts one case, refuses
another (the preliminary decision, the guardian's "no objections", the final refusal);
then the attacks: another school's case id, a form without its token, a removed account
mid-session, guessed codes until the lock. axe-core runs on every page and each is
saved at 360x800 and 1280x800 (see `tests.web.chromium`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.usecases import staff_accounts
from tests.e2e.harness import (
    LoopbackReceiver,
    Stack,
    SubmittedCase,
    eventually,
    load_case,
    next_document,
    submit_case,
    wait_for_status,
)
from tests.factories import make_phone
from tests.web.chromium import ARTIFACTS, Chromium, require_chromium, step
from tests.web.pages import codes_sent, next_code
from tests.web.served import PATIENCE_S, served_stack

pytestmark = pytest.mark.slow


@dataclass
class Scene:
    stack: Stack
    sms: LoopbackReceiver
    bin: str
    phone: str
    to_accept: SubmittedCase
    to_refuse: SubmittedCase
    elsewhere: SubmittedCase


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    """`homeschool-bot run` with two cases for a web-only school, one for another school."""
    require_chromium()
    async with AsyncExitStack() as exits:
        stack, sms = await served_stack(exits, tmp_path)
        app = stack.app
        bin_, other_bin = await stack.add_school(), await stack.add_school()
        phone = make_phone()
        await staff_accounts.add_staff(app.svc, bin_, "Гүлнар Ахметова", phone)
        await staff_accounts.add_staff(app.svc, other_bin, "Сәуле Жанова", make_phone())
        first = await submit_case(stack, bin_)
        second = await submit_case(stack, bin_, first_name="Динара")
        third = await submit_case(stack, other_bin, first_name="Сәуле")
        yield Scene(stack, sms, bin_, phone, first, second, third)


@pytest.fixture
async def chromium(scene: Scene, request: pytest.FixtureRequest) -> AsyncIterator[Chromium]:
    browser = Chromium(scene.stack.base_url, ARTIFACTS / "school")
    await asyncio.to_thread(browser.start)
    yield browser
    await asyncio.to_thread(browser.quit)


async def sign_in(scene: Scene, browser: Chromium, *, look: bool) -> None:
    await step(browser.open, "/school")
    assert browser.path == "/school/signin"
    if look:
        await step(browser.check, "signin")
        await step(browser.fill, "phone", "12345")
        await step(browser.press, "form.card button")
        assert "казахстанский мобильный номер" in browser.text
        await step(browser.check, "signin-error")
    seen = codes_sent(scene.sms, scene.phone)
    await step(browser.fill, "phone", scene.phone)
    await step(browser.press, "form.card button")
    assert browser.path == "/school/code"
    code = await next_code(scene.sms, scene.phone, seen)
    if look:
        await step(browser.check, "code")
        await step(browser.fill, "code", f"{(int(code) + 1) % 1_000_000:06d}")
        await step(browser.press, "form.card button")
        assert "Неверный код. Осталось попыток: 4" in browser.text
        await step(browser.check, "code-wrong")
    await step(browser.fill, "code", code)
    await step(browser.press, "form.card button")
    assert browser.path == "/school/"


async def test_school_browser_sign_in_accept_refuse_with_hearing(
    scene: Scene, chromium: Chromium
) -> None:
    stack = scene.stack
    await sign_in(scene, chromium, look=True)
    await wait_for_status(stack, scene.to_accept.case_id, "forwarded", timeout=PATIENCE_S)
    await step(chromium.open, "/school/")
    inbox = chromium.text
    await step(chromium.check, "inbox")
    assert "Осталось рабочего времени" in inbox and "Сәуле" not in inbox

    accept_id = scene.to_accept.case_id
    await step(chromium.open, f"/school/cases/{accept_id}")
    await step(chromium.check, "case")
    await step(chromium.press, "button.accept")
    receipt = await next_document(stack, scene.to_accept.guardian.chat_id, timeout=PATIENCE_S)
    await step(chromium.check, "case-accepted")
    accepted = await load_case(stack, accept_id)
    assert accepted.status == "accepted" and accepted.registration_number in chromium.text
    assert receipt.caption is not None and accepted.registration_number in receipt.caption

    refuse_id = scene.to_refuse.case_id
    await step(chromium.open, f"/school/cases/{refuse_id}")
    await step(chromium.press, "button.refuse-button")
    assert "Выберите основание отказа" in chromium.text
    await step(chromium.check, "refuse-errors")
    reason = "В заключении ВКК не указан класс обучения"
    await step(chromium.choose, "ground-1")
    await step(chromium.fill, "reason", reason)
    await step(chromium.press, "button.refuse-button")
    assert "может изложить позицию до" in chromium.text
    await step(chromium.check, "case-hearing")
    guardian = scene.to_refuse.guardian
    await stack.next_message(guardian.chat_id, reason)
    await guardian.press("✅ Қарсылығым жоқ")
    await _heard(stack, refuse_id)
    await step(chromium.open, f"/school/cases/{refuse_id}")
    assert "возражений" in chromium.text.lower()
    await step(chromium.check, "case-heard")
    await step(chromium.choose, "ground-1")
    await step(chromium.fill, "reason", reason)
    await step(chromium.press, "button.refuse-button")
    refusal = await next_document(stack, guardian.chat_id, timeout=PATIENCE_S)
    await step(chromium.check, "case-refused")
    refused = await load_case(stack, refuse_id)
    assert (refused.status, refused.refusal_ground) == ("refused", 1)
    assert refusal.document is not None

    await step(chromium.open, "/school/")
    await step(chromium.follow, "Қазақша")
    assert "Қаралмаған өтініштер жоқ" in chromium.text
    await step(chromium.check, "inbox-empty-kk")
    assert chromium.problems == {}


async def test_school_browser_attacks(scene: Scene, chromium: Chromium) -> None:
    await sign_in(scene, chromium, look=False)
    await step(chromium.open, f"/school/cases/{scene.elsewhere.case_id}")
    assert "Такое обращение не найдено" in chromium.text and "Сәуле" not in chromium.text
    await step(chromium.check, "not-found")

    own = scene.to_accept.case_id
    await step(chromium.open, f"/school/cases/{own}")
    await step(chromium.post_without_token, f"/school/cases/{own}", {"decision": "accepted"})
    await _until_path_changes(chromium, f"/school/cases/{own}")
    assert "Страница устарела" in chromium.text
    await step(chromium.check, "form-expired")
    assert (await load_case(scene.stack, own)).status in ("submitted", "forwarded")

    await staff_accounts.remove_staff(scene.stack.app.svc, scene.bin, scene.phone)
    await step(chromium.open, f"/school/cases/{own}")
    assert chromium.path == "/school/signin"

    await staff_accounts.add_staff(scene.stack.app.svc, scene.bin, "Гүлнар Ахметова", scene.phone)
    await step(chromium.forget_cookies)
    await step(chromium.open, "/school/signin")
    await step(chromium.fill, "phone", scene.phone)
    await step(chromium.press, "form.card button")
    code = await next_code(scene.sms, scene.phone)
    wrong = f"{(int(code) + 7) % 1_000_000:06d}"
    for _ in range(5):
        await step(chromium.fill, "code", wrong)
        await step(chromium.press, "form.card button")
    assert "Вход заблокирован до" in chromium.text
    await step(chromium.check, "code-locked")
    await step(chromium.fill, "code", code)
    await step(chromium.press, "form.card button")
    assert chromium.path == "/school/code" and "Вход заблокирован до" in chromium.text
    assert chromium.problems == {}


async def _heard(stack: Stack, case_id: str) -> None:
    async def probe() -> bool:
        return (await load_case(stack, case_id)).hearing_closed_at is not None

    await eventually(probe, timeout=PATIENCE_S, what="the position reached the case")


async def _until_path_changes(browser: Chromium, before: str) -> None:
    """A form posted by script: wait for the answer page (same URL, new document)."""
    for _ in range(100):
        if "Страница устарела" in browser.text:
            return
        await asyncio.sleep(0.1)
