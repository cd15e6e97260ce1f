"""The school decision API (DESIGN 4.4) against the running app, with keys from `schools key`."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.usecases.schools import issue_school_api_key
from tests.e2e.harness import (
    audit_events,
    load_case,
    outbox_rows,
    pdf_words,
    post_decision,
    running_stack,
    shown,
    submit_case,
    wait_for_status,
)

pytestmark = pytest.mark.slow

ACCEPT = {"decision": "accepted"}
UNKNOWN_CASE = "00000000-0000-4000-8000-000000000000"
REASON = "Заключение ВКК выдано на другого ребёнка (ИИН <не совпадает> & дата рождения)"


async def test_decision_api_decides_own_cases_once_and_tells_the_guardian(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        inbox = stack.emu.group(chat_id=-1001000000501, title="№ 12 мектеп")
        own_bin = await stack.add_school(telegram_chat_id=inbox.id)
        other_bin = await stack.add_school()
        key = (await issue_school_api_key(stack.app.svc, own_bin)).key
        other_key = (await issue_school_api_key(stack.app.svc, other_bin)).key
        taken, turned_down = await asyncio.gather(
            submit_case(stack, own_bin), submit_case(stack, own_bin, first_name="Динара")
        )
        await wait_for_status(stack, taken.case_id, "forwarded")

        assert (await post_decision(stack, taken.case_id, ACCEPT))[0] == 401
        assert (await post_decision(stack, taken.case_id, ACCEPT, key="not-a-school-key"))[0] == 401
        status, answer = await post_decision(stack, taken.case_id, ACCEPT, key=other_key)
        assert (status, answer["error"]) == (404, "case.unknown")
        assert (await post_decision(stack, UNKNOWN_CASE, ACCEPT, key=key))[0] == 404
        bad_bodies: list[dict[str, Any]] = [
            {"decision": "refused", "ground": 4, "reason": REASON},
            {"decision": "refused", "ground": 2},
            {"decision": "refused", "reason": REASON},
            {"decision": "refused", "ground": 2, "reason": "нет"},
            {"decision": "maybe"},
            {"decision": "accepted", "comment": "unknown field"},
        ]
        for body in bad_bodies:
            assert (await post_decision(stack, taken.case_id, body, key=key))[0] == 422, body
        assert (await load_case(stack, taken.case_id)).status == "forwarded"

        status, answer = await post_decision(stack, taken.case_id, ACCEPT, key=key)
        assert (status, answer) == (
            200,
            {
                "case_id": taken.case_id,
                "status": "accepted",
                "registration_number": "2026/00001",
                "ground": None,
                "hearing_until": None,
            },
        )
        receipt = await stack.next_message(taken.guardian.chat_id, "Тіркеу нөмірі: 2026/00001")
        assert receipt.document is not None
        # Accepted by the school's own system: the receipt says so, and names the school.
        assert "білім беру ұйымының ақпараттық жүйесі арқылы: № 12 жалпы орта білім беретін" in (
            pdf_words(receipt.document)
        )
        refusal_body = {"decision": "refused", "ground": 1, "reason": REASON}
        for body in (ACCEPT, refusal_body):
            status, answer = await post_decision(stack, taken.case_id, body, key=key)
            assert (status, answer["error"]) == (409, "staff.already_decided")
        assert (await post_decision(stack, taken.case_id, ACCEPT, key=other_key))[0] == 404

        status, answer = await post_decision(stack, turned_down.case_id, refusal_body, key=key)
        assert (status, answer["status"], answer["ground"]) == (200, "hearing", 1)
        assert answer["registration_number"] is None
        stored = await load_case(stack, turned_down.case_id)
        assert stored.hearing_until is not None
        assert datetime.fromisoformat(answer["hearing_until"]) == stored.hearing_until
        invitation = await stack.next_message(turned_down.guardian.chat_id, "алдын ала шешім")
        assert shown(stack, "kk", "ground.1") in (invitation.text or "")
        assert REASON in (invitation.text or "")
        status, answer = await post_decision(stack, turned_down.case_id, refusal_body, key=key)
        assert (status, answer["error"]) == (409, "hearing_open")
        assert (stored.status, stored.hearing_ground, stored.refusal_ground) == ("hearing", 1, None)
        heard = [e for e in await audit_events(stack, stored.id) if e.to_status == "hearing"]
        assert [e.event for e in heard] == ["preliminary_refusal"]
        assert heard[0].actor.startswith("api:school:")
        for case in (taken, turned_down):
            assert len(await outbox_rows(stack, case.case_id, "result")) == 1

        rotated = (await issue_school_api_key(stack.app.svc, own_bin)).key
        assert (await post_decision(stack, taken.case_id, ACCEPT, key=key))[0] == 401
        assert (await post_decision(stack, taken.case_id, ACCEPT, key=rotated))[0] == 409
