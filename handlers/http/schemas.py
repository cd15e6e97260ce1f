"""Shapes of HTTP answers; also the source of the OpenAPI components."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from bot.domain.status import CaseStatus
from bot.signals import JSON_INTEGER, FieldError
from bot.usecases.decisions import REASON_MAX, REASON_MIN


class IntakeAnswer(BaseModel):
    case_id: str
    status: CaseStatus
    duplicate: bool


class CaseAnswer(BaseModel):
    case_id: str
    status: CaseStatus
    created_at: datetime
    updated_at: datetime
    notified_at: datetime | None = None
    consented_at: datetime | None = None
    submitted_at: datetime | None = None
    registered_at: datetime | None = None
    deadline_at: datetime | None = None
    forwarded_at: datetime | None = None
    decided_at: datetime | None = None
    closed_at: datetime | None = None


class ErrorAnswer(BaseModel):
    error: str = Field(description="machine-readable code")
    message: str = Field(description="what went wrong, for a person")


class ValidationErrorAnswer(BaseModel):
    error: str = "validation_failed"
    errors: list[FieldError]


class HealthAnswer(BaseModel):
    status: str


class ReadyAnswer(BaseModel):
    status: str
    database: str


# What `_refusal_is_reasoned` checks, stated in the schema (JSON Schema if/then/else).
_DECISION_RULE: JsonDict = {
    "if": {"properties": {"decision": {"const": "refused"}}},
    "then": {
        "required": ["ground", "reason"],
        "properties": {"ground": {"type": "integer"}, "reason": {"type": "string"}},
    },
    "else": {"properties": {"ground": {"type": "null"}, "reason": {"type": "null"}}},
}


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_DECISION_RULE)
    decision: Literal["accepted", "refused"]
    ground: Annotated[int, Field(ge=1, le=3), JSON_INTEGER] | None = None
    reason: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=REASON_MIN, max_length=REASON_MAX),
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _refusal_is_reasoned(self) -> DecisionRequest:
        """A refusal names one of the three legal grounds and says why (annex 1, item 9)."""
        if self.decision == "refused" and (self.ground is None or self.reason is None):
            raise ValueError("a refusal needs `ground` (1, 2 or 3) and `reason`")
        # An acceptance carries neither: a sender's mix-up is refused, not recorded.
        if self.decision == "accepted" and (self.ground is not None or self.reason is not None):
            raise ValueError("an acceptance has no `ground` or `reason`")
        return self


class DecisionAnswer(BaseModel):
    case_id: str
    status: str
    registration_number: str | None = None
    ground: int | None = None
    hearing_until: datetime | None = Field(
        default=None,
        description="a preliminary refusal (status `hearing`): until when the guardian may "
        "state a position; the final decision is possible after it or after their answer",
    )
