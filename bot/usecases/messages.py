"""Building outgoing messages: Telegram text or documents with their choices, webhook events."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.domain.choices import Choices, Text
from bot.texts import Texts
from bot.usecases.prompts import Prompt, render, render_parts
from storage.outbox import Kind, OutgoingMessage, TelegramPayload, WebhookPayload

# Takes the phone-number keyboard away, so the guardian's letter keyboard shows again.
REMOVE_KEYBOARD: dict[str, Any] = {"remove_keyboard": True}


def text_message(
    dedupe_key: str,
    kind: Kind,
    chat_id: int,
    text: str,
    *,
    case_id: str | None = None,
    choices: Choices = (),
    reply_markup: dict[str, Any] | None = None,
) -> OutgoingMessage:
    """An HTML `sendMessage`; `text` must already be safe HTML (see bot.texts).

    `choices` become buttons when the row is sent; `reply_markup` is used only when
    there are no `choices`: a message carries one.
    """
    params: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": "HTML"}
    if reply_markup is not None and not choices:
        params["reply_markup"] = reply_markup
    return OutgoingMessage(
        dedupe_key=dedupe_key,
        kind=kind,
        payload=TelegramPayload(method="sendMessage", params=params, choices=choices),
        case_id=case_id,
    )


def prompt_message(
    texts: Texts, prompt: Prompt, chat_id: int, dedupe_key: str, kind: Kind
) -> OutgoingMessage:
    """A prompt as a chat message for the outbox, which stores words, not catalog keys:
    its parts and its choices' labels rendered in the prompt's language, each choice
    tied to the prompt's case unless it names one of its own."""
    choices = tuple(
        tuple(
            replace(
                c,
                label=render(texts, prompt.lang, c.label) if isinstance(c.label, Text) else c.label,
                case_id=c.case_id or prompt.case_id,
            )
            for c in row
        )
        for row in prompt.choices
    )
    text = render_parts(texts, prompt)
    return text_message(dedupe_key, kind, chat_id, text, case_id=prompt.case_id, choices=choices)


def document_message(
    dedupe_key: str,
    kind: Kind,
    chat_id: int,
    document_id: int,
    filename: str,
    caption: str,
    *,
    case_id: str | None = None,
    choices: Choices = (),
) -> OutgoingMessage:
    """A stored PDF with an HTML caption (at most 1024 characters after parsing)."""
    params: dict[str, Any] = {"chat_id": chat_id, "caption": caption, "parse_mode": "HTML"}
    payload = TelegramPayload(
        method="sendDocument",
        params=params,
        document_id=document_id,
        filename=filename,
        choices=choices,
    )
    return OutgoingMessage(dedupe_key=dedupe_key, kind=kind, payload=payload, case_id=case_id)


def webhook_message(
    dedupe_key: str, kind: Kind, school_id: int, url: str, body: dict[str, Any], *, case_id: str
) -> OutgoingMessage:
    """An event POSTed to the school's webhook `url`, signed when it is sent."""
    payload = WebhookPayload(school_id=school_id, url=url, body=body)
    return OutgoingMessage(dedupe_key=dedupe_key, kind=kind, payload=payload, case_id=case_id)
