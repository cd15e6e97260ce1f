"""Builders for valid test data with keyword overrides."""

from __future__ import annotations

import itertools
import json
from datetime import date
from typing import Any

from bot.domain.identifiers import check_digit
from bot.signing import signed_headers

_serial = itertools.count(1)


def make_iin(
    birth: date = date(2015, 3, 14), *, female: bool = False, serial: int | None = None
) -> str:
    """A valid IIN for `birth`; serials that admit no check digit are skipped."""
    century = {18: 1, 19: 3, 20: 5}[birth.year // 100] + (1 if female else 0)
    while True:
        number = serial if serial is not None else next(_serial)
        first = f"{birth:%y%m%d}{century}{number % 10000:04d}"
        digit = check_digit(first)
        if digit is not None:
            return first + str(digit)
        serial = None


def make_bin(serial: int | None = None) -> str:
    """A valid BIN (same check-digit rule as the IIN)."""
    while True:
        number = serial if serial is not None else next(_serial)
        first = f"0405400{number % 10000:04d}"
        digit = check_digit(first)
        if digit is not None:
            return first + str(digit)
        serial = None


def make_phone(n: int | None = None) -> str:
    return f"+7701{(n if n is not None else next(_serial)) % 10_000_000:07d}"


def signal_payload(**overrides: Any) -> dict[str, Any]:
    """A complete, valid VKK signal; nested sections can be replaced or extended."""
    n = next(_serial)
    child_birth = date(2015, 3, 14)
    payload: dict[str, Any] = {
        "signal_id": f"KZ-VKK-2026-{n:06d}",
        "issued_at": "2026-11-24T10:15:00+05:00",
        "conclusion": {
            "number": f"{1000 + n}",
            "date": "2026-11-24",
            "valid_until": "2027-05-31",
            "recommendation": "home_schooling",
            "organization": "Городская детская поликлиника №2",
            "summary": "Рекомендовано индивидуальное обучение на дому",
        },
        "child": {
            "iin": make_iin(child_birth),
            "full_name": "Сейтқали Әлихан Нұрланұлы",
            "birth_date": child_birth.isoformat(),
        },
        "guardian": {
            "iin": make_iin(date(1988, 6, 1), female=True),
            "full_name": "Сейтқали Айгүл Маратқызы",
            "phone": make_phone(n),
        },
        "school": {"bin": make_bin(), "grade": 4},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(payload.get(key), dict):
            payload[key] = {**payload[key], **value}
        else:
            payload[key] = value
    return payload


SIGNAL_PATH = "/api/v1/signals/vkk"


def signed(
    payload: Any, secret: bytes, now: float, *, method: str = "POST", path: str = SIGNAL_PATH
) -> tuple[bytes, dict[str, str]]:
    """Serialise `payload` and sign it for `method path` like the health system does."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        **signed_headers(secret, method, path, body, now),
    }
    return body, headers
