"""The application form: edits from the summary, a second child, the school search.

The stories run side by side in one process (each chat is paced on its own).
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from bot.emulator import SentMessage, UserHandle
from bot.grammar import Case, kk_case
from tests.e2e.harness import (
    Stack,
    consent_records,
    documents,
    fragment,
    linked_guardian,
    load_case,
    next_document,
    pdf_words,
    post_payload,
    running_stack,
    shown,
    signal_for,
)
from tests.factories import make_iin, signal_payload

pytestmark = pytest.mark.slow

ADDRESS = "Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10"


async def up_to_summary(
    stack: Stack, school_bin: str, lang: str, address: str
) -> tuple[UserHandle, str, SentMessage]:
    """A linked guardian gets a signal, agrees and types the address: the summary."""
    user = await linked_guardian(stack, lang)
    created = await signal_for(stack, user, school={"bin": school_bin})
    await stack.next_message(user.chat_id, shown(stack, lang, "consent.question"))
    await user.press(shown(stack, lang, "consent.agree_button"))
    await stack.next_message(user.chat_id, shown(stack, lang, "form.ask_address"))
    await user.send_text(address)
    summary = await stack.next_message(user.chat_id, fragment(stack, lang, "form.summary"))
    return user, str(created["case_id"]), summary


async def summary_after(stack: Stack, user: UserHandle, lang: str) -> SentMessage:
    return await stack.next_message(user.chat_id, fragment(stack, lang, "form.summary"))


async def edited_address_and_grade_reach_the_pdf(stack: Stack, school_bin: str) -> None:
    moved = "Алматы облысы, Қаскелең қ., Жібек жолы к-сі, 25, 3-пәтер"

    def kk(key: str, **params: object) -> str:
        return shown(stack, "kk", key, **params)

    user, case_id, summary = await up_to_summary(stack, school_bin, "kk", ADDRESS)
    assert ADDRESS in (summary.text or "")
    await user.send_text("батырмасыз болмай ма?")
    await stack.next_message(user.chat_id, kk("form.nothing_to_answer"))

    await user.press(kk("form.edit_address_button"), summary)
    await stack.next_message(user.chat_id, kk("form.ask_address"))
    await user.send_text(moved)
    after_address = await summary_after(stack, user, "kk")
    assert moved in (after_address.text or "") and ADDRESS not in (after_address.text or "")

    await user.press(kk("form.edit_grade_button"), after_address)
    grades = await stack.next_message(user.chat_id, kk("form.ask_grade"))
    assert grades.buttons() == [kk("form.grade_button", grade=g) for g in range(1, 12)]
    await user.press(kk("form.grade_button", grade=7))
    after_grade = await summary_after(stack, user, "kk")
    assert "Сынып: 7" in (after_grade.text or "") and moved in (after_grade.text or "")

    await user.press(kk("form.confirm_button"), after_grade)
    copy = await next_document(stack, user.chat_id)
    case = await load_case(stack, case_id)
    assert (case.status, case.grade) == ("submitted", 7)
    assert copy.document is not None
    text = pdf_words(copy.document)
    assert "Жібек жолы к-сі, 25, 3-пәтер, Қаскелең қ., Алматы облысы" in text  # annex order
    assert "Абай к-сі" not in text
    assert "7-сыныбында оқу үшін" in text


async def skipped_then_written_note_reaches_the_pdf(stack: Stack, school_bin: str) -> None:
    address = "Алматинская область, г. Каскелен, ул. Абая, 10"
    note = "Ребёнок передвигается на коляске, нужен пандус"

    def ru(key: str, **params: object) -> str:
        return shown(stack, "ru", key, **params)

    user, case_id, summary = await up_to_summary(stack, school_bin, "ru", address)
    await user.press(ru("form.edit_note_button"), summary)
    asked = await stack.next_message(user.chat_id, ru("form.ask_note", max=500))
    assert asked.buttons() == [ru("form.note_skip_button")]
    await user.press(ru("form.note_skip_button"))
    skipped = await summary_after(stack, user, "ru")
    assert "Примечание: —" in (skipped.text or "")

    await user.press(ru("form.edit_note_button"), skipped)
    await stack.next_message(user.chat_id, ru("form.ask_note", max=500))
    await user.send_text(note)
    final = await summary_after(stack, user, "ru")
    assert f"Примечание: {note}" in (final.text or "")
    assert address in (final.text or "")
    await user.press(ru("form.confirm_button"), final)
    copy = await next_document(stack, user.chat_id)
    assert (await load_case(stack, case_id)).status == "submitted"
    assert copy.document is not None
    text = pdf_words(copy.document)
    assert note in text and "ул. Абая, 10, г. Каскелен, Алматинская область" in text  # annex order


async def second_child_is_a_separate_case_with_the_address_prefilled(
    stack: Stack, school_bin: str
) -> None:
    second_child = {
        "iin": make_iin(date(2017, 9, 2), female=True),
        "full_name": "Сейтқали Аружан Нұрланқызы",
        "birth_date": "2017-09-02",
    }

    def kk(key: str, **params: object) -> str:
        return shown(stack, "kk", key, **params)

    user = await linked_guardian(stack)
    one = await signal_for(stack, user, school={"bin": school_bin})
    two = await signal_for(stack, user, school={"bin": school_bin}, child=second_child)
    first_notice = await stack.next_message(user.chat_id, kk("consent.question"))
    second_notice = await stack.next_message(user.chat_id, kk("consent.question"))
    assert one["payload"]["child"]["full_name"] in (first_notice.text or "")
    assert second_child["full_name"] in (second_notice.text or "")

    await user.press(kk("consent.agree_button"), first_notice)
    await stack.next_message(user.chat_id, kk("form.ask_address"))
    await user.send_text(ADDRESS)
    await summary_after(stack, user, "kk")
    await user.press(kk("form.confirm_button"))
    first_copy = await next_document(stack, user.chat_id)
    assert (await load_case(stack, str(two["case_id"]))).status == "notified"

    await user.press(kk("consent.agree_button"), second_notice)
    right_after_agree = await stack.next_message(user.chat_id)
    assert fragment(stack, "kk", "form.summary") in (right_after_agree.text or "")
    assert ADDRESS in (right_after_agree.text or "")
    assert second_child["full_name"] in (right_after_agree.text or "")
    await user.press(kk("form.confirm_button"), right_after_agree)
    second_copy = await next_document(stack, user.chat_id)

    for signal in (one, two):
        case_id = str(signal["case_id"])
        assert (await load_case(stack, case_id)).status == "submitted"
        assert [r.choice for r in await consent_records(stack, case_id)] == ["agree"]
        assert len(await documents(stack, case_id)) == 1
    assert first_copy.document is not None and second_copy.document is not None
    second_pdf = pdf_words(second_copy.document)
    # The PDF asks to accept the child (accusative) living at the address in annex order.
    assert kk_case(second_child["full_name"], Case.ACCUSATIVE) in second_pdf
    assert "Абай к-сі, 10, Қарасай ауданы, Қаскелең қ., Алматы облысы" in second_pdf
    assert second_child["full_name"] not in pdf_words(first_copy.document)


async def school_is_found_by_search_when_the_signal_has_none(stack: Stack) -> None:
    gymnasium = {"name_kk": "Абай атындағы № 7 гимназия", "name_ru": "Гимназия № 7 имени Абая"}

    def kk(key: str, **params: object) -> str:
        return shown(stack, "kk", key, **params)

    gymnasium_bin = await stack.add_school(**gymnasium)
    user = await linked_guardian(stack)
    payload = signal_payload(guardian={"phone": user.user.phone, "iin": None})
    del payload["school"]
    created = await post_payload(stack, payload)
    notice = await stack.next_message(user.chat_id, kk("consent.question"))
    assert kk("notice.school_unknown") in (notice.text or "")
    await user.press(kk("consent.agree_button"))
    await stack.next_message(user.chat_id, kk("form.ask_school"))
    await user.send_text("г")
    await stack.next_message(user.chat_id, kk("form.school_query_short"))
    await user.send_text("Жоқ мектеп 999")
    await stack.next_message(user.chat_id, kk("form.school_none", query="Жоқ мектеп 999"))
    await user.send_text("гимназия")
    results = await stack.next_message(user.chat_id, kk("form.school_results"))
    assert results.buttons() == [gymnasium["name_kk"]]
    await user.press(gymnasium["name_kk"])
    question = await stack.next_message(user.chat_id, kk("form.ask_grade"))
    assert question.buttons() == [kk("form.grade_button", grade=g) for g in range(1, 12)]
    for typed in ("бесінші", "0", "12"):
        await user.send_text(typed)
        await stack.next_message(user.chat_id, kk("form.bad_grade"))
    await user.press(kk("form.grade_button", grade=3))
    await stack.next_message(user.chat_id, kk("form.ask_address"))
    await user.send_text(ADDRESS)
    summary = await summary_after(stack, user, "kk")
    assert f"Мектеп: {gymnasium['name_kk']}" in (summary.text or "")
    assert "Сынып: 3" in (summary.text or "")
    await user.press(kk("form.confirm_button"))
    copy = await next_document(stack, user.chat_id)

    case = await load_case(stack, str(created["case_id"]))
    assert (case.status, case.school_bin, case.grade) == ("submitted", gymnasium_bin, 3)
    assert copy.document is not None
    assert gymnasium["name_kk"] in pdf_words(copy.document)


async def test_form_edits_second_child_and_school_search(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        school_bin = await stack.add_school()
        async with asyncio.TaskGroup() as stories:
            stories.create_task(edited_address_and_grade_reach_the_pdf(stack, school_bin))
            stories.create_task(skipped_then_written_note_reaches_the_pdf(stack, school_bin))
            stories.create_task(
                second_child_is_a_separate_case_with_the_address_prefilled(stack, school_bin)
            )
            stories.create_task(school_is_found_by_search_when_the_signal_has_none(stack))
