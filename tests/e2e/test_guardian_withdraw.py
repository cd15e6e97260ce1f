"""`/withdraw`: consent taken back before the application left (the case closes on
ground 3, nothing reaches the school) and after (the guardian hears what the school
has, the school hears in its chat and through its webhook).

The stories run side by side in one process (each chat is paced on its own).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from bot.emulator import TelegramEmulator
from bot.usecases.case_views import case_number
from bot.usecases.schools import create_school_invite
from tests.e2e.harness import (
    TOKEN,
    LoopbackReceiver,
    MovableClock,
    Stack,
    audit_events,
    consent_records,
    fragment,
    linked_guardian,
    load_case,
    outbox_rows,
    running_stack_on,
    school_signature_check,
    shown,
    signal_for,
    submit_case,
    wait_for_status,
)

pytestmark = pytest.mark.slow

SECRET = "webhook-secret-of-the-withdrawal-school"
ADDRESS = "Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10"


def kk(stack: Stack, key: str, **params: object) -> str:
    return shown(stack, "kk", key, **params)


def local(stack: Stack, clock: MovableClock, delta: timedelta = timedelta(0)) -> str:
    return (clock.now() + delta).astimezone(stack.app.svc.settings.zone).strftime("%d.%m.%Y")


async def withdrawn_mid_form_closes_the_case(
    stack: Stack, clock: MovableClock, school_bin: str
) -> None:
    user = await linked_guardian(stack, "ru", first_name="Мария")
    created = await signal_for(stack, user, school={"bin": school_bin, "grade": 4})
    case_id = str(created["case_id"])
    await stack.next_message(user.chat_id, shown(stack, "ru", "consent.question"))
    await wait_for_status(stack, case_id, "notified")
    await user.press(shown(stack, "ru", "consent.agree_button"))
    await stack.next_message(user.chat_id, shown(stack, "ru", "form.ask_address"))

    await user.send_command("/withdraw")  # typed where the address is asked
    offer = await stack.next_message(user.chat_id, fragment(stack, "ru", "withdraw.choose"))
    child = created["payload"]["child"]["full_name"]
    label = shown(
        stack, "ru", "withdraw.button", case_number=case_number(case_id), child_name=child
    )
    assert offer.buttons() == [label]
    await user.press(label, offer)
    closed = await stack.next_message(user.chat_id, fragment(stack, "ru", "withdraw.before"))
    text = closed.text or ""
    assert shown(stack, "ru", "ground.3") in text
    assert f"Последний срок: {local(stack, clock, timedelta(days=7))}" in text
    assert closed.buttons() == [shown(stack, "ru", "consent.again_button")]

    case = await load_case(stack, case_id)
    assert case.status == "declined"
    assert [r.choice for r in await consent_records(stack, case_id)] == ["agree", "withdraw"]
    withdrawal = [e for e in await audit_events(stack, case_id) if e.to_status == "declined"]
    assert [(e.event, e.details) for e in withdrawal] == [("consent_declined", {"withdrawn": True})]
    # The form is left: the address typed now answers nothing.
    await user.send_text(ADDRESS)
    await stack.next_message(user.chat_id, shown(stack, "ru", "form.nothing_to_answer"))
    assert [r.kind for r in await outbox_rows(stack, case_id) if r.kind.startswith("school")] == []

    await user.send_command("/withdraw")
    await stack.next_message(user.chat_id, shown(stack, "ru", "withdraw.none"))
    await user.send_command("/status")
    status = await stack.next_message(user.chat_id, fragment(stack, "ru", "status.header"))
    assert shown(stack, "ru", "status.declined") in (status.text or "")


async def withdrawn_after_submission_tells_the_school(
    stack: Stack, school_bin: str, staff_chat: int, hook: LoopbackReceiver
) -> None:
    submitted = await submit_case(stack, school_bin)
    user, case_id = submitted.guardian, submitted.case_id
    await stack.next_message(staff_chat, "Жаңа өтініш")
    await hook.wait_delivered(1)
    await wait_for_status(stack, case_id, "forwarded")

    await user.send_command("/withdraw")
    offer = await stack.next_message(user.chat_id, fragment(stack, "kk", "withdraw.choose"))
    await user.press(offer.buttons()[0], offer)
    told = await stack.next_message(user.chat_id, fragment(stack, "kk", "withdraw.after"))
    text = told.text or ""
    conclusion = submitted.signal["conclusion"]
    assert f"№ {conclusion['number']}" in text
    assert "Мектеп: № 12 жалпы орта білім беретін мектеп" in text
    assert kk(stack, "ground.3") in text

    notice = await stack.next_message(staff_chat, fragment(stack, "kk", "staff.consent_withdrawn"))
    assert case_number(case_id) in (notice.text or "")
    [_, event] = await hook.wait_delivered(2)
    assert event.problem is None
    body = event.json()
    assert (body["event"], body["case_id"], body["school_bin"]) == (
        "consent_withdrawn",
        case_id,
        school_bin,
    )
    case = await load_case(stack, case_id)
    assert case.status == "forwarded"  # the school decides, on ground 3 if it refuses
    assert [r.choice for r in await consent_records(stack, case_id)] == ["agree", "withdraw"]
    assert "consent_withdrawn" in [e.event for e in await audit_events(stack, case_id)]

    await user.send_command("/withdraw")
    await stack.next_message(user.chat_id, kk(stack, "withdraw.none"))


async def test_withdraw_before_and_after_submission(tmp_path: Path) -> None:
    clock = MovableClock()
    async with (
        TelegramEmulator(token=TOKEN) as emu,
        running_stack_on(emu, tmp_path, clock=clock) as stack,
        LoopbackReceiver() as hook,
    ):
        hook.check = school_signature_check(SECRET, clock)
        plain = await stack.add_school()
        school_bin = await stack.add_school(webhook_url=hook.url, webhook_secret=SECRET)
        invite = await create_school_invite(stack.app.svc, school_bin)
        group = stack.emu.group(chat_id=-100_777, title="Мұғалімдер")
        await group.member(800_000_777, "Гүлнар", language_code="kk").send_command(
            "/link", invite.code
        )
        await stack.next_message(group.id, "мектептің арнасы ретінде қосылды")
        async with asyncio.TaskGroup() as stories:
            stories.create_task(withdrawn_mid_form_closes_the_case(stack, clock, plain))
            stories.create_task(
                withdrawn_after_submission_tells_the_school(stack, school_bin, group.id, hook)
            )
