"""Every kind of bad answer gets a polite re-ask, never a crash; markup in an answer or
in a name from the signal is shown as typed (the emulator rejects invalid HTML, so a
delivered message proves it was escaped).

The two stories run side by side in one process (each chat is paced on its own).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.e2e.harness import (
    Stack,
    chat_texts,
    fragment,
    linked_guardian,
    load_case,
    next_document,
    pdf_words,
    running_stack,
    shown,
    signal_for,
)

pytestmark = pytest.mark.slow

HOSTILE = "<b>x</b><script>alert(1)</script>"


def kk(stack: Stack, key: str, **params: object) -> str:
    return shown(stack, "kk", key, **params)


async def media_and_markup_are_handled(stack: Stack, school_bin: str) -> None:
    """Sticker, photo, voice, location at the address question; markup everywhere."""
    hostile_name = f"Сейтқали {HOSTILE} Айгүл"
    hostile_address = f"Қаскелең қ., {HOSTILE} Абай к-сі, 10"
    user = await linked_guardian(stack)
    created = await signal_for(
        stack, user, guardian={"full_name": hostile_name}, school={"bin": school_bin}
    )
    notice = await stack.next_message(user.chat_id, kk(stack, "consent.question"))
    assert f"{HOSTILE} Айгүл" in (notice.text or "")  # the greeting: name and patronymic
    await user.press(kk(stack, "consent.agree_button"))
    await stack.next_message(user.chat_id, kk(stack, "form.ask_address"))

    for send in (
        user.send_sticker(),
        user.send_photo(caption="мекенжай суретте"),
        user.send_voice(),
        user.send_location(),
    ):
        await send
        await stack.next_message(user.chat_id, kk(stack, "form.not_text"))

    await user.send_text(hostile_address)
    summary = await stack.next_message(user.chat_id, fragment(stack, "kk", "form.summary"))
    assert f"Мекенжай: {hostile_address}" in (summary.text or "")
    assert f"Өтініш беруші: {hostile_name}" in (summary.text or "")
    assert [e["type"] for e in summary.entities] == ["bold"]  # only the catalog's own markup
    await user.press(kk(stack, "form.confirm_button"))
    copy = await next_document(stack, user.chat_id)
    assert (await load_case(stack, str(created["case_id"]))).status == "submitted"
    assert copy.document is not None
    assert "alert(1)" in pdf_words(copy.document)
    assert kk(stack, "error.generic") not in chat_texts(stack, user.chat_id)


async def bad_texts_are_asked_again(stack: Stack, school_bin: str) -> None:
    """Outside the form, too long, too short, no letters; then a messy but good address."""
    user = await linked_guardian(stack)
    await signal_for(stack, user, school={"bin": school_bin})
    await stack.next_message(user.chat_id, kk(stack, "consent.question"))
    await user.send_sticker()
    await stack.next_message(user.chat_id, kk(stack, "error.unsupported"))
    await user.send_text("Иә, келісемін")
    await stack.next_message(user.chat_id, kk(stack, "form.nothing_to_answer"))
    await user.press(kk(stack, "consent.agree_button"))
    await stack.next_message(user.chat_id, kk(stack, "form.ask_address"))

    bad_address = kk(stack, "form.address_bad", min=10, max=300)
    for text in ("Қаскелең " * 556, "Алматы", "050000, 12/3 - 45"):
        await user.send_text(text)
        await stack.next_message(user.chat_id, bad_address)

    await user.send_text("  Алматы облысы,\tҚаскелең қ.,\n   Абай к-сі,  10  ")
    summary = await stack.next_message(user.chat_id, fragment(stack, "kk", "form.summary"))
    assert "Мекенжай: Алматы облысы, Қаскелең қ., Абай к-сі, 10\n" in (summary.text or "")
    assert kk(stack, "error.generic") not in chat_texts(stack, user.chat_id)


async def test_bad_answers_get_a_polite_reask_and_never_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with running_stack(tmp_path) as stack:
        school_bin = await stack.add_school()
        async with asyncio.TaskGroup() as stories:
            stories.create_task(media_and_markup_are_handled(stack, school_bin))
            stories.create_task(bad_texts_are_asked_again(stack, school_bin))

    failures = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert failures == []
