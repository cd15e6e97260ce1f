"""Building outgoing Telegram messages: text, inline keyboards, documents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from storage.outbox import Kind, OutgoingMessage, TelegramPayload


class Packable(Protocol):
    """Callback data as a button needs it: packed into the string Telegram sends back.

    aiogram's `CallbackData` is one; naming only `pack` keeps aiogram out of use cases.
    """

    def pack(self) -> str: ...


Button = tuple[str, Packable]

# Takes the phone-number keyboard away, so the guardian's letter keyboard shows again.
REMOVE_KEYBOARD: dict[str, Any] = {"remove_keyboard": True}


def inline_keyboard(rows: Sequence[Sequence[Button]]) -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [{"text": text, "callback_data": data.pack()} for text, data in row] for row in rows
        ]
    }


def text_message(
    dedupe_key: str,
    kind: Kind,
    chat_id: int,
    text: str,
    *,
    case_id: str | None = None,
    buttons: Sequence[Sequence[Button]] = (),
    reply_markup: dict[str, Any] | None = None,
) -> OutgoingMessage:
    """An HTML `sendMessage`; `text` must already be safe HTML (see bot.texts).

    `reply_markup` is used only when there are no `buttons`: a message carries one.
    """
    params: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": "HTML"}
    if buttons:
        params["reply_markup"] = inline_keyboard(buttons)
    elif reply_markup is not None:
        params["reply_markup"] = reply_markup
    return OutgoingMessage(
        dedupe_key=dedupe_key,
        kind=kind,
        payload=TelegramPayload(method="sendMessage", params=params),
        case_id=case_id,
    )


def document_message(
    dedupe_key: str,
    kind: Kind,
    chat_id: int,
    document_id: int,
    filename: str,
    caption: str,
    *,
    case_id: str | None = None,
    buttons: Sequence[Sequence[Button]] = (),
) -> OutgoingMessage:
    """A stored PDF with an HTML caption (at most 1024 characters after parsing)."""
    params: dict[str, Any] = {"chat_id": chat_id, "caption": caption, "parse_mode": "HTML"}
    if buttons:
        params["reply_markup"] = inline_keyboard(buttons)
    payload = TelegramPayload(
        method="sendDocument", params=params, document_id=document_id, filename=filename
    )
    return OutgoingMessage(dedupe_key=dedupe_key, kind=kind, payload=payload, case_id=case_id)
