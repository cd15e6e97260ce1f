"""The whole process restarts in the middle of the form; `/cancel` leaves a step.

Both app runs talk to one emulator (Telegram does not restart with us) and one SQLite
file: the FSM state and the draft live in SQL, so nothing the guardian said is lost.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiogram.fsm.storage.base import StorageKey

from bot.clock import ShiftedClock
from bot.emulator import TelegramEmulator, UserHandle
from bot.fsm_storage import build_fsm_storage
from handlers.telegram.guardian.states import Form
from tests.conftest import ALMATY
from tests.e2e.harness import (
    TOKEN,
    WORKING_MORNING,
    Stack,
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


async def lag_fsm_state(stack: Stack, user: UserHandle, step: str | None) -> None:
    """What a kill leaves between the commit that asks the next question and the FSM
    write after it: the stored state still names the question before (or, right after
    the consent, no question at all)."""
    svc = stack.app.svc
    storage = build_fsm_storage(svc.settings, svc.sessions, svc.cipher, svc.clock)
    key = StorageKey(bot_id=int(TOKEN.split(":")[0]), chat_id=user.chat_id, user_id=user.id)
    try:
        await storage.set_state(key, getattr(Form, step) if step else None)
        if step is None:
            await storage.set_data(key, {})
    finally:
        await storage.close()


async def test_an_answer_goes_to_the_question_asked_even_when_the_fsm_state_lags(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        user = await linked_guardian(stack)
        created = await signal_for(stack, user, school={"bin": await stack.add_school()})
        await stack.next_message(user.chat_id, kk(stack, "consent.question"))
        await user.press(kk(stack, "consent.agree_button"))
        await stack.next_message(user.chat_id, kk(stack, "form.ask_address"))
        await lag_fsm_state(stack, user, None)
        await user.send_text(ADDRESS)
        summary = await stack.next_message(user.chat_id, fragment(stack, "kk", "form.summary"))

        await lag_fsm_state(stack, user, "address")
        await user.send_text(NOTE)
        await stack.next_message(user.chat_id, kk(stack, "form.nothing_to_answer"))

        await user.press(kk(stack, "form.edit_note_button"), summary)
        await stack.next_message(user.chat_id, kk(stack, "form.ask_note", max=500))
        await lag_fsm_state(stack, user, "summary")
        await user.send_text(NOTE)
        final = await stack.next_message(user.chat_id, fragment(stack, "kk", "form.summary"))

    assert f"Мекенжай: {ADDRESS}" in (final.text or "")
    assert f"Ескертпе: {NOTE}" in (final.text or "")
    assert created["payload"]["child"]["full_name"] in (final.text or "")
