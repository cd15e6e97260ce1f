"""The school's inbox over HTTP against the real app: sign-in by SMS code, the inbox, the
decisions through the chat's use cases, and the attacks on each step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from yarl import URL

from bot.emulator import TelegramEmulator
from bot.usecases import staff_accounts
from handlers.web.school import CHALLENGE_COOKIE
from scheduler.jobs import run_overdue_cases
from tests.e2e.harness import (
    TOKEN,
    LoopbackReceiver,
    MovableClock,
    Stack,
    SubmittedCase,
    audit_events,
    eventually,
    load_case,
    next_document,
    running_stack,
    running_stack_on,
    submit_case,
    wait_for_status,
)
from tests.factories import make_phone
from tests.web.pages import Browser, csrf_of, next_code, sign_in

pytestmark = pytest.mark.slow


@dataclass
class School:
    stack: Stack
    sms: LoopbackReceiver
    bin: str
    phone: str
    case: SubmittedCase


@pytest.fixture
async def school(tmp_path: Path) -> AsyncIterator[School]:
    """A school whose only inbox is the web, a staff member, and one submitted case."""
    async with (
        LoopbackReceiver() as sms,
        running_stack(tmp_path, SMS_GATEWAY_URL=sms.url, SMS_GATEWAY_TOKEN="sms-token") as stack,
    ):
        bin_ = await stack.add_school()
        phone = make_phone()
        await staff_accounts.add_staff(stack.app.svc, bin_, "Гүлнар Ахметова", phone)
        case = await submit_case(stack, bin_)
        yield School(stack, sms, bin_, phone, case)


@pytest.fixture
async def browser(school: School) -> AsyncIterator[Browser]:
    browser = Browser.open(school.stack.base_url)
    yield browser
    await browser.close()


async def test_school_pages_sign_in_inbox_accept_tells_the_guardian(
    school: School, browser: Browser
) -> None:
    case_id = school.case.case_id
    forwarded = await wait_for_status(school.stack, case_id, "forwarded")
    await sign_in(browser, school.sms, school.phone)

    status, inbox, headers = await browser.get("/school/")
    number = case_id.replace("-", "")[:8].upper()
    assert status == 200 and number in inbox and "Сейтқали Әлихан" in inbox
    assert headers["Cache-Control"] == "no-store"
    assert "script-src" not in headers["Content-Security-Policy"]
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    status, page, _ = await browser.get(f"/school/cases/{case_id}")
    assert status == 200 and "Согласие на сбор и обработку персональных данных" in page
    status, pdf, headers = await browser.get_bytes(f"/school/cases/{case_id}/application.pdf")
    assert status == 200 and headers["Content-Type"] == "application/pdf"
    assert (
        pdf.startswith(b"%PDF") and "frame-ancestors 'self'" in headers["Content-Security-Policy"]
    )

    status, _, headers = await browser.post(
        f"/school/cases/{case_id}", {"csrf": csrf_of(page), "decision": "accepted"}
    )
    assert (status, headers["Location"]) == (303, f"/school/cases/{case_id}")
    accepted = await load_case(school.stack, case_id)
    receipt = await next_document(school.stack, school.case.guardian.chat_id)
    events = await audit_events(school.stack, case_id)
    assert forwarded.forwarded_at is not None
    assert accepted.status == "accepted" and accepted.registration_number
    assert receipt.document is not None and receipt.caption and "қолхат" in receipt.caption
    account = await _account_id(school)
    assert [e.actor for e in events if e.event == "school_accepted"] == [f"web:staff:{account}"]
    _, done, _ = await browser.get(f"/school/cases/{case_id}")
    assert accepted.registration_number in done


async def _account_id(school: School) -> int:
    _, accounts = await staff_accounts.list_staff(school.stack.app.svc, school.bin)
    return accounts[0].id


async def test_school_pages_wrong_codes_lock_and_the_right_one_then_fails(
    school: School, browser: Browser
) -> None:
    status, _, _ = await browser.submit("/school/signin", {"phone": school.phone})
    code = await next_code(school.sms, school.phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answers = [(await browser.submit("/school/code", {"code": wrong}))[0] for _ in range(5)]
    status, page, _ = await browser.submit("/school/code", {"code": code})

    assert answers == [422, 422, 422, 422, 429]
    assert status == 429 and "заблокирован" in page


async def test_school_pages_code_replayed_with_a_copied_challenge_fails(school: School) -> None:
    first = Browser.open(school.stack.base_url)
    thief = Browser.open(school.stack.base_url)
    try:
        await first.submit("/school/signin", {"phone": school.phone})
        copied = {c.key: c.value for c in first.http.cookie_jar}[CHALLENGE_COOKIE]
        code = await next_code(school.sms, school.phone)
        signed_in = await first.submit("/school/code", {"code": code})
        _, page, _ = await thief.get("/school/signin")
        thief.http.cookie_jar.update_cookies({CHALLENGE_COOKIE: copied}, URL(thief.base_url))
        status, answer, headers = await thief.post(
            "/school/code", {"csrf": csrf_of(page), "code": code}
        )
        inbox = await thief.get("/school/")
    finally:
        await first.close()
        await thief.close()
    assert signed_in[2].get("Location") == "/school/"
    assert status == 422 and "Location" not in headers and "устарел" in answer
    assert (inbox[0], inbox[2].get("Location")) == (303, "/school/signin")


async def test_school_pages_post_without_token_decides_nothing(
    school: School, browser: Browser
) -> None:
    await sign_in(browser, school.sms, school.phone)
    case_id = school.case.case_id
    status, page, _ = await browser.post(f"/school/cases/{case_id}", {"decision": "accepted"})
    forged = await browser.post(
        f"/school/cases/{case_id}", {"decision": "accepted", "csrf": "0" * 64}
    )
    _, own, _ = await browser.get(f"/school/cases/{case_id}")
    unknown = await browser.post(
        f"/school/cases/{case_id}", {"decision": "maybe", "csrf": csrf_of(own)}
    )
    case = await load_case(school.stack, case_id)
    assert (status, forged[0], unknown[0]) == (403, 403, 422) and "устарела" in page
    assert case.status in ("submitted", "forwarded")


async def test_school_pages_another_schools_case_is_not_found(
    school: School, browser: Browser
) -> None:
    other_bin = await school.stack.add_school()
    other = await submit_case(school.stack, other_bin, first_name="Сәуле")
    await sign_in(browser, school.sms, school.phone)
    page_status, page, _ = await browser.get(f"/school/cases/{other.case_id}")
    pdf_status, _, _ = await browser.get_bytes(f"/school/cases/{other.case_id}/application.pdf")
    _, own, _ = await browser.get(f"/school/cases/{school.case.case_id}")
    post_status, _, _ = await browser.post(
        f"/school/cases/{other.case_id}", {"csrf": csrf_of(own), "decision": "accepted"}
    )
    other_case = await load_case(school.stack, other.case_id)
    assert (page_status, pdf_status, post_status) == (404, 404, 404)
    assert "Сәуле" not in page and other_case.status in ("submitted", "forwarded")


async def test_school_pages_removed_staff_is_signed_out_at_the_next_request(
    school: School, browser: Browser
) -> None:
    await sign_in(browser, school.sms, school.phone)
    assert (await browser.get("/school/"))[0] == 200
    await staff_accounts.remove_staff(school.stack.app.svc, school.bin, school.phone)
    status, _, headers = await browser.get(f"/school/cases/{school.case.case_id}")
    assert (status, headers.get("Location")) == (303, "/school/signin")


async def test_school_pages_unknown_phone_reads_like_a_known_one(school: School) -> None:
    stranger = Browser.open(school.stack.base_url)
    try:
        status, _, headers = await stranger.submit("/school/signin", {"phone": make_phone()})
        answer, page, _ = await stranger.submit("/school/code", {"code": "123456"})
    finally:
        await stranger.close()
    assert (status, headers.get("Location")) == (303, "/school/code")
    assert answer == 422 and "Неверный код" in page


async def test_school_pages_refusal_hearing_then_final_refusal(
    school: School, browser: Browser
) -> None:
    case_id = school.case.case_id
    await sign_in(browser, school.sms, school.phone)
    status, page, _ = await browser.submit(
        f"/school/cases/{case_id}", {"decision": "refused", "ground": "2", "reason": "x"}
    )
    assert status == 422 and "от 5 до 1000" in page
    reason = "Заключение ВКК не содержит рекомендации по классу"
    fields = {"decision": "refused", "ground": "2", "reason": reason}
    status, _, _ = await browser.submit(f"/school/cases/{case_id}", fields)
    in_hearing = await load_case(school.stack, case_id)
    invitation = await school.stack.next_message(school.case.guardian.chat_id, reason)
    early = await browser.submit(f"/school/cases/{case_id}", fields)
    await school.case.guardian.press(invitation.reply_markup["inline_keyboard"][0][0]["text"])
    await _wait_heard(school.stack, case_id)
    _, heard, _ = await browser.get(f"/school/cases/{case_id}")
    status_final, _, _ = await browser.submit(f"/school/cases/{case_id}", fields)
    refused = await load_case(school.stack, case_id)
    refusal = await next_document(school.stack, school.case.guardian.chat_id)
    assert status == 303 and in_hearing.status == "hearing"
    assert early[0] == 409
    assert "возражений" in heard.lower() or "қарсылық" in heard.lower()
    assert status_final == 303 and refused.status == "refused" and refused.refusal_ground == 2
    assert refusal.document is not None


async def _wait_heard(stack: Stack, case_id: str) -> None:
    async def probe() -> bool:
        return (await load_case(stack, case_id)).hearing_closed_at is not None

    await eventually(probe, what="the position reached the case")


async def test_school_pages_authority_reads_overdue_cases_of_its_schools_only(
    tmp_path: Path,
) -> None:
    """An `--authority` account sees the overdue cases of every school of its authority,
    nothing before the deadline, nothing of another authority, and decides none."""
    clock = MovableClock()
    async with (
        LoopbackReceiver() as sms,
        TelegramEmulator(token=TOKEN) as emu,
        running_stack_on(
            emu, tmp_path, clock=clock, SMS_GATEWAY_URL=sms.url, SMS_GATEWAY_TOKEN="t"
        ) as stack,
    ):
        svc = stack.app.svc
        own, sibling = await stack.add_school(), await stack.add_school()
        foreign = await stack.add_school(
            authority_kk="Шымкент қаласының білім бөлімі",
            authority_ru="Отдел образования города Шымкент",
        )
        phone = make_phone()
        await staff_accounts.add_staff(svc, own, "Марат Исаев", phone, authority=True)
        for bin_ in (own, sibling, foreign):
            await staff_accounts.add_staff(svc, bin_, "Сотрудник", make_phone())
        cases = [await submit_case(stack, b) for b in (own, sibling, foreign)]
        browser = Browser.open(stack.base_url)
        try:
            await sign_in(browser, sms, phone)
            _, before, _ = await browser.get("/school/")
            clock.advance(timedelta(days=7))
            assert await run_overdue_cases(svc) == 3
            assert (await browser.get("/school/"))[2].get("Location") == "/school/signin"
            await sign_in(browser, sms, phone)  # the 8-hour session ended meanwhile
            _, after, _ = await browser.get("/school/")
            status, page, _ = await browser.get(f"/school/cases/{cases[1].case_id}")
            foreign_status, _, _ = await browser.get(f"/school/cases/{cases[2].case_id}")
            assert status == 200, page
            decided = await browser.post(
                f"/school/cases/{cases[1].case_id}",
                {"csrf": csrf_of(page), "decision": "accepted"},
            )
        finally:
            await browser.close()
        numbers = [c.case_id.replace("-", "")[:8].upper() for c in cases]
        assert not any(n in before for n in numbers)
        assert numbers[0] in after and numbers[1] in after and numbers[2] not in after
        assert "Просрочено" in after
        assert status == 200 and 'name="decision"' not in page
        assert foreign_status == 404
        assert decided[0] == 422 and "только для просмотра" in decided[1]
        assert (await load_case(stack, cases[1].case_id)).status == "overdue"
