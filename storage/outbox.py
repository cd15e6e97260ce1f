"""Writing outgoing messages as outbox rows in the caller's transaction.

Nothing is sent from a request or a handler directly: a row written together with the
state change that caused it is sent exactly when that change commits, and survives a
crash between the two. The dedupe key makes enqueueing idempotent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.choices import Act, Choice, Choices, Step
from storage.crypto import DataCipher
from storage.models import OutboxMessage, table_of

OUTBOX_DIRTY = "outbox_dirty"


class Channel(StrEnum):
    TELEGRAM = "telegram"
    WEBHOOK = "webhook"
    SMS = "sms"


class Kind(StrEnum):
    """What a delivered message means; the dispatcher's hooks act on some of them."""

    NOTICE = "notice"  # first message about a case: delivery makes it `notified`
    SMS_LINK = "sms_link"  # one-time deep link for a guardian who never opened the bot
    SIGN_IN_CODE = "sign_in_code"  # the one-time SMS code of a web sign-in
    REMINDER = "reminder"
    REPLY = "reply"  # an answer to the guardian's own action
    RESULT = "result"  # the school's decision, to the guardian
    SCHOOL_PACKAGE = "school_package"  # delivery makes the case `forwarded`
    SCHOOL_REMINDER = "school_reminder"
    SCHOOL_HEARING = "school_hearing"  # the guardian's position, or that none came
    SCHOOL_COPY = "school_copy"  # the school's copy of a reasoned refusal
    SCHOOL_NOTICE = "school_notice"  # news about a forwarded case (consent withdrawn)
    ESCALATION = "escalation"


def _choice_json(choice: Choice) -> dict[str, Any]:
    """A row stores a choice already labelled in its reader's language."""
    if not isinstance(choice.label, str):
        raise TypeError(f"label the {choice.act} choice in its reader's language first")
    data: dict[str, Any] = {
        "act": choice.act.value,
        "label": choice.label,
        "case_id": choice.case_id,
        "value": choice.value,
    }
    if choice.step is not None:  # only the form's choices name a question
        data["step"] = choice.step.value
    return data


def _choice_from_json(data: dict[str, Any]) -> Choice:
    step = data.get("step")
    return Choice(
        Act(data["act"]),
        data["label"],
        data.get("case_id"),
        step=Step(step) if step else None,
        value=data.get("value"),
    )


@dataclass(frozen=True)
class TelegramPayload:
    """A Bot API call: `sendMessage`, or `sendDocument` with a stored document.

    `choices` are rendered into an inline keyboard when the row is sent, so no use case
    knows what callback data look like.
    """

    method: str
    params: dict[str, Any]
    document_id: int | None = None
    filename: str | None = None
    choices: Choices = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "params": self.params,
            "document_id": self.document_id,
            "filename": self.filename,
            "choices": [[_choice_json(c) for c in row] for row in self.choices],
        }


@dataclass(frozen=True)
class WebhookPayload:
    """A JSON POST to a school's webhook, signed at send time with the school's secret."""

    school_id: int
    url: str
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"school_id": self.school_id, "url": self.url, "body": self.body}


@dataclass(frozen=True)
class SmsPayload:
    phone: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"phone": self.phone, "text": self.text}


Payload = TelegramPayload | WebhookPayload | SmsPayload
_CHANNELS: dict[type, Channel] = {
    TelegramPayload: Channel.TELEGRAM,
    WebhookPayload: Channel.WEBHOOK,
    SmsPayload: Channel.SMS,
}


@dataclass(frozen=True)
class OutgoingMessage:
    dedupe_key: str
    kind: Kind
    payload: Payload
    case_id: str | None = None
    not_before: datetime | None = field(default=None)

    @property
    def channel(self) -> Channel:
        return _CHANNELS[type(self.payload)]

    @property
    def recipient(self) -> str:
        """Rate-limit key: the chat id, webhook host or a keyed hash of the phone."""
        payload = self.payload
        if isinstance(payload, TelegramPayload):
            return str(payload.params["chat_id"])
        if isinstance(payload, WebhookPayload):
            return f"school:{payload.school_id}"
        return "sms"


def decode_payload(channel: str, data: dict[str, Any]) -> Payload:
    """Rebuild the payload written by `enqueue`."""
    if channel == Channel.TELEGRAM:
        rows = data.pop("choices", None) or ()
        choices = tuple(tuple(_choice_from_json(c) for c in row) for row in rows)
        return TelegramPayload(**data, choices=choices)
    if channel == Channel.WEBHOOK:
        return WebhookPayload(**data)
    return SmsPayload(**data)


async def enqueue(
    session: AsyncSession, cipher: DataCipher, now: datetime, *messages: OutgoingMessage
) -> None:
    """Add messages to the outbox; a dedupe key already present is silently kept as is.

    The session is flagged so that its commit wakes the dispatcher at once.
    """
    if not messages:
        return
    rows = [
        {
            "dedupe_key": m.dedupe_key,
            "channel": m.channel.value,
            "kind": m.kind.value,
            "recipient": m.recipient,
            "payload_enc": cipher.encrypt_text(json.dumps(m.payload.to_json())),
            "case_id": m.case_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": m.not_before or now,
            "created_at": now,
        }
        for m in messages
    ]
    connection = await session.connection()
    table = table_of(OutboxMessage)
    dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    await connection.execute(statement, rows)
    session.info[OUTBOX_DIRTY] = True
