"""The schedule of annex 1 (items 3 and 7) as a guardian meets it, on the frozen clock.

Wednesday 25 November 2026: an application confirmed in the lunch break registers at
14:30 and is due on Friday at 17:30; one confirmed after 17:30 registers on Thursday at
09:00 and is due on Monday at 17:30. Both are read from what the guardian is shown and
from the stored case.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from bot.emulator import TelegramEmulator
from tests.conftest import ALMATY
from tests.e2e.harness import TOKEN, MovableClock, load_case, running_stack_on, submit_case

pytestmark = pytest.mark.slow

LUNCH = datetime(2026, 11, 25, 13, 10, tzinfo=ALMATY)
EVENING = datetime(2026, 11, 25, 17, 45, tzinfo=ALMATY)


async def test_lunch_break_and_after_hours_registration_and_the_1730_deadline(
    tmp_path: Path,
) -> None:
    clock = MovableClock(LUNCH, ALMATY)
    async with (
        TelegramEmulator(token=TOKEN) as emu,
        running_stack_on(emu, tmp_path, clock=clock) as stack,
    ):
        school_bin = await stack.add_school()
        at_lunch = await submit_case(stack, school_bin)
        case = await load_case(stack, at_lunch.case_id)
        assert case.registered_at is not None and case.deadline_at is not None
        assert case.registered_at.astimezone(ALMATY) == datetime(
            2026, 11, 25, 14, 30, tzinfo=ALMATY
        )
        assert case.deadline_at.astimezone(ALMATY) == datetime(2026, 11, 27, 17, 30, tzinfo=ALMATY)
        caption = at_lunch.copy.caption or ""
        assert "25.11.2026 14:30" in caption
        assert "27.11.2026 17:30" in caption

        clock.advance(EVENING - clock.now())
        evening = await submit_case(stack, school_bin, first_name="Мария")
        case = await load_case(stack, evening.case_id)
        assert case.submitted_at is not None and case.registered_at is not None
        assert case.submitted_at.astimezone(ALMATY) >= EVENING
        assert case.registered_at.astimezone(ALMATY) == datetime(2026, 11, 26, 9, tzinfo=ALMATY)
        assert case.deadline_at is not None
        assert case.deadline_at.astimezone(ALMATY) == datetime(2026, 11, 30, 17, 30, tzinfo=ALMATY)
        caption = evening.copy.caption or ""
        assert "26.11.2026 09:00" in caption
        assert "30.11.2026 17:30" in caption
