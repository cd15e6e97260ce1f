"""The package reaches the school's staff chats (imported, or linked with an invite code);
without any inbox, the local authority hears of it instead."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.domain.status import CaseStatus
from bot.emulator import SentMessage
from bot.grammar import Case, kk_case
from bot.usecases.case_views import case_number
from bot.usecases.schools import create_school_invite
from bot.usecases.stats import collect_stats
from storage.models import ConsentRecord, StaffChat
from tests.e2e.harness import (
    Stack,
    SubmittedCase,
    audit_events,
    consent_records,
    documents,
    load_case,
    outbox_rows,
    pdf_words,
    running_stack,
    shown,
    submit_case,
    wait_for_status,
)

pytestmark = pytest.mark.slow

CHILD = "Сейтқали Әлихан Нұрланұлы"
ACCEPT_KK, REFUSE_KK = "✅ Қабылдау", "❌ Бас тарту"


def local(moment: datetime | None, stack: Stack) -> str:
    assert moment is not None
    return moment.astimezone(stack.app.svc.settings.zone).strftime("%d.%m.%Y %H:%M")


async def agreed_consent(stack: Stack, case_id: str) -> ConsentRecord:
    [consent] = [r for r in await consent_records(stack, case_id) if r.choice == "agree"]
    return consent


async def wait_for_package(stack: Stack, chat_id: int) -> tuple[SentMessage, SentMessage]:
    """The summary message, then the application PDF with the decision buttons."""
    summary = await stack.next_message(chat_id, "Жаңа өтініш")
    pdf = await stack.emu.wait_for_message(chat_id, lambda m: m.document is not None)
    return summary, pdf


async def link_chat_with_invite(stack: Stack, school_bin: str, chat_id: int) -> int:
    """`schools invite BIN`, then `/link CODE` in the group (a wrong code and a reused
    one are refused); returns the id of the teacher who linked it."""
    invite = await create_school_invite(stack.app.svc, school_bin)
    group = stack.emu.group(chat_id=chat_id, title="Мұғалімдер")
    teacher = group.member(800_000_101, "Гүлнар", language_code="kk")
    await teacher.send_command("/link", "ZZZZ-ZZZZ-ZZZZ")
    await stack.next_message(group.id, "Код табылмады")
    await teacher.send_command("/link", invite.code)
    await stack.next_message(group.id, "мектептің арнасы ретінде қосылды")
    await teacher.send_command("/link", invite.code)
    await stack.next_message(group.id, "Бұл код бұрын пайдаланылған")
    return teacher.id


async def check_full_package(stack: Stack, case: SubmittedCase, chat_id: int) -> None:
    """Summary (child, IIN, conclusion, consent record, deadline), then the guardian's
    own application PDF with Accept/Refuse; the case is `forwarded` once delivered."""
    summary, pdf = await wait_for_package(stack, chat_id)
    stored = await wait_for_status(stack, case.case_id, "forwarded")
    consent = await agreed_consent(stack, case.case_id)
    expected_parts = [
        case_number(case.case_id),
        CHILD,
        case.signal["child"]["iin"],
        case.signal["conclusion"]["number"],
        "Қаскелең",
        f"келісім берілді: {local(consent.created_at, stack)}",
        f"Жауап беру мерзімі: {kk_case(local(stored.deadline_at, stack), Case.DATIVE)} дейін",
        f"Тіркелген уақыты: {local(stored.registered_at, stack)}",
        shown(stack, "kk", "conclusion.valid_until", valid_until="31.05.2027"),
    ]
    assert [part for part in expected_parts if part not in (summary.text or "")] == []
    # The consent record is its time; version and hash are for systems, not for people.
    assert consent.text_version not in (summary.text or "")
    assert consent.text_sha256[:16] not in (summary.text or "")
    assert "SHA" not in (summary.text or "")
    assert summary.message_id < pdf.message_id
    assert pdf.buttons() == [ACCEPT_KK, REFUSE_KK]
    assert case_number(case.case_id) in (pdf.caption or "")
    assert pdf.document is not None and pdf.document == case.copy.document
    assert CHILD in pdf_words(pdf.document)
    [application] = [d for d in await documents(stack, case.case_id) if d.kind == "application"]
    assert hashlib.sha256(pdf.document).hexdigest() == application.sha256
    assert stored.forwarded_at is not None and stored.submitted_at is not None
    assert stored.forwarded_at >= stored.submitted_at
    delivered = [e for e in await audit_events(stack, case.case_id) if e.to_status == "forwarded"]
    assert [(e.event, e.details) for e in delivered] == [
        ("delivered_to_school", {"channel": "telegram"})
    ]
    sent_to = {m.chat_id for m in stack.emu.state.sent if m.document == pdf.document}
    assert sent_to == {case.guardian.chat_id, chat_id}


async def check_no_inbox(stack: Stack, case: SubmittedCase, authority_chat: int | None) -> None:
    """Nobody at the school can answer: the authority's chat is told, if there is one;
    the case waits as `submitted` with a `no_school_inbox` audit event."""
    if authority_chat is not None:
        alert = await stack.next_message(authority_chat, "арнасы қосылмаған")
        assert case_number(case.case_id) in (alert.text or "")
        assert f"БСН {case.signal['school']['bin']}" in (alert.text or "")
        assert "homeschool-bot" not in (alert.text or "")
    rows = await outbox_rows(stack, case.case_id, "escalation")
    assert [r.recipient for r in rows] == ([str(authority_chat)] if authority_chat else [])
    stored = await load_case(stack, case.case_id)
    assert (stored.status, stored.forwarded_at) == ("submitted", None)
    events = [(e.event, e.actor) for e in await audit_events(stack, case.case_id)]
    assert ("no_school_inbox", "system") in events


async def test_package_reaches_staff_chats_and_a_school_without_inbox_is_escalated(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        imported = stack.emu.group(chat_id=-1001000000101, title="№ 12 мектеп, қабылдау")
        imported_bin = await stack.add_school(telegram_chat_id=imported.id)
        invited_bin = await stack.add_school()
        invited_chat = -1001000000102
        teacher_id = await link_chat_with_invite(stack, invited_bin, invited_chat)
        async with stack.app.svc.sessions() as session:
            chats = (await session.scalars(select(StaffChat).order_by(StaffChat.id))).all()
        assert [(c.chat_id, c.linked_by_user_id) for c in chats] == [
            (imported.id, None),
            (invited_chat, teacher_id),
        ]
        authority = stack.emu.group(chat_id=-1001000000201, title="Білім бөлімі")
        escalated_bin = await stack.add_school(escalation_chat_id=authority.id)
        silent_bin = await stack.add_school()

        via_import, via_invite, escalated, silent = await asyncio.gather(
            submit_case(stack, imported_bin),
            submit_case(stack, invited_bin, first_name="Динара"),
            submit_case(stack, escalated_bin, first_name="Сәуле"),
            submit_case(stack, silent_bin, first_name="Жанар"),
        )

        await check_full_package(stack, via_import, imported.id)
        await check_full_package(stack, via_invite, invited_chat)
        await check_no_inbox(stack, escalated, authority.id)
        await check_no_inbox(stack, silent, None)
        stats = await collect_stats(stack.app.svc)
        assert stats.open_without_inbox == 2
        assert stats.by_status[CaseStatus.SUBMITTED] == 2
        assert stats.by_status[CaseStatus.FORWARDED] == 2
