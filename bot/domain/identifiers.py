"""Kazakh identifiers: IIN/BIN check digit and mobile numbers.

Rules from GLOSSARY.md; kept pure so the intake, the school import and the property
tests share one implementation.
"""

from __future__ import annotations

import re
from datetime import date

_FIRST_WEIGHTS = tuple(range(1, 12))
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
# Operator codes of Kazakh mobile networks (Beeline, Kcell/Activ, Tele2/Altel).
_KZ_MOBILE = re.compile(r"^7(70[0-8]|747|75[01]|76[0-4]|77[15678])[0-9]{7}$")


def check_digit(first_eleven: str) -> int | None:
    """Return the control digit for 11 digits, or None when no digit is possible."""
    digits = [int(ch) for ch in first_eleven]
    for weights in (_FIRST_WEIGHTS, _SECOND_WEIGHTS):
        total = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if total != 10:
            return total
    return None


def has_valid_check_digit(number: str) -> bool:
    """True for 12 ASCII digits whose last digit is the check digit of the first 11."""
    if len(number) != 12 or not number.isascii() or not number.isdigit():
        return False
    return check_digit(number[:11]) == int(number[11])


def iin_birth_date(iin: str) -> date | None:
    """Birth date encoded in an IIN (century from the 7th digit), or None if impossible."""
    century_digit = int(iin[6])
    if century_digit not in range(1, 7):
        return None
    century = 1800 + 100 * ((century_digit - 1) // 2)
    try:
        return date(century + int(iin[0:2]), int(iin[2:4]), int(iin[4:6]))
    except ValueError:
        return None


def iin_problem(iin: str) -> str | None:
    """Explain why `iin` is not a valid IIN, or return None when it is."""
    if len(iin) != 12 or not iin.isascii() or not iin.isdigit():
        return "IIN must be exactly 12 digits"
    if not has_valid_check_digit(iin):
        return "IIN check digit does not match"
    if iin_birth_date(iin) is None:
        return "IIN does not encode a valid birth date and century"
    return None


def bin_problem(bin_: str) -> str | None:
    """Explain why `bin_` is not a valid BIN, or return None when it is."""
    if len(bin_) != 12 or not bin_.isascii() or not bin_.isdigit():
        return "BIN must be exactly 12 digits"
    if not has_valid_check_digit(bin_):
        return "BIN check digit does not match"
    return None


def normalize_kz_mobile(raw: str) -> str | None:
    """Return a Kazakh mobile number in E.164 (e.g. +77011234567), or None if it is not one.

    Accepts the spellings people and systems actually use: +7 701 123 45 67,
    8 (701) 123-45-67, 77011234567, 7011234567.
    """
    digits = re.sub(r"[\s()\-.]", "", raw)
    if digits.startswith("+"):
        digits = digits[1:]
        if not digits.startswith("7"):
            return None
    if not digits.isascii() or not digits.isdigit():
        return None
    if len(digits) == 11 and digits[0] in "78":
        digits = "7" + digits[1:]
    elif len(digits) == 10:
        digits = "7" + digits
    else:
        return None
    return "+" + digits if _KZ_MOBILE.match(digits) else None
