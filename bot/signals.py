"""The health-system signal of DESIGN 4.3: schema, field rules and content digest."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from bot.cases.identifiers import bin_problem, iin_birth_date, iin_problem, normalize_kz_mobile

# The conclusion's dates are Kazakh calendar days (UTC+5 nationwide since 2024-03-01).
KZ_ZONE = ZoneInfo("Asia/Almaty")


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


Iin = Annotated[str, AfterValidator(_valid_iin)]
Bin = Annotated[str, AfterValidator(_valid_bin)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Conclusion(_Strict):
    number: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    date: dt.date  # the field shadows the type inside the class: name the type in full
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
        return value


class Child(_Strict):
    iin: Iin
    full_name: Name
    birth_date: date

    @field_validator("birth_date")
    @classmethod
    def _birth_date_matches_iin(cls, value: date, info: ValidationInfo) -> date:
        iin = info.data.get("iin")
        if iin is not None and iin_birth_date(iin) != value:
            raise ValueError("birth_date does not match the date encoded in the IIN")
        return value


class Guardian(_Strict):
    iin: Iin | None = None
    full_name: Name
    phone: Annotated[str, AfterValidator(_kz_mobile)]


class SchoolRef(_Strict):
    bin: Bin
    grade: Annotated[int, Field(ge=0, le=11)] | None = None


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
    def _not_absurd(cls, value: datetime) -> datetime:
        if value.year < 2000:
            raise ValueError("issued_at is implausibly old")
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
