"""Registration numbers: one sequence per school and year, five digits, never reused."""

from __future__ import annotations

import pytest

from bot.domain.numbers import next_registration_number, registration_prefix


@pytest.mark.parametrize(
    ("year", "last", "expected"),
    [
        (2026, None, "2026/00001"),
        (2026, "2026/00001", "2026/00002"),
        (2026, "2026/00099", "2026/00100"),
        (2027, None, "2027/00001"),
        (2026, "2026/99999", "2026/100000"),
    ],
)
def test_next_registration_number_counts_on_from_the_last(
    year: int, last: str | None, expected: str
) -> None:
    assert next_registration_number(year, last) == expected


def test_registration_prefix_starts_every_number_of_the_year() -> None:
    assert next_registration_number(2026, None).startswith(registration_prefix(2026))
    assert not next_registration_number(2027, None).startswith(registration_prefix(2026))
