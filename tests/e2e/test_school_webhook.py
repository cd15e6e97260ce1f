"""The package to a school's own system: a signed POST to its webhook (DESIGN 4.5)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest

from bot.emulator import TelegramEmulator
from storage.models import OutboxMessage
from tests.e2e.harness import (
    TOKEN,
    LoopbackReceiver,
    MovableClock,
    Stack,
    audit_events,
    consent_records,
    eventually,
    load_case,
    outbox_rows,
    pdf_words,
    running_stack_on,
    school_signature_check,
    stored_consent_text,
    submit_case,
    wait_for_status,
)

pytestmark = pytest.mark.slow

SECRET = "webhook-secret-of-school-40"


async def package_row(stack: Stack, case_id: str) -> OutboxMessage:
    [row] = await outbox_rows(stack, case_id, "school_package")
    return row


async def refusal_recorded(stack: Stack, case_id: str) -> OutboxMessage | None:
    row = await package_row(stack, case_id)
    return row if "HTTP 503" in (row.last_error or "") else None


async def test_webhook_gets_a_signed_complete_package_once_after_it_comes_back(
    tmp_path: Path,
) -> None:
    clock = MovableClock()
    async with (
        TelegramEmulator(token=TOKEN) as emu,
        running_stack_on(emu, tmp_path, clock=clock) as stack,
        LoopbackReceiver(fail_first=2, fail_status=503) as hook,
    ):
        hook.check = school_signature_check(SECRET, clock)
        school_bin = await stack.add_school(webhook_url=hook.url, webhook_secret=SECRET)
        case = await submit_case(stack, school_bin)

        row = await eventually(
            partial(refusal_recorded, stack, case.case_id), what="the school's 503 recorded"
        )
        assert row.attempts == 0  # the school's server is down, not the package wrong
        assert (await load_case(stack, case.case_id)).status == "submitted"

        [delivered] = await hook.wait_delivered(timeout=15)  # probes after 1 s, then 2 s
        stored = await wait_for_status(stack, case.case_id, "forwarded")

        async def sent() -> OutboxMessage | None:
            row = await package_row(stack, case.case_id)
            return row if row.status == "sent" else None

        assert (await eventually(sent, what="package row sent")).attempts == 0
        await asyncio.sleep(1.5)  # a dispatcher sweep (every second) passes: no repeat
        assert [r.status for r in hook.requests] == [503, 503, 200]
        assert delivered.problem is None
        assert {r.headers["Idempotency-Key"] for r in hook.requests} == {
            f"package:{case.case_id}:webhook"
        }
        assert len({r.body for r in hook.requests}) == 1
        assert stored.forwarded_at is not None
        forwarded = [
            e for e in await audit_events(stack, case.case_id) if e.to_status == "forwarded"
        ]
        assert [(e.event, e.details) for e in forwarded] == [
            ("delivered_to_school", {"channel": "webhook"})
        ]

        body = delivered.json()
        assert (body["case_id"], body["school_bin"]) == (case.case_id, school_bin)
        assert datetime.fromisoformat(body["deadline_at"]) == stored.deadline_at
        assert datetime.fromisoformat(body["registered_at"]) == stored.registered_at
        application = body["application"]
        assert application["child_full_name"] == "Сейтқали Әлихан Нұрланұлы"
        assert application["child_iin"] == case.signal["child"]["iin"]
        assert application["guardian_full_name"] == case.signal["guardian"]["full_name"]
        assert (application["grade"], application["language"]) == (4, "kk")
        assert "Қаскелең" in application["address"]
        conclusion = case.signal["conclusion"]
        fields = ("number", "date", "valid_until", "organization")
        assert {k: body["conclusion"][k] for k in fields} == {k: conclusion[k] for k in fields}
        assert body["conclusion"]["valid_until"] == "2027-05-31"
        [consent] = [r for r in await consent_records(stack, case.case_id) if r.choice == "agree"]
        assert body["consent"] == {
            "text_version": consent.text_version,
            "text_sha256": consent.text_sha256,
            "text": (await stored_consent_text(stack, consent.text_sha256)).text,
            "given_at": consent.created_at.isoformat(),
            "telegram_user_id": case.guardian.id,
        }
        pdf = base64.b64decode(body["application_pdf"]["content_base64"])
        assert hashlib.sha256(pdf).hexdigest() == body["application_pdf"]["sha256"]
        assert pdf == case.copy.document
        assert "Сейтқали Әлихан Нұрланұлы" in pdf_words(pdf)
        assert body["event"] == "package"
        assert body["decision_url"] == f"/api/v1/cases/{case.case_id}/decision"
