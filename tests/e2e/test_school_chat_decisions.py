"""Staff decide in their school's chat: Accept, or Refuse with a ground and a reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.domain.identifiers import case_number
from bot.emulator import SentMessage
from handlers.telegram.callbacks import DecisionAction, DecisionCb
from tests.e2e.harness import (
    Stack,
    audit_events,
    chat_texts,
    load_case,
    outbox_rows,
    pdf_words,
    refused_with,
    running_stack,
    shown,
    submit_case,
    toast,
    wait_for_status,
)

pytestmark = pytest.mark.slow

ACCEPT_KK, ACCEPT_RU, REFUSE_RU = "✅ Қабылдау", "✅ Принять", "❌ Отказать"


async def package_for(stack: Stack, chat_id: int, case_id: str) -> SentMessage:
    """The application PDF (with the decision buttons) of one case in a staff chat."""
    number = case_number(case_id)
    found: list[SentMessage] = []

    def arrived() -> bool:
        found[:] = [
            m for m in stack.emu.sent(chat_id) if m.document and number in (m.caption or "")
        ]
        return bool(found)

    await stack.emu.wait_until(arrived, timeout=stack.patience, recheck=None)
    return found[0]


def receipts(stack: Stack, chat_id: int) -> list[SentMessage]:
    return [
        m for m in stack.emu.sent(chat_id) if m.document and "Тіркеу нөмірі" in (m.caption or "")
    ]


def callback_data(message: SentMessage, button_text: str) -> str:
    button = message.button(button_text)
    assert button is not None, message.buttons()
    return str(button["callback_data"])


def texts_with(stack: Stack, chat_id: int, fragment: str) -> list[str]:
    return [text for text in chat_texts(stack, chat_id) if fragment in text]


async def test_accept_in_chat_sends_one_numbered_receipt_per_case(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        chat_a = stack.emu.group(chat_id=-1001000000301, title="№ 12 мектеп")
        chat_b = stack.emu.group(chat_id=-1001000000302, title="№ 40 мектеп")
        bin_a = await stack.add_school(telegram_chat_id=chat_a.id)
        bin_b = await stack.add_school(telegram_chat_id=chat_b.id)
        first, second, elsewhere = await asyncio.gather(
            submit_case(stack, bin_a),
            submit_case(stack, bin_a, first_name="Динара"),
            submit_case(stack, bin_b, first_name="Сәуле"),
        )
        teacher_a = chat_a.member(800_000_301, "Гүлнар", language_code="kk")
        teacher_b = chat_b.member(800_000_302, "Бақыт", language_code="kk")

        package = await package_for(stack, chat_a.id, first.case_id)
        await wait_for_status(stack, first.case_id, "forwarded")
        pressed = await teacher_a.press(ACCEPT_KK, package)
        receipt = await stack.next_message(first.guardian.chat_id, "Тіркеу нөмірі")
        assert "Тіркеу нөмірі: 2026/00001" in (receipt.caption or "")
        assert receipt.document is not None
        assert "2026/00001" in pdf_words(receipt.document)
        assert case_number(first.case_id) in pdf_words(receipt.document)
        await stack.next_message(chat_a.id, "тіркеу нөмірі 2026/00001")
        assert (await toast(stack, pressed)).text is None
        stored = await load_case(stack, first.case_id)
        assert (stored.status, stored.registration_number) == ("accepted", "2026/00001")
        assert stored.decided_at is not None and stored.closed_at == stored.decided_at
        accepted = [
            e for e in await audit_events(stack, first.case_id) if e.to_status == "accepted"
        ]
        assert [(e.event, e.actor) for e in accepted] == [
            ("school_accepted", f"telegram:{teacher_a.id}@{chat_a.id}")
        ]

        await teacher_a.press(ACCEPT_KK, package)
        await stack.next_message(chat_a.id, "шешім қабылданып қойған")

        # Two colleagues press Accept on the second package at the same moment.
        colleague = chat_a.member(800_000_303, "Асқар", language_code="kk")
        second_package = await package_for(stack, chat_a.id, second.case_id)
        await asyncio.gather(
            teacher_a.press(ACCEPT_KK, second_package), colleague.press(ACCEPT_KK, second_package)
        )
        await teacher_b.press(ACCEPT_KK, await package_for(stack, chat_b.id, elsewhere.case_id))
        await stack.next_message(second.guardian.chat_id, "Тіркеу нөмірі: 2026/00002")
        await stack.next_message(elsewhere.guardian.chat_id, "Тіркеу нөмірі: 2026/00001")
        await stack.emu.wait_until(
            lambda: len(texts_with(stack, chat_a.id, "шешім қабылданып қойған")) == 2, recheck=None
        )
        assert len(texts_with(stack, chat_a.id, "тіркеу нөмірі 2026/00002")) == 1
        numbers = [
            (await load_case(stack, c.case_id)).registration_number
            for c in (first, second, elsewhere)
        ]
        assert numbers == ["2026/00001", "2026/00002", "2026/00001"]
        for case in (first, second):
            assert len(receipts(stack, case.guardian.chat_id)) == 1
            assert len(await outbox_rows(stack, case.case_id, "result")) == 1


async def test_refusal_in_chat_takes_ground_and_reason_from_the_own_school_only(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        own = stack.emu.group(chat_id=-1001000000401, title="Школа-гимназия № 7")
        other = stack.emu.group(chat_id=-1001000000402, title="№ 40 мектеп")
        stranger = stack.emu.group(chat_id=-1001000000403, title="Ата-аналар чаты")
        own_bin = await stack.add_school(
            name_kk=None, name_ru="Школа-гимназия № 7", telegram_chat_id=own.id
        )
        await stack.add_school(telegram_chat_id=other.id)
        case = await submit_case(stack, own_bin)
        package = await package_for(stack, own.id, case.case_id)
        await wait_for_status(stack, case.case_id, "forwarded")
        assert package.buttons() == [ACCEPT_RU, REFUSE_RU]

        stolen = [
            callback_data(package, ACCEPT_RU),
            callback_data(package, REFUSE_RU),
            DecisionCb(case_id=case.case_id, action=DecisionAction.GROUND, ground=2).pack(),
        ]
        not_yours = shown(stack, "kk", "staff.not_your_school")
        for n, group in enumerate((other, stranger)):
            intruder = group.member(800_000_410 + n, "Ерлан", language_code="kk")
            anchor = await intruder.send_text("Мына өтінішті біз қабылдаймыз")
            for data in stolen:
                pressed = await intruder.press_data(data, int(anchor["message_id"]))
                assert await refused_with(stack, group.id, pressed, not_yours)
        assert (await load_case(stack, case.case_id)).status == "forwarded"
        assert await outbox_rows(stack, case.case_id, "result") == []

        teacher = own.member(800_000_401, "Марина", language_code="ru")
        await teacher.press(REFUSE_RU, package)
        grounds = await stack.next_message(own.id, "выберите основание отказа")
        assert grounds.buttons() == ["Основание 1", "Основание 2", "Основание 3"]
        assert shown(stack, "ru", "ground.2") in (grounds.text or "")
        await teacher.press("Основание 2", grounds)
        question = await stack.next_message(own.id, "Ответьте на это сообщение")
        assert (question.reply_markup or {}).get("force_reply") is True

        await teacher.reply_to(question, "нет")
        await stack.next_message(own.id, "должен содержать от 5 до 1000 символов")
        assert (await load_case(stack, case.case_id)).status == "forwarded"
        reason = "Адрес в заявлении не совпадает с адресом в заключении ВКК"
        await teacher.reply_to(question, reason)
        await stack.next_message(own.id, "направлено законному представителю для заслушивания")

        # The refusal is preliminary (the hearing): the guardian is told the ground and
        # the reason; tests/e2e/test_school_hearing.py follows it to the final decision.
        invitation = await stack.next_message(case.guardian.chat_id, "алдын ала шешім")
        assert shown(stack, "kk", "ground.2") in (invitation.text or "")
        assert reason in (invitation.text or "")
        stored = await load_case(stack, case.case_id)
        assert (stored.status, stored.hearing_ground, stored.refusal_ground) == ("hearing", 2, None)
        assert stored.hearing_reason_enc is not None
        assert stack.app.svc.cipher.decrypt_text(stored.hearing_reason_enc) == reason
        heard = [e for e in await audit_events(stack, case.case_id) if e.to_status == "hearing"]
        assert [(e.event, e.actor, e.details["ground"]) for e in heard] == [
            ("preliminary_refusal", f"telegram:{teacher.id}@{own.id}", 2)
        ]

        await teacher.press(ACCEPT_RU, package)
        await stack.next_message(own.id, "идёт заслушивание")
        assert len(await outbox_rows(stack, case.case_id, "result")) == 1
