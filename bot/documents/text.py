"""Clean user-supplied strings and format dates for the PDF documents."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

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


@functools.lru_cache(maxsize=4)
def _plain_chars(supported: frozenset[int]) -> frozenset[str]:
    """The characters `_clean_chars` keeps as they are, and the line break."""
    kept = (chr(code) for code in supported)
    return frozenset(
        char
        for char in kept
        if (char == " " or char == NO_BREAK_SPACE or not char.isspace())
        and unicodedata.category(char) not in _DROPPED_CATEGORIES
        and not _is_variation_selector(ord(char))
    ) | {"\n"}


def clean_text(value: str, supported: Container[int], *, multiline: bool = False) -> str:
    """Return `value` safe to draw with a font whose code points are `supported`.

    The text is NFC-normalised (so a decomposed letter meets the font's precomposed glyph),
    control and invisible format characters are removed, glyphs the font lacks become one
    REPLACEMENT per run, and whitespace is collapsed. With `multiline`, line breaks are kept
    (at most one empty line in a row); otherwise they become spaces.
    """
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    if isinstance(supported, frozenset) and _plain_chars(supported).issuperset(text):
        cleaned = text if multiline else text.replace("\n", " ")  # nothing to drop or replace
    else:
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


ASTANA_OFFSET = timedelta(hours=5)
"""The whole country keeps UTC+5 since 1 March 2024: Astana time."""

_ASTANA_TIME: dict[Lang, str] = {"kk": "Астана уақыты", "ru": "время Астаны"}


def zone_label(value: datetime, language: Lang) -> str:
    """Name the time of an aware datetime as people say it: Astana time, else its offset."""
    offset = _require_aware(value)
    if offset == ASTANA_OFFSET:
        return _ASTANA_TIME[language]
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def format_datetime(value: datetime, language: Lang) -> str:
    """Format an aware datetime as 'dd.mm.yyyy HH:MM (Astana time)' in its own zone."""
    return f"{format_date(value)} {value.strftime('%H:%M')} ({zone_label(value, language)})"


@dataclass(frozen=True)
class AddressParts:
    """An address in the order of annex 2: locality, district, city, region.

    `locality` also carries what comes before the locality (street, house, flat).
    """

    locality: str
    district: str
    city: str
    region: str


_REGION = re.compile(r"\b(облысы|облыс|область|обл\.?)(?=\s|$)", re.IGNORECASE)
_DISTRICT = re.compile(r"\b(ауданы|аудан|район|р-н|ауд\.)(?=\s|$)", re.IGNORECASE)
_CITY = re.compile(r"(^|\s)(қаласы|қала|город|қ\.|г\.)(?=\s|$)", re.IGNORECASE)


def annex_address(answer: str) -> AddressParts:
    """Split the guardian's one-line address into the annex's parts, when it names them.

    "Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10" becomes the locality
    "Абай к-сі, 10", district "Қарасай ауданы", city "Қаскелең қ.", region "Алматы
    облысы". An address naming no region, district or city is kept as it was written,
    and so is one that names one of them twice.
    """
    kept = AddressParts(answer.strip(), "", "", "")
    found: dict[str, str] = {}
    rest: list[str] = []
    for part in (p.strip() for p in answer.split(",")):
        if not part:
            continue
        kind = next(
            (
                name
                for name, pattern in (("region", _REGION), ("district", _DISTRICT), ("city", _CITY))
                if pattern.search(part)
            ),
            None,
        )
        if kind is None:
            rest.append(part)
        elif kind in found:
            return kept
        else:
            found[kind] = part
    if not found:
        return kept
    return AddressParts(
        ", ".join(rest), found.get("district", ""), found.get("city", ""), found.get("region", "")
    )
