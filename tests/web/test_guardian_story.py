"""The guardian's whole story on the web, in Debian's Chromium against `homeschool-bot run`.

A guardian without Telegram follows the SMS's link, proves the phone by its code and
then does on the page what the chat offers: the notice and its consent (decline, the
way back, agree), the form (a school searched, the address with a mistake first, the
summary with its edits), confirmation and the application PDF, the status with the
school's deadline, the hearing (a position stated), the result with its PDF. The school
decides in its web inbox (a signed-in staff member's HTTP client). One story in Kazakh
ends in acceptance, one in Russian in refusal after the hearing; then the attacks.
axe-core runs on every page and each is saved at 360x800 and 1280x800.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.errors import DomainError
from bot.usecases import consent, staff_accounts
from bot.usecases.access import web_guardian
from storage.models import AuditEvent, Document
from tests.e2e.harness import LoopbackReceiver, Stack, eventually, load_case, wait_for_status
from tests.factories import make_bin, make_phone
from tests.web.chromium import ARTIFACTS, Chromium, require_chromium, step
from tests.web.pages import Browser, csrf_of, next_code, sign_in
from tests.web.served import PATIENCE_S, served_stack

pytestmark = pytest.mark.slow
LINK = re.compile(r"https://bala\.kz(/a/[A-Za-z0-9_-]+)")
ADDRESS_KK = "Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10"
ADDRESS_RU = "Алматинская область, г. Қаскелең, ул. Абая, д. 12, кв. 3"
REASON = "В заключении ВКК не указан класс обучения"
POSITION = "Класс указан в заявлении: 4 класс, прошу принять документы"
SCHOOL_KK = "№ 12 жалпы орта білім беретін мектеп"


@dataclass
class Scene:
    stack: Stack
    sms: LoopbackReceiver
    bin: str
    staff: Browser


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    """`homeschool-bot run` with a web-only school whose staff member is signed in."""
    require_chromium()
    async with AsyncExitStack() as exits:
        stack, sms = await served_stack(exits, tmp_path, PUBLIC_BASE_URL="https://bala.kz")
        bin_ = await stack.add_school()
        staff_phone = make_phone()
        await staff_accounts.add_staff(stack.app.svc, bin_, "Гүлнар Ахметова", staff_phone)
        staff = Browser.open(stack.base_url)
        exits.push_async_callback(staff.close)
        await sign_in(staff, sms, staff_phone)
        yield Scene(stack, sms, bin_, staff)


async def signal(scene: Scene, *, school_bin: str, child: str = "") -> tuple[str, str, str]:
    """A signal for a guardian who never opened the bot: (case id, phone, the SMS's link)."""
    phone = make_phone()
    extra = {"child": {"full_name": child}} if child else {}
    created = await scene.stack.post_signal(
        guardian={"phone": phone}, school={"bin": school_bin, "grade": 4}, **extra
    )

    async def link() -> str | None:
        for request in scene.sms.requests:
            found = LINK.search(request.json()["text"])
            if request.json()["to"] == phone and found:
                return found.group(1)
        return None

    return str(created["case_id"]), phone, await eventually(link, what="the SMS with the link")


async def open_browser(scene: Scene, lang: str, folder: str) -> Chromium:
    browser = Chromium(scene.stack.base_url, ARTIFACTS / folder, lang=lang)
    await asyncio.to_thread(browser.start)
    return browser


async def sign_in_here(scene: Scene, browser: Chromium, link: str, phone: str) -> None:
    """The link, "continue here", the code from the SMS: the case's page."""
    await step(browser.open, link)
    await step(browser.press, "form.card button")
    code = await next_code(scene.sms, phone)
    await step(browser.fill, "code", code)
    await step(browser.press, "form.card button")
    assert browser.path == "/a/"


async def press(browser: Chromium, value: str) -> None:
    await step(browser.press, f"button[value='{value}']")


async def answer(browser: Chromium, step_name: str, text: str) -> None:
    await step(browser.fill, "answer", text)
    await press(browser, f"answer:{step_name}:")


def beside(browser: Chromium) -> aiohttp.ClientSession:
    """An HTTP client with the browser's cookies: what the same browser could send."""
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies().items())
    return aiohttp.ClientSession(headers={"Cookie": cookie, "Accept-Language": browser.lang})


async def download(browser: Chromium, path: str) -> bytes:
    async with (
        beside(browser) as http,
        http.get(browser.base_url + path, allow_redirects=False) as resp,
    ):
        assert resp.status == 200, (path, resp.status)
        assert resp.headers["Cache-Control"] == "no-store"
        return await resp.read()


def pdf_text(pdf: bytes) -> str:
    """The PDF's text when poppler's `pdftotext` is installed, else the empty string."""
    if shutil.which("pdftotext") is None:
        return ""
    done = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True, timeout=30
    )
    return done.stdout.decode()


async def decide(scene: Scene, case_id: str, **fields: str) -> None:
    """The staff member decides on the case's page in the inbox."""
    path = f"/school/cases/{case_id}"
    status, page, headers = await scene.staff.submit(path, fields)
    assert (status, headers.get("Location")) == (303, path), page


async def test_guardian_story_kk_ends_in_acceptance(scene: Scene) -> None:
    stack = scene.stack
    case_id, phone, link = await signal(scene, school_bin=make_bin())  # not in the registry
    browser = await open_browser(scene, "kk", "guardian-kk")
    try:
        await sign_in_here(scene, browser, link, phone)
        notice = browser.text
        assert "Келісім бересіз бе?" in notice and "Сейтқали Әлихан" in notice
        assert "«Келісімді кері қайтарып алу» батырмасымен" in notice and "/withdraw" not in notice
        assert (await load_case(stack, case_id)).status == "notified"
        await step(browser.check, "notice")

        await press(browser, "agree::")
        assert "Мектептің атауы немесе нөмірі" in browser.text
        await step(browser.check, "school")
        await answer(browser, "school", "x")
        assert "кемінде 2 таңбасын" in browser.text and browser.focused() == "answer"
        await step(browser.check, "school-error")
        await answer(browser, "school", "12")
        await step(browser.check, "school-results")
        await step(browser.press, "button[value^='answer:school:']:not([value='answer:school:'])")

        assert "Баланың тұратын мекенжайы" in browser.text
        await step(browser.check, "address")
        await answer(browser, "address", "қысқа")
        assert "таңбаға дейін" in browser.text and browser.focused() == "answer"
        await step(browser.check, "address-error")
        await answer(browser, "address", ADDRESS_KK)

        assert "Өтінішті тексеріңіз" in browser.text and SCHOOL_KK in browser.text
        await step(browser.check, "summary")
        await press(browser, "edit:grade:")
        await step(browser.check, "grade")
        await press(browser, "answer:grade:5")
        assert (await load_case(stack, case_id)).grade == 5
        await press(browser, "edit:note:")
        await step(browser.check, "note")
        await answer(browser, "note", "Бала арбамен жүреді")
        assert "Бала арбамен жүреді" in browser.text and "Өтінішті тексеріңіз" in browser.text
        await step(browser.check, "summary-edited")

        await press(browser, "confirm::")
        assert browser.path == "/a/" and "Мектептің жауап беру мерзімі" in browser.text
        await step(browser.check, "submitted")
        application = await download(browser, "/a/documents/application")
        assert application.startswith(b"%PDF")
        if text := pdf_text(application):
            assert "SMS-кодпен" in text and "Telegram" not in text

        await wait_for_status(stack, case_id, "forwarded", timeout=PATIENCE_S)
        await decide(scene, case_id, decision="accepted")
        await step(browser.open, "/a/")
        assert "құжаттар қабылданды, қолхат берілді" in browser.text
        await step(browser.check, "accepted")
        assert (await download(browser, "/a/documents/receipt")).startswith(b"%PDF")
        await step(browser.follow, "Русский")
        assert "документы приняты, выдана расписка" in browser.text
        await step(browser.check, "accepted-ru")
    finally:
        await asyncio.to_thread(browser.quit)
    assert browser.problems == {}
    assert (await load_case(stack, case_id)).status == "accepted"


async def test_guardian_story_ru_ends_in_refusal_after_the_hearing(scene: Scene) -> None:
    stack = scene.stack
    case_id, phone, link = await signal(scene, school_bin=scene.bin)
    browser = await open_browser(scene, "ru", "guardian-ru")
    try:
        await sign_in_here(scene, browser, link, phone)
        assert "Даёте ли вы согласие?" in browser.text
        await step(browser.check, "notice")
        await press(browser, "decline::")
        assert "Если вы решите дать согласие" in browser.text
        assert (await load_case(stack, case_id)).status == "declined"
        await step(browser.check, "declined")
        await press(browser, "again::")
        assert "Даёте ли вы согласие?" in browser.text
        await step(browser.check, "notice-again")
        await step(browser.keyboard, "button[value='agree::']")

        assert "Адрес проживания ребёнка" in browser.text
        await answer(browser, "address", ADDRESS_RU)
        assert "Проверьте заявление" in browser.text
        await step(browser.check, "summary")
        await press(browser, "confirm::")
        assert "Срок ответа школы" in browser.text
        await step(browser.check, "submitted")

        await wait_for_status(stack, case_id, "forwarded", timeout=PATIENCE_S)
        await decide(scene, case_id, decision="refused", ground="1", reason=REASON)
        await step(browser.open, "/a/")
        invitation = browser.text
        assert "Предварительное решение об отказе" in invitation and REASON in invitation
        assert "Напишите её в поле ниже" in invitation and "в этот чат" not in invitation
        await step(browser.check, "hearing")
        await step(browser.fill, "answer", "x")
        await press(browser, "position")
        assert "от 2 до 2000 символов" in browser.text and browser.focused() == "answer"
        await step(browser.check, "hearing-error")
        await step(browser.fill, "answer", POSITION)
        await press(browser, "position")
        assert "Окончательное решение примет школа" in browser.text
        await step(browser.check, "heard")
        heard = await load_case(stack, case_id)
        assert heard.hearing_answered_at is not None and heard.hearing_position_enc is not None

        _, school_page, _ = await scene.staff.get(f"/school/cases/{case_id}")
        assert POSITION in school_page
        await decide(scene, case_id, decision="refused", ground="1", reason=REASON)
        await step(browser.open, "/a/")
        assert "мотивированный отказ в оказании государственной услуги" in browser.text
        await step(browser.check, "refused")
        refusal = await download(browser, "/a/documents/refusal")
        assert refusal.startswith(b"%PDF")
        if text := pdf_text(refusal):
            assert REASON in " ".join(text.split())
        await step(browser.follow, "Қазақша")
        assert "мемлекеттік қызмет көрсетуден дәлелді бас тарту" in browser.text
        await step(browser.check, "refused-kk")
    finally:
        await asyncio.to_thread(browser.quit)
    assert browser.problems == {}
    assert (await load_case(stack, case_id)).status == "refused"


async def test_guardian_story_attacks(scene: Scene) -> None:
    stack, svc = scene.stack, scene.stack.app.svc
    case_a, phone_a, link_a = await signal(
        scene, school_bin=scene.bin, child="Жанова Дана Ерланқызы"
    )
    case_b, phone_b, link_b = await signal(scene, school_bin=scene.bin)
    other = Browser.open(stack.base_url)
    browser = await open_browser(scene, "ru", "guardian-attacks")
    try:
        # Guardian B, signed in for B's case, opens A's link: the session shows B's case,
        # and B's answers change B's case only; A's case id in B's actor is refused.
        await other.get(link_b)
        _, choice, _ = await other.get("/a/")
        await other.post("/a/start", {"csrf": csrf_of(choice)})
        code = await next_code(scene.sms, phone_b)
        await other.submit("/a/code", {"code": code})
        await other.get(link_a)
        _, page_b, _ = await other.get("/a/")
        assert "Жанов" not in page_b and "Сейтқали Әлихан" in page_b
        status, _, _ = await other.submit("/a/", {"choice": "agree::"})
        assert status == 303
        assert (await load_case(stack, case_b)).status == "consented"
        with pytest.raises(DomainError) as refused:
            await consent.agree(svc, web_guardian(case_b, "web:attack"), case_a, None)
        assert refused.value.text_key == "error.not_your_case"

        await sign_in_here(scene, browser, link_a, phone_a)
        assert "Жанов" in browser.text  # declined in Russian: "Жановой Даны"
        assert (await load_case(stack, case_a)).status == "notified"

        # A form without its token, as another site would post it.
        await step(browser.post_without_token, "/a/", {"choice": "agree::"})
        await eventually(
            lambda: _async("Страница устарела" in browser.text), what="the refusal page"
        )
        await step(browser.check, "form-expired")
        assert (await load_case(stack, case_a)).status == "notified"

        # A step that is not asked now: the page asks the address, a grade is posted.
        await step(browser.open, "/a/")
        await press(browser, "agree::")
        token = browser.form_token()
        async with beside(browser) as http:
            url = f"{browser.base_url}/a/"
            fields = {"csrf": token, "choice": "answer:grade:7"}
            async with http.post(url, data=fields, allow_redirects=False) as resp:
                assert resp.status == 422 and "Эта кнопка уже не действует" in await resp.text()
            fields = {"csrf": token, "choice": "answer:note:", "answer": "Подложное примечание"}
            async with http.post(url, data=fields, allow_redirects=False) as resp:
                assert resp.status == 422
        assert (await load_case(stack, case_a)).grade == 4

        # Confirm pressed twice at once: one application, one registration.
        await answer(browser, "address", ADDRESS_RU)
        token = browser.form_token()
        async with beside(browser) as http:

            async def confirm() -> int:
                fields = {"csrf": token, "choice": "confirm::"}
                async with http.post(f"{browser.base_url}/a/", data=fields) as resp:
                    return resp.status

            statuses = sorted(await asyncio.gather(confirm(), confirm()))
        assert statuses == [200, 422]  # the first follows its redirect to the status page
        async with svc.sessions() as session:
            documents = await session.scalar(
                select(func.count()).where(
                    Document.case_id == case_a, Document.kind == "application"
                )
            )
            confirmed = await session.scalar(
                select(func.count()).where(
                    AuditEvent.case_id == case_a, AuditEvent.event == "application_confirmed"
                )
            )
        assert (documents, confirmed) == (1, 1)
        assert (await load_case(stack, case_a)).status in ("submitted", "forwarded")
    finally:
        await other.close()
        await asyncio.to_thread(browser.quit)
    assert browser.problems == {}


async def _async(value: bool) -> bool | None:
    return value or None
