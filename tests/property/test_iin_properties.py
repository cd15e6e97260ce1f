"""Property tests for Kazakh identifiers: the IIN rule and mobile number spellings."""

from __future__ import annotations

import calendar
from datetime import date

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bot.domain.identifiers import check_digit, iin_birth_date, iin_problem, normalize_kz_mobile

# Pure CPU, but a busy CI machine must not turn a slow example into a failure.
no_deadline = settings(deadline=None)


def reference_iin_is_valid(iin: str) -> bool:
    """GLOSSARY's IIN rule, written again from the text without the production helpers."""
    if len(iin) != 12 or any(ch not in "0123456789" for ch in iin):
        return False
    digits = [ord(ch) - ord("0") for ch in iin]
    total = sum(digits[i] * (i + 1) for i in range(11)) % 11
    if total == 10:
        second = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]
        total = sum(digits[i] * second[i] for i in range(11)) % 11
        if total == 10:
            return False
    if total != digits[11]:
        return False
    century_sex = digits[6]
    if not 1 <= century_sex <= 6:
        return False
    year = {1: 1800, 2: 1800, 3: 1900, 4: 1900, 5: 2000, 6: 2000}[century_sex] + int(iin[0:2])
    month, day = int(iin[2:4]), int(iin[4:6])
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


@st.composite
def valid_iins(draw: st.DrawFn) -> str:
    """A birth date in 1900-2099, a sex, a serial; serials with no check digit are skipped."""
    birth = draw(st.dates(date(1900, 1, 1), date(2099, 12, 31)))
    female = draw(st.booleans())
    serial = draw(st.integers(0, 9999))
    century = 3 if birth.year < 2000 else 5
    first = f"{birth:%y%m%d}{century + int(female)}{serial:04d}"
    digit = check_digit(first)
    assume(digit is not None)
    return first + str(digit)


def corruptions(iin: str) -> list[str]:
    """Every number that differs from `iin` in exactly one digit."""
    return [
        iin[:i] + other + iin[i + 1 :]
        for i in range(len(iin))
        for other in "0123456789"
        if other != iin[i]
    ]


@no_deadline
@given(valid_iins())
@example("150314601232")
@example("120901545672")
@example("180520500609")
def test_iin_generated_from_rule_is_accepted(iin: str) -> None:
    assert iin_problem(iin) is None
    assert reference_iin_is_valid(iin) is True


@no_deadline
@given(valid_iins())
def test_iin_encodes_the_birth_date_it_was_built_from(iin: str) -> None:
    century = 1900 if iin[6] in "34" else 2000
    expected = date(century + int(iin[:2]), int(iin[2:4]), int(iin[4:6]))

    assert iin_birth_date(iin) == expected


@no_deadline
@given(valid_iins())
@example("150314601232")
def test_iin_single_digit_corruption_rejected_or_genuinely_valid(iin: str) -> None:
    for corrupted in corruptions(iin):
        accepted = iin_problem(corrupted) is None
        assert accepted == reference_iin_is_valid(corrupted), corrupted


def test_iin_single_digit_corruption_of_known_example_mostly_rejected() -> None:
    # The weight of the 11th digit is 11 = 0 (mod 11), so changing it keeps the sum:
    # those 9 numbers are other valid IINs. 150314601532 is valid by the second weights
    # (first sum 186 = 10 mod 11; second sum 156 = 2 mod 11). Every other one is refused.
    accepted = [c for c in corruptions("150314601232") if iin_problem(c) is None]

    assert sorted(accepted) == sorted(["150314601532", *(f"1503146012{d}2" for d in "012456789")])


def test_iin_documented_invalid_example_rejected() -> None:
    assert iin_problem("150314601230") == "IIN check digit does not match"
    assert reference_iin_is_valid("150314601230") is False


# --- mobile numbers -----------------------------------------------------------------------

KZ_OPERATOR_CODES = [
    *(f"70{d}" for d in range(9)),
    "747",
    "750",
    "751",
    *(f"76{d}" for d in range(5)),
    "771",
    "775",
    "776",
    "777",
    "778",
]
subscriber_numbers = st.integers(0, 9_999_999).map(lambda n: f"{n:07d}")


@no_deadline
@given(st.sampled_from(KZ_OPERATOR_CODES), subscriber_numbers)
def test_phone_normalised_number_is_a_fixed_point(code: str, number: str) -> None:
    e164 = f"+7{code}{number}"

    assert normalize_kz_mobile(e164) == e164
    assert normalize_kz_mobile(normalize_kz_mobile(e164) or "") == e164


@no_deadline
@given(st.sampled_from(KZ_OPERATOR_CODES), subscriber_numbers)
def test_phone_common_spellings_agree(code: str, number: str) -> None:
    spellings = [
        f"+7 {code} {number[:3]} {number[3:5]} {number[5:]}",
        f"8({code}){number}",
        f"8{code}{number}",
        f"8 ({code}) {number[:3]}-{number[3:5]}-{number[5:]}",
        f"7{code}{number}",
        f"{code}{number}",
    ]

    assert {normalize_kz_mobile(s) for s in spellings} == {f"+7{code}{number}"}


def test_phone_examples_from_brief_agree() -> None:
    spellings = ["+7 701 123 45 67", "8(701)1234567", "87011234567"]

    assert [normalize_kz_mobile(s) for s in spellings] == ["+77011234567"] * 3


@no_deadline
@given(st.text(max_size=20))
def test_phone_any_text_normalises_to_none_or_kz_e164(raw: str) -> None:
    result = normalize_kz_mobile(raw)

    if result is not None:
        assert result.startswith("+77") and len(result) == 12 and result[1:].isdigit()
        assert result[2:5] in KZ_OPERATOR_CODES
        assert normalize_kz_mobile(result) == result


@no_deadline
@given(st.sampled_from(["495", "812", "727", "717", "709", "779"]), subscriber_numbers)
def test_phone_landline_or_russian_number_rejected(code: str, number: str) -> None:
    # Moscow, St Petersburg, Almaty, Astana and unassigned codes share +7 with KZ mobiles.
    assert normalize_kz_mobile(f"+7{code}{number}") is None
    assert normalize_kz_mobile(f"8{code}{number}") is None
