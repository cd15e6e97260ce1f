"""Quiet hours: unsolicited messages wait for 09:00 Almaty."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.timing import next_daytime

ALMATY = ZoneInfo("Asia/Almaty")


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 25, 9, 0), datetime(2026, 11, 25, 9, 0)),
        (datetime(2026, 11, 25, 20, 59), datetime(2026, 11, 25, 20, 59)),
        (datetime(2026, 11, 25, 21, 0), datetime(2026, 11, 26, 9, 0)),
        (datetime(2026, 11, 25, 23, 30), datetime(2026, 11, 26, 9, 0)),
        (datetime(2026, 11, 26, 0, 10), datetime(2026, 11, 26, 9, 0)),
        (datetime(2026, 11, 26, 8, 59), datetime(2026, 11, 26, 9, 0)),
        (datetime(2026, 12, 31, 22, 0), datetime(2027, 1, 1, 9, 0)),
    ],
)
def test_next_daytime_moves_night_to_the_next_morning(moment: datetime, expected: datetime) -> None:
    assert next_daytime(moment.replace(tzinfo=ALMATY)) == expected.replace(tzinfo=ALMATY)


def test_next_daytime_refuses_a_naive_moment() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_daytime(datetime(2026, 11, 25, 22, 0))
