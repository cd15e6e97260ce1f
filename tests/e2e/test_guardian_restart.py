"""The whole process restarts in the middle of the form; `/cancel` leaves a step;
commands typed mid-form are commands.

Both app runs talk to one emulator (Telegram does not restart with us) and one SQLite
file: the draft records the answers and the question asked, so nothing the guardian
said is lost and a typed answer goes where it belongs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.clock import ShiftedClock
from bot.emulator import TelegramEmulator
from tests.conftest import ALMATY
from tests.e2e.harness import (
    TOKEN,
    WORKING_MORNING,
    Stack,
    asked_step,
    fragment,
    linked_guardian,
    load_case,
    next_document,
    pdf_words,
    running_stack,
    running_stack_on,
    shown,
    signal_for,
)

pytestmark = pytest.mark.slow

ADDRESS = "Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10"
NOTE = "Бала мүгедектер арбасымен жүреді"
MOVED = "Алматы облысы, Қаскелең қ., Жібек жолы к-сі, 25"


def kk(stack: Stack, key: str, **params: object) -> str:
    return shown(stack, "kk", key, **params)


async def test_restart_mid_form_keeps_the_step_and_the_answers(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    clock = ShiftedClock(WORKING_MORNING, ALMATY)
    async with TelegramEmulator(token=TOKEN) as emu:
        async with running_stack_on(emu, tmp_path, database_url, clock) as stack:
            user = await linked_guardian(stack)
            created = await signal_for(stack, user, school={"bin": await stack.add_school()})
            case_id = str(created["case_id"])
            await stack.next_message(user.chat_id, kk(stack, "consent.question"))
            await user.press(kk(stack, "consent.agree_button"))
            await stack.next_message(user.chat_id, kk(stack, "form.ask_address"))
            await user.send_text(ADDRESS)
            summary = await stack.next_message(user.chat_id, fragment(stack, "kk", "form.summary"))
            await user.press(kk(stack, "form.edit_note_button"), summary)
            await stack.next_message(user.chat_id, kk(stack, "form.ask_note", max=500))

        async with running_stack_on(emu, tmp_path, database_url, clock) as stack:
            await user.send_text(NOTE)
            kept = await stack.next_message(user.chat_id, fragment(stack, "kk", "form.summary"))

            await user.press(kk(stack, "form.edit_address_button"), kept)
            await stack.next_message(user.chat_id, kk(stack, "form.ask_address"))
            await user.send_command("/cancel")
            await stack.next_message(user.chat_id, kk(stack, "cancel.done"))
            await user.send_text(MOVED)
            await stack.next_message(user.chat_id, kk(stack, "form.nothing_to_answer"))
            await user.press(kk(stack, "form.edit_address_button"), kept)
            await stack.next_message(user.chat_id, kk(stack, "form.ask_address"))
            await user.send_text(MOVED)
            final = await stack.next_message(user.chat_id, fragment(stack, "kk", "form.summary"))
            await user.press(kk(stack, "form.confirm_button"), final)
            copy = await next_document(stack, user.chat_id)
            case = await load_case(stack, case_id)

    assert f"Мекенжай: {ADDRESS}" in (kept.text or "")
    assert f"Ескертпе: {NOTE}" in (kept.text or "")
    assert created["payload"]["child"]["full_name"] in (kept.text or "")
    assert "Сынып: 4" in (kept.text or "")
    assert f"Мекенжай: {MOVED}" in (final.text or "")
    assert f"Ескертпе: {NOTE}" in (final.text or "")
    assert case.status == "submitted"
    assert copy.document is not None
    text = pdf_words(copy.document)
    # The application prints the address in the order of annex 2 (locality ... region).
    assert "Жібек жолы к-сі, 25, Қаскелең қ., Алматы облысы" in text and NOTE in text
    assert "Абай к-сі" not in text
    assert kk(stack, "error.generic") not in [m.text for m in emu.sent(user.chat_id)]


async def test_commands_typed_in_the_middle_of_the_form_are_commands_not_answers(
    tmp_path: Path,
) -> None:
    """At the address question, every text starting with "/" is a command: the ones the
    bot has answer as always, any other (mistyped, or for another bot) gets the help;
    none of them lands in the draft, and the address typed after them still does."""
    async with running_stack(tmp_path) as stack:
        user = await linked_guardian(stack)
        created = await signal_for(stack, user, school={"bin": await stack.add_school()})
        case_id = str(created["case_id"])
        await stack.next_message(user.chat_id, kk(stack, "consent.question"))
        await user.press(kk(stack, "consent.agree_button"))
        await stack.next_message(user.chat_id, kk(stack, "form.ask_address"))

        await user.send_command("/status")
        status = await stack.next_message(user.chat_id, fragment(stack, "kk", "status.header"))
        answers = []
        for typed in ("/help", "/status@another_bot", "/Абай көшесі, 10 үй, Қаскелең"):
            await user.send_text(typed)
            answers.append(await stack.next_message(user.chat_id))
        await user.send_command("/withdraw")
        offer = await stack.next_message(user.chat_id, fragment(stack, "kk", "withdraw.choose"))
        asked_after_commands = await asked_step(stack, case_id)

        await user.send_text(ADDRESS)
        summary = await stack.next_message(user.chat_id, fragment(stack, "kk", "form.summary"))

    assert shown(stack, "kk", "status.consented") in (status.text or "")
    assert [m.text for m in answers] == [kk(stack, "help.text")] * 3
    assert len(offer.buttons()) == 1
    assert asked_after_commands == "address"
    assert f"Мекенжай: {ADDRESS}" in (summary.text or "")
    assert "Абай көшесі, 10 үй" not in (summary.text or "")
