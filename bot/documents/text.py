"""Clean user-supplied strings and format dates for the PDF documents."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container, Iterable
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Lang = Literal["kk", "ru"]

REPLACEMENT = "\ufffd"
"""Shown instead of characters the embedded font cannot draw (emoji and the like)."""

NO_BREAK_SPACE = "\u00a0"
"""Kept as is, so that templates can glue "№" to its number."""

BLANK = "_" * 24
"""Printed where a required value is empty, like the blank line of a paper form."""

# Control (Cc), format (Cf: zero-width joiners, bidi overrides, soft hyphens) and lone
# surrogate (Cs) code points are dropped: they are invisible at best and spoof text at worst.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_SPACES = re.compile(r"[ ]{2,}")
_BLANK_LINES = re.compile(r"\n{3,}")


def _is_variation_selector(code_point: int) -> bool:
    return 0xFE00 <= code_point <= 0xFE0F or 0xE0100 <= code_point <= 0xE01EF


def _clean_chars(text: str, supported: Container[int], multiline: bool) -> Iterable[str]:
    previous = ""
    for char in text:
        code_point = ord(char)
        if char == "\n":
            out = "\n" if multiline else " "
        elif char == NO_BREAK_SPACE and code_point in supported:
            out = char
        elif char.isspace():
            out = " "
        elif unicodedata.category(char) in _DROPPED_CATEGORIES or _is_variation_selector(
            code_point
        ):
            continue
        elif code_point in supported:
            out = char
        elif previous == REPLACEMENT:
            continue  # one marker per run: a multi-code-point emoji becomes one glyph
        else:
            out = REPLACEMENT
        previous = out
        yield out


def clean_text(value: str, supported: Container[int], *, multiline: bool = False) -> str:
    """Return `value` safe to draw with a font whose code points are `supported`.

    The text is NFC-normalised (so a decomposed letter meets the font's precomposed glyph),
    control and invisible format characters are removed, glyphs the font lacks become one
    REPLACEMENT per run, and whitespace is collapsed. With `multiline`, line breaks are kept
    (at most one empty line in a row); otherwise they become spaces.
    """
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    cleaned = "".join(_clean_chars(text, supported, multiline))
    lines = [_SPACES.sub(" ", line).strip() for line in cleaned.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def or_blank(value: str) -> str:
    """Return `value`, or a blank form line when it is empty."""
    return value if value.strip() else BLANK


def join_present(parts: Iterable[str], separator: str = ", ") -> str:
    """Join the non-empty parts, skipping one that repeats the part before it."""
    kept: list[str] = []
    for part in (p.strip() for p in parts):
        if part and (not kept or kept[-1].casefold() != part.casefold()):
            kept.append(part)
    return separator.join(kept)


def format_date(value: date) -> str:
    """Format a date as dd.mm.yyyy."""
    return value.strftime("%d.%m.%Y")


def _require_aware(value: datetime) -> timedelta:
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("documents need timezone-aware datetimes")
    return offset


def zone_label(value: datetime) -> str:
    """Name the zone of an aware datetime: its IANA key, else its UTC offset."""
    offset = _require_aware(value)
    if isinstance(value.tzinfo, ZoneInfo):
        return value.tzinfo.key
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def format_datetime(value: datetime) -> str:
    """Format an aware datetime as 'dd.mm.yyyy HH:MM (zone)' in its own zone."""
    return f"{format_date(value)} {value.strftime('%H:%M')} ({zone_label(value)})"
