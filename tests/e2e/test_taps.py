"""Button presses are answered at once, also while their use case waits for the database.

Telegram shows a spinner on a pressed button until the bot answers the press, and takes
one answer. The app answers with the use case's outcome when it comes within
`TAP_ANSWER_WITHIN_S` (a toast for a stale button, `test_guardian_consent`), and
empty at that moment otherwise; a refusal found later then comes as a message. The
database is made busy the way a burst makes it: the test holds the app's one SQLite
connection, so the press's transaction queues behind it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text

from handlers.telegram.middlewares import TAP_ANSWER_WITHIN_S
from tests.e2e.harness import (
    chat_texts,
    linked_guardian,
    running_stack,
    shown,
    signal_for,
    toast,
)

pytestmark = pytest.mark.slow

HOLD_S = 20.0  # longer than any answer may take on a loaded machine


async def test_a_press_queued_for_the_database_is_answered_and_refused_in_the_chat(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:

        def kk(key: str) -> str:
            return shown(stack, "kk", key)

        user = await linked_guardian(stack)
        await signal_for(stack, user, school={"bin": await stack.add_school(), "grade": 4})
        notice = await stack.next_message(user.chat_id, kk("consent.question"))
        assert (
            await toast(stack, await user.press(kk("consent.agree_button"), notice))
        ).text is None
        await stack.next_message(user.chat_id, kk("form.ask_address"))

        async with stack.app.svc.sessions.begin() as session:
            await session.execute(text("SELECT 1"))  # the app's one connection is ours now
            pressed = time.monotonic()
            again = await toast(stack, await user.press(kk("consent.agree_button"), notice), HOLD_S)
            answered_s = time.monotonic() - pressed
            assert kk("error.stale_button") not in chat_texts(stack, user.chat_id)
        stale = await stack.next_message(user.chat_id, kk("error.stale_button"))

    assert again.text is None  # the outcome was not known yet
    assert TAP_ANSWER_WITHIN_S <= answered_s < HOLD_S
    assert stale.text == kk("error.stale_button")
