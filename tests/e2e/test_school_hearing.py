"""The hearing before a refusal (APPK art. 73) in the staff chat and through the API:
the preliminary decision, the guardian's position (typed, "no objections" or none),
the school's final decision, and the reasoned refusal as a document."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.emulator import SentMessage, TelegramEmulator
from bot.usecases.case_views import case_number
from bot.usecases.schools import issue_school_api_key
from scheduler.jobs.hearing_lapses import run_hearing_lapses
from tests.conftest import ALMATY
from tests.e2e.harness import (
    TOKEN,
    LoopbackReceiver,
    MovableClock,
    Stack,
    audit_events,
    documents,
    load_case,
    outbox_rows,
    pdf_words,
    post_decision,
    running_stack,
    running_stack_on,
    school_signature_check,
    shown,
    submit_case,
    toast,
    wait_for_status,
)

pytestmark = pytest.mark.slow

REFUSE_RU, ACCEPT_RU = "❌ Отказать", "✅ Принять"
NO_OBJECTIONS_KK = "✅ Қарсылығым жоқ"
# Wednesday 25 Nov 2026, 10:00 (the harness's clock): two working days end on Friday.
HEARING_UNTIL = datetime(2026, 11, 27, tzinfo=ALMATY).date()
WEBHOOK_SECRET = "webhook-secret-of-school-7"
FIRST_REASON = "Адрес в заявлении не совпадает с адресом в заключении ВКК"
FINAL_REASON = "В заключении ВКК указан другой ИИН ребёнка, чем в заявлении"
POSITION = "Мекенжай дұрыс: біз 2026 жылдың қазан айында көшіп келдік, анықтама бар."


async def document_in(stack: Stack, chat_id: int, caption: str) -> bytes:
    """A PDF the bot sent to a chat with `caption` in its caption, whenever it came."""
    found: list[bytes] = []

    def arrived() -> bool:
        found[:] = [
            m.document
            for m in stack.emu.sent(chat_id)
            if m.document and caption in (m.caption or "")
        ]
        return bool(found)

    await stack.emu.wait_until(arrived, timeout=stack.patience, recheck=None)
    return found[0]


async def refuse_in_chat(
    stack: Stack, teacher: Any, chat_id: int, on: SentMessage, ground: int, reason: str
) -> None:
    """Refuse, pick the ground and answer the force-reply question with the reason."""
    await teacher.press(REFUSE_RU, on)
    grounds = await stack.next_message(chat_id, "выберите основание отказа")
    await teacher.press(f"Основание {ground}", grounds)
    question = await stack.next_message(chat_id, "Ответьте на это сообщение")
    await teacher.reply_to(question, reason)


async def test_hearing_in_chat_typed_objection_then_final_refusal_as_a_document(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        inbox = stack.emu.group(chat_id=-1001000000701, title="Школа-гимназия № 7")
        school_bin = await stack.add_school(
            name_kk=None, name_ru="Школа-гимназия № 7", telegram_chat_id=inbox.id
        )
        case = await submit_case(stack, school_bin)
        guardian = case.guardian
        number = case_number(case.case_id)
        await wait_for_status(stack, case.case_id, "forwarded")
        package = await stack.emu.wait_for_message(
            inbox.id, lambda m: m.document is not None and number in (m.caption or "")
        )
        teacher = inbox.member(800_000_701, "Марина", last_name="Ким", language_code="ru")

        await refuse_in_chat(stack, teacher, inbox.id, package, 2, FIRST_REASON)
        started = await stack.next_message(inbox.id, "направлено законному представителю")
        assert "предварительное решение об отказе (основание 2)" in (started.text or "")
        stored = await wait_for_status(stack, case.case_id, "hearing")
        assert stored.hearing_until is not None
        until = stored.hearing_until.astimezone(ALMATY)
        assert until.date() == HEARING_UNTIL
        assert until.strftime("%d.%m.%Y %H:%M") in (started.text or "")
        assert (stored.hearing_ground, stored.refusal_ground, stored.decided_at) == (2, None, None)

        invitation = await stack.next_message(guardian.chat_id, "алдын ала шешім")
        text = invitation.text or ""
        assert shown(stack, "kk", "ground.2") in text
        assert FIRST_REASON in text
        assert until.strftime("%d.%m.%Y %H:%M") in text
        assert invitation.buttons() == [NO_OBJECTIONS_KK]
        await guardian.send_command("/status")
        status = await stack.next_message(guardian.chat_id, shown(stack, "kk", "status.header"))
        assert shown(stack, "kk", "status.hearing") in (status.text or "")
        assert "Ұстаным білдірудің соңғы мерзімі" in (status.text or "")

        # The final decision waits for the guardian: Accept now is refused in the chat.
        await teacher.press(ACCEPT_RU, package)
        await stack.next_message(inbox.id, "идёт заслушивание")
        assert (await load_case(stack, case.case_id)).status == "hearing"

        await guardian.send_text(POSITION)
        await stack.next_message(guardian.chat_id, "жауабыңыз мектепке жіберілді")
        heard = await stack.next_message(inbox.id, "представил позицию")
        assert POSITION in (heard.text or "")
        assert heard.buttons() == [ACCEPT_RU, REFUSE_RU]
        stored = await load_case(stack, case.case_id)
        assert stored.hearing_answered_at is not None
        assert stored.hearing_position_enc is not None
        assert stack.app.svc.cipher.decrypt_text(stored.hearing_position_enc) == POSITION
        # A second answer is not taken: the button says the position is in already.
        pressed = await guardian.press(NO_OBJECTIONS_KK, invitation)
        await toast(stack, pressed)
        await stack.next_message(guardian.chat_id, "ұстанымыңыз қабылданып")

        await refuse_in_chat(stack, teacher, inbox.id, heard, 1, FINAL_REASON)
        await stack.next_message(inbox.id, "отказ по основанию 1 отправлен законному представителю")
        refusal = await stack.next_message(guardian.chat_id, "дәлелді бас тарту")
        assert shown(stack, "kk", "ground.1") in (refusal.text or "")
        assert FINAL_REASON in (refusal.text or "")
        document = await document_in(stack, guardian.chat_id, "Құжатта")
        words = pdf_words(document)
        for expected in (
            "Мемлекеттік қызмет көрсетуден дәлелді бас тарту",
            number,
            " ".join(shown(stack, "kk", "ground.1").split()),
            FINAL_REASON,
            POSITION,
            "Марина Ким",
            "(Астана уақыты)",
            "91-бабына",
            "қызметтер көрсету сапасын бағалау және бақылау жөніндегі уәкілетті органға",
            "сотқа",
            "1414, 8-800-080-7777",
        ):
            assert expected in words, expected
        assert "Asia/Almaty" not in words.split("·")[0]
        assert await document_in(stack, inbox.id, "копия") == document

        stored = await load_case(stack, case.case_id)
        assert (stored.status, stored.refusal_ground, stored.hearing_ground) == ("refused", 1, 2)
        assert stack.app.svc.cipher.decrypt_text(stored.refusal_reason_enc or b"") == FINAL_REASON
        assert [d.kind for d in await documents(stack, case.case_id)] == ["application", "refusal"]
        moves = [
            (e.event, e.from_status, e.to_status, e.details)
            for e in await audit_events(stack, case.case_id)
            if e.to_status in ("hearing", "refused")
        ]
        assert moves == [
            (
                "preliminary_refusal",
                "forwarded",
                "hearing",
                {"ground": 2, "hearing_until": until.isoformat()},
            ),
            ("position_stated", "hearing", "hearing", {"objection": True}),
            ("school_refused", "hearing", "refused", {"ground": 1}),
        ]
        await teacher.press(ACCEPT_RU, heard)
        await stack.next_message(inbox.id, "решение уже принято")


def events(hook: LoopbackReceiver, name: str) -> list[dict[str, Any]]:
    return [r.json() for r in hook.delivered if r.json().get("event") == name]


async def test_hearing_through_the_api_objection_then_final_accept(tmp_path: Path) -> None:
    clock = MovableClock()
    async with (
        TelegramEmulator(token=TOKEN) as emu,
        running_stack_on(emu, tmp_path, clock=clock) as stack,
        LoopbackReceiver() as hook,
    ):
        hook.check = school_signature_check(WEBHOOK_SECRET, clock)
        school_bin = await stack.add_school(webhook_url=hook.url, webhook_secret=WEBHOOK_SECRET)
        key = (await issue_school_api_key(stack.app.svc, school_bin)).key
        case = await submit_case(stack, school_bin)
        await wait_for_status(stack, case.case_id, "forwarded")
        refusal = {"decision": "refused", "ground": 2, "reason": FIRST_REASON}

        status, answer = await post_decision(stack, case.case_id, refusal, key=key)
        assert (status, answer["status"], answer["ground"]) == (200, "hearing", 2)
        until = datetime.fromisoformat(answer["hearing_until"])
        assert until.astimezone(ALMATY).date() == HEARING_UNTIL
        for early in ({"decision": "accepted"}, refusal):
            status, answer = await post_decision(stack, case.case_id, early, key=key)
            assert (status, answer["error"]) == (409, "hearing_open"), answer
        assert (await load_case(stack, case.case_id)).status == "hearing"

        await stack.next_message(case.guardian.chat_id, "алдын ала шешім")
        await case.guardian.send_text(POSITION)
        await stack.next_message(case.guardian.chat_id, "жауабыңыз мектепке жіберілді")
        await hook.wait_delivered(2)
        [event] = events(hook, "hearing_position")
        assert event["case_id"] == case.case_id
        assert (event["position"], event["no_objections"]) == (POSITION, False)
        assert datetime.fromisoformat(event["hearing_until"]) == until
        assert datetime.fromisoformat(event["at"]) <= clock.now()

        status, answer = await post_decision(stack, case.case_id, {"decision": "accepted"}, key=key)
        assert (status, answer["status"], answer["registration_number"]) == (
            200,
            "accepted",
            "2026/00001",
        )
        await stack.next_message(case.guardian.chat_id, "Тіркеу нөмірі: 2026/00001")
        status, answer = await post_decision(stack, case.case_id, refusal, key=key)
        assert (status, answer["error"]) == (409, "staff.already_decided")
        stored = await load_case(stack, case.case_id)
        assert (stored.status, stored.refusal_ground, stored.hearing_ground) == (
            "accepted",
            None,
            2,
        )


async def test_hearing_no_objections_then_final_refusal_names_the_school(tmp_path: Path) -> None:
    clock = MovableClock()
    async with (
        TelegramEmulator(token=TOKEN) as emu,
        running_stack_on(emu, tmp_path, clock=clock) as stack,
        LoopbackReceiver() as hook,
    ):
        hook.check = school_signature_check(WEBHOOK_SECRET, clock)
        school_bin = await stack.add_school(webhook_url=hook.url, webhook_secret=WEBHOOK_SECRET)
        key = (await issue_school_api_key(stack.app.svc, school_bin)).key
        case = await submit_case(stack, school_bin)
        await wait_for_status(stack, case.case_id, "forwarded")
        refusal = {"decision": "refused", "ground": 1, "reason": FIRST_REASON}
        assert (await post_decision(stack, case.case_id, refusal, key=key))[0] == 200

        invitation = await stack.next_message(case.guardian.chat_id, "алдын ала шешім")
        await case.guardian.press(NO_OBJECTIONS_KK, invitation)
        await stack.next_message(case.guardian.chat_id, "жауабыңыз мектепке жіберілді")
        await hook.wait_delivered(2)
        [event] = events(hook, "hearing_position")
        assert (event["position"], event["no_objections"]) == ("Қарсылығым жоқ", True)
        stored = await load_case(stack, case.case_id)
        assert stored.hearing_answered_at is not None and stored.hearing_position_enc is None

        final = {"decision": "refused", "ground": 1, "reason": FINAL_REASON}
        status, answer = await post_decision(stack, case.case_id, final, key=key)
        assert (status, answer["status"], answer["hearing_until"]) == (200, "refused", None)
        document = await stack.emu.wait_for_message(
            case.guardian.chat_id, lambda m: m.document is not None
        )
        assert document.document is not None
        words = pdf_words(document.document)
        assert "Көрсетілетін қызметті алушы қарсылығы жоқ екенін білдірді." in words
        assert FINAL_REASON in words
        assert FIRST_REASON not in words
        assert "Шешім қабылдаған № 12 жалпы орта білім беретін мектеп" in words
        await hook.wait_delivered(3)
        [copy] = events(hook, "refusal_document")
        assert (copy["case_id"], copy["ground"]) == (case.case_id, 1)
        assert copy["refusal_pdf"]["filename"] == f"refusal-{case_number(case.case_id)}.pdf"


async def test_hearing_unanswered_window_passes_and_the_school_decides(tmp_path: Path) -> None:
    clock = MovableClock()
    async with (
        TelegramEmulator(token=TOKEN) as emu,
        running_stack_on(emu, tmp_path, clock=clock) as stack,
        LoopbackReceiver() as hook,
    ):
        hook.check = school_signature_check(WEBHOOK_SECRET, clock)
        inbox = stack.emu.group(chat_id=-1001000000702, title="№ 12 мектеп")
        school_bin = await stack.add_school(
            webhook_url=hook.url, webhook_secret=WEBHOOK_SECRET, telegram_chat_id=inbox.id
        )
        key = (await issue_school_api_key(stack.app.svc, school_bin)).key
        case = await submit_case(stack, school_bin)
        await wait_for_status(stack, case.case_id, "forwarded")
        refusal = {"decision": "refused", "ground": 2, "reason": FIRST_REASON}
        assert (await post_decision(stack, case.case_id, refusal, key=key))[0] == 200
        invitation = await stack.next_message(case.guardian.chat_id, "алдын ала шешім")

        assert await run_hearing_lapses(stack.app.svc) == 0  # the window is still open
        stored = await load_case(stack, case.case_id)
        assert stored.hearing_until is not None
        clock.advance(stored.hearing_until - clock.now() + timedelta(minutes=1))
        # The app's own scheduler may run the same job meanwhile: the school is told once.
        await run_hearing_lapses(stack.app.svc)
        assert await run_hearing_lapses(stack.app.svc) == 0
        lapses = [e for e in await audit_events(stack, case.case_id) if e.event == "hearing_lapsed"]
        assert [(e.actor, e.from_status, e.to_status) for e in lapses] == [
            ("system", "hearing", "hearing")
        ]
        lapsed = await stack.next_message(inbox.id, "ұстаным білдіру мерзімі")
        assert lapsed.buttons() == ["✅ Қабылдау", "❌ Бас тарту"]
        await hook.wait_delivered(2)
        [event] = events(hook, "hearing_position")
        assert (event["position"], event["no_objections"]) == (None, False)
        assert len(await outbox_rows(stack, case.case_id, "school_hearing")) == 2

        # Too late for the guardian now, typed or pressed; the school decides.
        await case.guardian.send_text(POSITION)
        await stack.next_message(case.guardian.chat_id, "ұстаным білдіру мерзімі өтті")
        await case.guardian.press(NO_OBJECTIONS_KK, invitation)
        await stack.next_message(case.guardian.chat_id, "ұстаным білдіру мерзімі өтті")
        final = {"decision": "refused", "ground": 2, "reason": FINAL_REASON}
        assert (await post_decision(stack, case.case_id, final, key=key))[0] == 200
        document = await stack.emu.wait_for_message(
            case.guardian.chat_id, lambda m: m.document is not None
        )
        assert document.document is not None
        assert "Белгіленген мерзімде ұстаным білдірілмеді." in pdf_words(document.document)
        moves = [e.event for e in await audit_events(stack, case.case_id) if e.to_status]
        assert moves[-3:] == ["preliminary_refusal", "hearing_lapsed", "school_refused"]
