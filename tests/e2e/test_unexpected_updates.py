"""Updates the bot has no use for are ignored or answered politely, never raise, and count."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest

from tests.e2e.harness import running_stack

pytestmark = pytest.mark.slow


async def test_unexpected_update_kinds_are_counted_and_never_raise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with running_stack(tmp_path) as stack:
        user = stack.emu.user(first_name="Айгүл", language_code="kk", phone="+77011238800")
        await user.send_command("/start")
        # The greeting asks for the phone in the same message.
        prompt = await stack.next_message(user.chat_id, "телефон нөміріңізбен бөлісіңіз")
        await user.send_edited("/start edited")
        await stack.emu.channel(chat_id=-1002000000077, title="Жаңалықтар").post("хабар")
        await user.send_inline_query("мектеп")
        forged = f"c:{uuid.uuid4()}:agree"
        query_id = await user.press_data(forged, prompt)
        old_layout = await user.press_data("zz:not-our-format", prompt)

        registry = stack.app.svc.metrics.registry

        def counted(kind: str) -> float | None:
            name = "homeschool_unexpected_updates_total"
            return registry.get_sample_value(name, {"kind": kind})

        await stack.emu.wait_until(
            lambda: (
                counted("edited_message") == 1
                and counted("channel_post") == 1
                and counted("inline_query") == 1
                and counted("callback_query") == 1
                and len(stack.emu.callback_answers) == 2
            ),
            timeout=10,
        )
        answers = {a.callback_query_id: a.text for a in stack.emu.callback_answers}
        assert answers[old_layout] == "Бұл батырма енді жарамсыз."
        assert answers[query_id] == "Бұл батырма басқа адамның өтініміне қатысты."
        assert [m.text for m in stack.emu.sent(user.chat_id)] == [prompt.text]
        assert stack.emu.sent(-1002000000077) == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
