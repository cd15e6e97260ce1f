"""The health-system signal of DESIGN 4.3: schema, field rules and content digest."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from bot.domain.identifiers import bin_problem, iin_birth_date, iin_problem, normalize_kz_mobile

# The conclusion's dates are Kazakh calendar days (UTC+5 nationwide since 2024-03-01).
KZ_ZONE = ZoneInfo("Asia/Almaty")
# Plausibility (DESIGN 4.3): nothing of this service predates 1990, a sender's clock may
# run a little ahead, and the service is for school children.
EARLIEST = date(1990, 1, 1)
CLOCK_SKEW = timedelta(minutes=10)
CHILD_AGE_YEARS = (5, 20)
GRADES = (1, 11)
NOW_KEY = "now"


def received_at(info: ValidationInfo) -> datetime | None:
    """The receiving clock's time, passed as validation context `{"now": ...}`.

    Rules relative to "now" need it; the HTTP route always passes it. Code that builds
    a signal from data it made itself (tests, benchmarks) may leave it out.
    """
    context = info.context
    now = context.get(NOW_KEY) if isinstance(context, dict) else None
    return now if isinstance(now, datetime) else None


def _latest_day(info: ValidationInfo) -> date | None:
    """The last Kazakh calendar day a date may name: today, within the clock skew."""
    now = received_at(info)
    return (now + CLOCK_SKEW).astimezone(KZ_ZONE).date() if now is not None else None


def _plausible_day(value: date, info: ValidationInfo) -> date:
    latest = _latest_day(info)
    if value < EARLIEST:
        raise ValueError(f"is before {EARLIEST.year}")
    if latest is not None and value > latest:
        raise ValueError("is in the future")
    return value


def _full_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _readable_name(value: str) -> str:
    """Drop invisible characters (zero-width spaces, direction marks); letters must remain."""
    visible = "".join(c for c in value if unicodedata.category(c) != "Cf").strip()
    if not any(c.isalpha() for c in visible):
        raise ValueError("must contain letters")
    if len(visible) < 2:
        raise ValueError("is too short")
    return visible


def _json_integer(value: object) -> object:
    """Only a JSON number is a number: `"4"` and `true` are not, `4.0` is (JSON Schema)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer as JSON (and JSON Schema) reads it; a fraction fails the `int` validation.
# Put it after any `Field` constraints, or they drop out of the JSON schema.
JSON_INTEGER = BeforeValidator(_json_integer)


def _valid_iin(value: str) -> str:
    problem = iin_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _valid_bin(value: str) -> str:
    problem = bin_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _kz_mobile(value: str) -> str:
    normalized = normalize_kz_mobile(value)
    if normalized is None:
        raise ValueError("phone must be a Kazakh mobile number, e.g. +77011234567")
    return normalized


# The schema states the shape; the check digit and the encoded birth date are checked here.
_TWELVE_DIGITS = WithJsonSchema({"type": "string", "pattern": "^[0-9]{12}$"})
# Every spelling `normalize_kz_mobile` reads: separators, an optional +, 10 or 11 digits.
_PHONE_SHAPE = r"^[\s().\-]*\+?([\s().\-]*[0-9]){10,11}[\s().\-]*$"
Iin = Annotated[str, AfterValidator(_valid_iin), _TWELVE_DIGITS]
Bin = Annotated[str, AfterValidator(_valid_bin), _TWELVE_DIGITS]
Phone = Annotated[
    str, AfterValidator(_kz_mobile), WithJsonSchema({"type": "string", "pattern": _PHONE_SHAPE})
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=200),
    AfterValidator(_readable_name),
]
PlausibleDay = Annotated[dt.date, AfterValidator(_plausible_day)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Conclusion(_Strict):
    number: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    date: PlausibleDay  # the field shadows `date` inside the class: name the type in full
    valid_until: dt.date | None = None
    recommendation: Literal["home_schooling"]
    organization: ShortText
    summary: Annotated[str, StringConstraints(max_length=4000)] = ""

    @field_validator("valid_until")
    @classmethod
    def _validity_after_issue(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        issued = info.data.get("date")
        if value is not None and issued is not None and value < issued:
            raise ValueError("valid_until is before the conclusion date")
        now = received_at(info)
        if value is not None and now is not None and value < now.astimezone(KZ_ZONE).date():
            raise ValueError("the conclusion has expired: it cannot start a case")
        return value


class Child(_Strict):
    iin: Iin
    full_name: Name
    birth_date: PlausibleDay

    @field_validator("birth_date")
    @classmethod
    def _birth_date_matches_iin(cls, value: date, info: ValidationInfo) -> date:
        iin = info.data.get("iin")
        if iin is not None and iin_birth_date(iin) != value:
            raise ValueError("birth_date does not match the date encoded in the IIN")
        now = received_at(info)
        youngest, oldest = CHILD_AGE_YEARS
        if (
            now is not None
            and not youngest <= _full_years(value, now.astimezone(KZ_ZONE).date()) <= oldest
        ):
            raise ValueError(f"the child must be {youngest} to {oldest} years old")
        return value


class Guardian(_Strict):
    iin: Iin | None = None
    full_name: Name
    phone: Phone


class SchoolRef(_Strict):
    bin: Bin
    grade: Annotated[int, Field(ge=GRADES[0], le=GRADES[1]), JSON_INTEGER] | None = None


class VkkSignal(_Strict):
    signal_id: Annotated[
        str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    ]
    issued_at: AwareDatetime
    conclusion: Conclusion
    child: Child
    guardian: Guardian
    school: SchoolRef | None = None

    @field_validator("issued_at")
    @classmethod
    def _plausible(cls, value: datetime, info: ValidationInfo) -> datetime:
        try:
            # Also proves the instant has a Kazakh calendar day: 9999-12-31T23:59-12:00 has none.
            value.astimezone(KZ_ZONE)
        except OverflowError:
            raise ValueError("is out of range") from None
        if value.astimezone(UTC).date() < EARLIEST:
            raise ValueError(f"is before {EARLIEST.year}")
        now = received_at(info)
        if now is not None and value > now + CLOCK_SKEW:
            raise ValueError("is in the future")
        # One spelling per instant, so "+05:00" and "Z" re-sends have one content digest.
        return value.astimezone(UTC)

    @field_validator("child")
    @classmethod
    def _born_before_conclusion(cls, value: Child, info: ValidationInfo) -> Child:
        conclusion = info.data.get("conclusion")
        if conclusion is not None and value.birth_date > conclusion.date:
            raise ValueError("child.birth_date is after the conclusion date")
        return value

    @field_validator("conclusion")
    @classmethod
    def _issued_after_conclusion(cls, value: Conclusion, info: ValidationInfo) -> Conclusion:
        issued_at = info.data.get("issued_at")
        # Compare calendar days in Kazakhstan, whatever offset the sender wrote.
        if issued_at is not None and value.date > issued_at.astimezone(KZ_ZONE).date():
            raise ValueError("conclusion.date is after issued_at")
        return value

    @field_validator("guardian")
    @classmethod
    def _guardian_is_not_child(cls, value: Guardian, info: ValidationInfo) -> Guardian:
        child = info.data.get("child")
        if value.iin is not None and child is not None and value.iin == child.iin:
            raise ValueError("guardian.iin equals child.iin")
        return value


class FieldError(BaseModel):
    field: str
    message: str


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Turn pydantic's report into the `{"field", "message"}` list of the contract."""
    errors = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(part) for part in err["loc"]) or "body"
        message = err["msg"].removeprefix("Value error, ")
        errors.append(FieldError(field=path, message=message))
    return errors


def content_digest(payload: Any) -> str:
    """SHA-256 of the canonical JSON of a signal: equal content gives an equal digest.

    Computed on the validated, normalised model, so a re-sent signal that only differs
    in key order, whitespace or phone spelling counts as the same signal (200), not as
    a conflict (409).
    """
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
