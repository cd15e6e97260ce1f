"""A first-time guardian files the application in five actions: /start, the contact,
consent, the address and the confirmation. The language is the one Telegram reports
when it is Kazakh or Russian, named in the first message with a one-tap switch; any
other interface language is asked about.

The stories run side by side in one process (each chat is paced on its own).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.emulator import UserHandle
from storage.models import Guardian
from tests.e2e.harness import (
    LANGUAGE_BUTTONS,
    Stack,
    actions,
    chat_texts,
    fragment,
    load_case,
    next_document,
    running_stack,
    shown,
    wait_for_status,
)
from tests.factories import make_phone

pytestmark = pytest.mark.slow

ADDRESS = {
    "kk": "Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10",
    "ru": "Алматинская область, Карасайский район, г. Каскелен, ул. Абая, 10",
}
OTHER = {"kk": "ru", "ru": "kk"}


async def stored_language(stack: Stack, user: UserHandle) -> str | None:
    async with stack.app.svc.sessions() as session:
        query = select(Guardian.language).where(Guardian.telegram_user_id == user.id)
        return (await session.execute(query)).scalar_one_or_none()


async def apply_from_the_notice(stack: Stack, user: UserHandle, lang: str, case_id: str) -> None:
    """Consent, the address and the confirmation: the three actions after the contact."""
    await stack.next_message(user.chat_id, shown(stack, lang, "consent.question"))
    await wait_for_status(stack, case_id, "notified")
    await user.press(shown(stack, lang, "consent.agree_button"))
    await stack.next_message(user.chat_id, shown(stack, lang, "form.ask_address"))
    await user.send_text(ADDRESS[lang])
    await stack.next_message(user.chat_id, fragment(stack, lang, "form.summary"))
    await user.press(shown(stack, lang, "form.confirm_button"))
    await next_document(stack, user.chat_id)
    assert (await load_case(stack, case_id)).status == "submitted"


async def first_time_in_five_actions(stack: Stack, school_bin: str, lang: str) -> None:
    phone = make_phone()
    user = stack.emu.user(first_name="Айгүл", language_code=lang, phone=phone)
    created = await stack.post_signal(
        guardian={"phone": phone, "iin": None}, school={"bin": school_bin, "grade": 4}
    )
    await user.send_command("/start")
    # One message: the language taken, the request for the phone, the other language
    # offered, labelled in itself; both buttons on the phone's keyboard.
    told = await stack.next_message(user.chat_id, shown(stack, lang, "start.language_told"))
    other = OTHER[lang]
    assert shown(stack, lang, "identity.ask_contact") in (told.text or "")
    assert told.reply_markup is not None and told.reply_markup["keyboard"] == [
        [{"text": shown(stack, lang, "identity.contact_button"), "request_contact": True}],
        [{"text": shown(stack, other, f"language.{other}_button")}],
    ]
    await user.share_contact()
    await apply_from_the_notice(stack, user, lang, str(created["case_id"]))

    assert actions(stack, user) == 5
    assert await stored_language(stack, user) == lang


async def one_tap_switches_the_language(stack: Stack, school_bin: str) -> None:
    phone = make_phone()
    user = stack.emu.user(first_name="Мария", language_code="kk", phone=phone)
    created = await stack.post_signal(
        guardian={"phone": phone, "iin": None}, school={"bin": school_bin, "grade": 4}
    )
    await user.send_command("/start")
    await stack.next_message(user.chat_id, shown(stack, "kk", "identity.ask_contact"))
    await user.send_text(LANGUAGE_BUTTONS["ru"])  # what the keyboard's button sends
    await stack.next_message(user.chat_id, shown(stack, "ru", "identity.ask_contact"))
    await user.share_contact()
    await apply_from_the_notice(stack, user, "ru", str(created["case_id"]))

    assert actions(stack, user) == 6  # the switch is the one extra tap
    assert await stored_language(stack, user) == "ru"


async def another_interface_language_is_asked(stack: Stack) -> None:
    user = stack.emu.user(first_name="Anna", language_code="en", phone=make_phone())
    await user.send_command("/start")
    prompt = await stack.next_message(user.chat_id, shown(stack, "kk", "start.choose_language"))
    assert prompt.buttons() == [LANGUAGE_BUTTONS["kk"], LANGUAGE_BUTTONS["ru"]]
    await user.press(LANGUAGE_BUTTONS["ru"], prompt)
    await stack.next_message(user.chat_id, shown(stack, "ru", "identity.ask_contact"))
    await user.share_contact()
    await stack.next_message(user.chat_id, shown(stack, "ru", "identity.no_cases"))
    assert await stored_language(stack, user) == "ru"
    everything = "\n".join(chat_texts(stack, user.chat_id))
    assert fragment(stack, "kk", "start.language_told") not in everything
    assert fragment(stack, "ru", "start.language_told") not in everything


async def test_first_time_guardian_applies_in_five_actions(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        school_bin = await stack.add_school()
        async with asyncio.TaskGroup() as stories:
            stories.create_task(first_time_in_five_actions(stack, school_bin, "kk"))
            stories.create_task(first_time_in_five_actions(stack, school_bin, "ru"))
            stories.create_task(one_tap_switches_the_language(stack, school_bin))
            stories.create_task(another_interface_language_is_asked(stack))
