"""Registration numbers: `YYYY/NNNNN`, counted per school and calendar year.

The school's receipt shows the number; the order asks for one per accepted application,
so the rule lives here and storage only finds the highest number given so far.
"""

from __future__ import annotations


def registration_prefix(year: int) -> str:
    """What every registration number of `year` starts with (what storage searches by)."""
    return f"{year}/"


def next_registration_number(year: int, last: str | None) -> str:
    """The number after `last`, the school's highest of `year` (None: the year's first)."""
    prefix = registration_prefix(year)
    sequence = int(last.removeprefix(prefix)) + 1 if last else 1
    return f"{prefix}{sequence:05d}"
