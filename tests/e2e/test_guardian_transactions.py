"""One update, one transaction: every answer and tap of the guardian's form reads the
question, stores the answer, queues the next question and commits at once. The one
exception is the confirmation: it reads the draft in one transaction, renders the PDF
outside any, and submits in a second (so a burst of them never waits on one another's
PDFs; see `submission.confirm`).

The real app polls the emulator; each update is handled in a task of its own, so the
transactions begun in that task (SQLAlchemy's `begin` event on the engine) are the
update's. aiogram's FSM, the language and the question asked cost none of their own.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.types import Update
from sqlalchemy import event, func, select

from storage.models import FsmRecord
from tests.e2e.harness import (
    Stack,
    eventually,
    fragment,
    linked_guardian,
    load_case,
    next_document,
    post_payload,
    running_stack,
    shown,
)
from tests.factories import signal_payload

pytestmark = pytest.mark.slow

ADDRESS = "Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10"


@dataclass
class UpdateTransactions:
    """Transactions begun by each update's handling, by update id."""

    begun: Counter[int] = field(default_factory=Counter)
    done: set[int] = field(default_factory=set)
    handling: dict[asyncio.Task[Any], int] = field(default_factory=dict)

    async def of(self, act: Callable[[], Awaitable[object]]) -> list[int]:
        """Do `act` (one update); return the transactions of each update it caused."""
        before = set(self.done)
        await act()

        async def finished() -> list[int] | None:
            new = sorted(self.done - before)
            return [self.begun[u] for u in new] if new else None

        # A wait, not a speed check: the confirm's first PDF also loads the fonts.
        return await eventually(finished, timeout=60, what="the update handled")


@asynccontextmanager
async def counted(stack: Stack) -> AsyncIterator[UpdateTransactions]:
    """Count the transactions each update's task begins, from here on."""
    assert stack.app.telegram is not None
    dispatcher = stack.app.telegram.dispatcher
    seen = UpdateTransactions()
    handle = dispatcher.feed_update

    async def feed_update(bot: Bot, update: Update, **kwargs: Any) -> Any:
        task = asyncio.current_task()
        assert task is not None
        seen.handling[task] = update.update_id
        try:
            return await handle(bot, update, **kwargs)
        finally:
            del seen.handling[task]
            seen.done.add(update.update_id)

    def on_begin(_connection: object) -> None:
        task = asyncio.current_task()
        if task in seen.handling:
            seen.begun[seen.handling[task]] += 1

    engine = stack.app.svc.engine.sync_engine
    event.listen(engine, "begin", on_begin)
    dispatcher.feed_update = feed_update  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        dispatcher.feed_update = handle  # type: ignore[method-assign]
        event.remove(engine, "begin", on_begin)


async def test_every_answer_and_tap_of_the_form_is_one_transaction(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:

        def kk(key: str, **params: object) -> str:
            return shown(stack, "kk", key, **params)

        school_bin = await stack.add_school()
        user = await linked_guardian(stack)
        payload = signal_payload(guardian={"phone": user.user.phone, "iin": None})
        payload["school"] = {"bin": school_bin}  # no grade: the form asks for it
        created = await post_payload(stack, payload)
        notice = await stack.next_message(user.chat_id, kk("consent.question"))

        async def reply(act: Callable[[], Awaitable[object]], text: str) -> list[int]:
            count = await seen.of(act)
            await stack.next_message(user.chat_id, text)
            return count

        async with counted(stack) as seen:
            steps = {
                "agree": await reply(
                    lambda: user.press(kk("consent.agree_button"), notice), kk("form.ask_grade")
                ),
                "grade typed wrong": await reply(
                    lambda: user.send_text("12"), kk("form.bad_grade")
                ),
                "grade": await reply(
                    lambda: user.press(kk("form.grade_button", grade=5)), kk("form.ask_address")
                ),
                "sticker": await reply(user.send_sticker, kk("form.not_text")),
                "/status": await reply(
                    lambda: user.send_command("/status"), fragment(stack, "kk", "status.header")
                ),
                "address too short": await reply(
                    lambda: user.send_text("Абай"), kk("form.address_bad", min=10, max=300)
                ),
                "address": await reply(
                    lambda: user.send_text(ADDRESS), fragment(stack, "kk", "form.summary")
                ),
                "edit note": await reply(
                    lambda: user.press(kk("form.edit_note_button")), kk("form.ask_note", max=500)
                ),
                "note": await reply(
                    lambda: user.send_text("Пандус керек"), fragment(stack, "kk", "form.summary")
                ),
                "edit school": await reply(
                    lambda: user.press(kk("form.edit_school_button")), kk("form.ask_school")
                ),
                "school search": await reply(
                    lambda: user.send_text("мектеп"), kk("form.school_results")
                ),
                "school": await reply(
                    lambda: user.press("№ 12 жалпы орта білім беретін мектеп"),
                    fragment(stack, "kk", "form.summary"),
                ),
                "/help": await reply(lambda: user.send_command("/help"), kk("help.text")),
                "edit note again": await reply(
                    lambda: user.press(kk("form.edit_note_button")), kk("form.ask_note", max=500)
                ),
                "no note": await reply(
                    lambda: user.press(kk("form.note_skip_button")),
                    fragment(stack, "kk", "form.summary"),
                ),
            }
            steps["confirm"] = await seen.of(lambda: user.press(kk("form.confirm_button")))
            await next_document(stack, user.chat_id, timeout=60)
            steps["/status after"] = await reply(
                lambda: user.send_command("/status"), fragment(stack, "kk", "status.header")
            )
        case = await load_case(stack, str(created["case_id"]))
        async with stack.app.svc.sessions() as session:
            fsm_rows = await session.scalar(select(func.count()).select_from(FsmRecord))

    assert steps == {step: [2] if step == "confirm" else [1] for step in steps}
    assert (case.status, case.grade) == ("submitted", 5)
    assert fsm_rows == 0
