"""Commands: `/help`, `/language`, `/status` with several cases, `/cancel` with nothing
to cancel, and the command menu in both languages.

The stories run side by side in one process (each chat is paced on its own).
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.models import Guardian
from tests.e2e.harness import (
    LANGUAGE_BUTTONS,
    Stack,
    fragment,
    linked_guardian,
    running_stack,
    shown,
    signal_for,
)
from tests.factories import make_iin

pytestmark = pytest.mark.slow

COMMANDS = ["start", "status", "help", "language", "withdraw", "cancel"]
CONTACT_CENTRE = ("1414", "8-800-080-7777")


async def help_and_language_switch(stack: Stack) -> None:
    user = await linked_guardian(stack)
    await user.send_command("/help")
    kazakh_help = await stack.next_message(user.chat_id, shown(stack, "kk", "help.text"))
    await user.send_command("/cancel")
    await stack.next_message(user.chat_id, shown(stack, "kk", "cancel.nothing"))
    await user.send_command("/language")
    prompt = await stack.next_message(user.chat_id, shown(stack, "kk", "start.choose_language"))
    assert prompt.buttons() == [LANGUAGE_BUTTONS["kk"], LANGUAGE_BUTTONS["ru"]]
    await user.press(LANGUAGE_BUTTONS["ru"])
    await stack.next_message(user.chat_id, shown(stack, "ru", "language.chosen"))
    await user.send_command("/help")
    russian_help = await stack.next_message(user.chat_id, shown(stack, "ru", "help.text"))

    for text in (kazakh_help.text or "", russian_help.text or ""):
        assert all(number in text for number in CONTACT_CENTRE), text
    async with stack.app.svc.sessions() as session:
        query = select(Guardian.language).where(Guardian.telegram_user_id == user.id)
        assert (await session.execute(query)).scalar_one() == "ru"


async def status_lists_every_case(stack: Stack, school_bin: str) -> None:
    second_child = {
        "iin": make_iin(date(2019, 1, 20)),
        "full_name": "Сейтқали Нұрсұлтан Нұрланұлы",
        "birth_date": "2019-01-20",
    }
    user = await linked_guardian(stack)
    one = await signal_for(stack, user, school={"bin": school_bin})
    await signal_for(stack, user, school={"bin": school_bin}, child=second_child)
    first_notice = await stack.next_message(user.chat_id, shown(stack, "kk", "consent.question"))
    await stack.next_message(user.chat_id, shown(stack, "kk", "consent.question"))
    await user.press(shown(stack, "kk", "consent.decline_button"), first_notice)
    await stack.next_message(user.chat_id, fragment(stack, "kk", "consent.declined"))

    await user.send_command("/status")
    status = await stack.next_message(user.chat_id, fragment(stack, "kk", "status.header"))
    await user.send_command("/start")
    overview = await stack.next_message(user.chat_id, fragment(stack, "kk", "status.header"))

    first_child = one["payload"]["child"]["full_name"]
    items = (status.text or "").split("\n\n")[1:]
    assert len(items) == 2
    assert first_child in items[0] and shown(stack, "kk", "status.declined") in items[0]
    assert second_child["full_name"] in items[1]
    assert shown(stack, "kk", "status.notified") in items[1]
    assert overview.text == status.text


async def test_help_language_status_and_the_command_menu(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        school_bin = await stack.add_school()
        async with asyncio.TaskGroup() as stories:
            stories.create_task(help_and_language_switch(stack))
            stories.create_task(status_lists_every_case(stack, school_bin))

        menus = {
            lang: [(c["command"], c["description"]) for c in stack.emu.commands[key]]
            for lang, key in [
                ("kk", ("all_private_chats", "kk")),
                ("ru", ("all_private_chats", "ru")),
                ("default", ("all_private_chats", "")),
            ]
        }

    texts = stack.app.svc.texts
    assert menus["kk"] == [(c, texts("kk", f"cmd.{c}")) for c in COMMANDS]
    assert menus["ru"] == [(c, texts("ru", f"cmd.{c}")) for c in COMMANDS]
    assert menus["default"] == menus["ru"]
    assert menus["kk"] != menus["ru"]
