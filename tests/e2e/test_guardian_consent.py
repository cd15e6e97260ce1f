"""Consent buttons: decline and the way back, and buttons that must not work (forged,
pressed twice, left over from an earlier step).

The stories run side by side in one process (each chat is paced on its own).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from bot.texts import Lang
from bot.usecases.notices import CONSENT_VERSION, consent_text
from handlers.telegram.callbacks import CaseAction, CaseCb, GradeCb
from tests.e2e.harness import (
    Stack,
    audit_events,
    chat_texts,
    consent_records,
    documents,
    fragment,
    linked_guardian,
    load_case,
    next_document,
    refused_with,
    running_stack,
    shown,
    signal_for,
    toast,
    wait_for_status,
)

pytestmark = pytest.mark.slow

ADDRESS = "Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10"


def kk(stack: Stack, key: str, **params: object) -> str:
    return shown(stack, "kk", key, **params)


async def declined_consent_can_be_given_after_all(stack: Stack, school_bin: str) -> None:
    """Decline closes the case on ground 3 with a way back; taking it, the form goes on."""
    user = await linked_guardian(stack)
    created = await signal_for(stack, user, school={"bin": school_bin})
    case_id = str(created["case_id"])
    await stack.next_message(user.chat_id, kk(stack, "consent.question"))

    await user.press(kk(stack, "consent.decline_button"))
    declined = await stack.next_message(user.chat_id, fragment(stack, "kk", "consent.declined"))
    assert declined.buttons() == [kk(stack, "consent.again_button")]
    # One message: what happened, on which ground, and the way back with its last moment.
    until = stack.app.svc.clock.now() + timedelta(days=7)
    assert kk(stack, "ground.3") in (declined.text or "")
    assert f"Соңғы мерзім: {until:%d.%m.%Y}" in (declined.text or "")
    assert (await load_case(stack, case_id)).status == "declined"
    [refusal] = await consent_records(stack, case_id)
    shown_text = consent_text(stack.app.svc, Lang.KK)
    assert (refusal.choice, refusal.text_version, refusal.text_sha256) == (
        "decline",
        CONSENT_VERSION,
        hashlib.sha256(shown_text.text.encode()).hexdigest(),
    )

    await user.press(kk(stack, "consent.again_button"))
    again = await stack.next_message(user.chat_id, kk(stack, "consent.question"))
    assert created["payload"]["child"]["full_name"] in (again.text or "")
    await user.press(kk(stack, "consent.agree_button"), again)
    await stack.next_message(user.chat_id, kk(stack, "form.ask_address"))
    await user.send_text(ADDRESS)
    await stack.next_message(user.chat_id, fragment(stack, "kk", "form.summary"))
    await user.press(kk(stack, "form.confirm_button"))
    await next_document(stack, user.chat_id)

    assert (await load_case(stack, case_id)).status == "submitted"
    assert [r.choice for r in await consent_records(stack, case_id)] == ["decline", "agree"]
    events = [e.event for e in await audit_events(stack, case_id)]
    assert events[1:5] == [
        "notice_sent",
        "consent_declined",
        "consent_given",
        "application_confirmed",
    ]


async def forged_repeated_and_old_buttons_get_a_toast(stack: Stack, school_bin: str) -> None:
    """Someone else's case id, a random one, a double tap and buttons of an earlier step:
    a refusal each (a toast, or a message when the machine is slow), nothing changes,
    nothing crashes."""
    school = {"bin": school_bin, "grade": 4}
    alice, bob = await asyncio.gather(
        linked_guardian(stack), linked_guardian(stack, first_name="Бақыт")
    )
    mine = str((await signal_for(stack, alice, school=school))["case_id"])
    theirs = str((await signal_for(stack, bob, school=school))["case_id"])
    notice = await stack.next_message(alice.chat_id, kk(stack, "consent.question"))
    await stack.next_message(bob.chat_id, kk(stack, "consent.question"))
    # The notice reaches the chat a moment before its delivery is recorded.
    await wait_for_status(stack, theirs, "notified")
    not_yours, stale = kk(stack, "error.not_your_case"), kk(stack, "error.stale_button")

    forged = [
        CaseCb(case_id=str(uuid.uuid4()), action=CaseAction.AGREE),
        CaseCb(case_id=theirs, action=CaseAction.AGREE),
        CaseCb(case_id=theirs, action=CaseAction.DECLINE),
        GradeCb(case_id=theirs, grade=9),
    ]
    for data in forged:
        pressed = await alice.press_data(data.pack(), notice)
        assert await refused_with(stack, alice.chat_id, pressed, not_yours), data
    theirs_case = await load_case(stack, theirs)
    assert (theirs_case.status, theirs_case.grade) == ("notified", 4)
    assert await consent_records(stack, theirs) == []

    first = await alice.press(kk(stack, "consent.agree_button"))
    second = await alice.press(kk(stack, "consent.agree_button"))
    assert (await toast(stack, first)).text is None
    assert await refused_with(stack, alice.chat_id, second, stale)
    await stack.next_message(alice.chat_id, kk(stack, "form.ask_address"))
    await alice.send_text(ADDRESS)
    summary = await stack.next_message(alice.chat_id, fragment(stack, "kk", "form.summary"))
    assert [r.choice for r in await consent_records(stack, mine)] == ["agree"]
    assert chat_texts(stack, alice.chat_id).count(kk(stack, "form.ask_address")) == 1
    await alice.press(kk(stack, "form.confirm_button"))
    await next_document(stack, alice.chat_id)

    for text, message in [
        (kk(stack, "form.edit_address_button"), summary),
        (kk(stack, "form.confirm_button"), summary),
        (kk(stack, "consent.agree_button"), notice),
    ]:
        pressed = await alice.press(text, message)
        assert await refused_with(stack, alice.chat_id, pressed, stale), text
    assert (await load_case(stack, mine)).status == "submitted"
    assert len(await documents(stack, mine)) == 1
    assert len(chat_texts(stack, bob.chat_id)) == 3  # greeting with the phone, linked, notice
    generic = kk(stack, "error.generic")
    assert generic not in chat_texts(stack, alice.chat_id) + chat_texts(stack, bob.chat_id)


async def test_consent_can_be_taken_back_and_buttons_act_only_for_their_owner(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        school_bin = await stack.add_school()
        async with asyncio.TaskGroup() as stories:
            stories.create_task(declined_consent_can_be_given_after_all(stack, school_bin))
            stories.create_task(forged_repeated_and_old_buttons_get_a_toast(stack, school_bin))
