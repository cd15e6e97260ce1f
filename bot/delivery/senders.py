"""One outbox row to one channel: a Bot API call, a signed webhook POST or an SMS.

A sender either returns (delivered; Telegram gives a message id) or raises
`DeliveryError`: `retryable=False` (a `PermanentFailure` with its `Undeliverable`
reason) ends the row, `retry_after` is Telegram's flood control, `ChannelDown` (no
connection, no answer in time, a 5xx) says the destination is down and nothing about
the message (`bot.delivery.circuits`), anything else is an answer about the message
and is retried with backoff. Error texts end up in `outbox.last_error`, so they name what
failed and never carry the message or its recipient.

School webhook (DESIGN 4.5): `POST <school webhook_url>` with the JSON body of the
payload, signed like the health signal (`X-Signature-Timestamp`, `X-Signature`) with the
school's `webhook_secret`, plus `Idempotency-Key: <outbox dedupe key>` so the school can
drop a repeat after a retry whose answer was lost. Any 2xx means delivered.

SMS gateway contract (all of it):

    POST {SMS_GATEWAY_URL}
    Authorization: Bearer {SMS_GATEWAY_TOKEN}
    Content-Type: application/json

    {"to": "+77011234567", "text": "..."}

Any 2xx answer means the gateway accepted the message (its body is ignored); a network
error, no answer within 10 s, a 429 or a 5xx is an outage of the gateway; any other
answer is retried with backoff.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import httpx
from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BufferedInputFile,
    ForceReply,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.errors import DeliveryError
from bot.runtime import Services
from bot.signing import signed_headers, url_target
from handlers.telegram.views import reply_markup
from storage.models import Document, School
from storage.outbox import Payload, SmsPayload, TelegramPayload, WebhookPayload

HTTP_TIMEOUT_S = 10.0
TELEGRAM_TIMEOUT_S = 30
PROBE_TIMEOUT_S = 5
ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply


class Undeliverable(StrEnum):
    """Why a row went `dead`; handed to `DeliveryHooks.undeliverable`."""

    BLOCKED = "blocked"  # 403: the user blocked the bot, or the bot left the group
    CHAT_NOT_FOUND = "chat_not_found"
    CHAT_MIGRATED = "chat_migrated"  # the group became a supergroup with a new id
    NOT_CONFIGURED = "not_configured"  # no webhook secret for the school, no SMS gateway
    INVALID = "invalid"  # the row itself cannot be sent (unknown method, purged document)
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"


class ChannelDown(DeliveryError):
    """The destination did not answer about the message: it is down, not the message."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, retryable=True)


class PermanentFailure(DeliveryError):
    """Sending can never succeed; the row goes `dead` with `reason`."""

    def __init__(self, detail: str, reason: Undeliverable) -> None:
        super().__init__(detail, retryable=False)
        self.reason = reason


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_reply_markup(data: dict[str, Any]) -> ReplyMarkup:
    """Turn a stored reply_markup dict into the aiogram type it describes."""
    if "inline_keyboard" in data:
        return InlineKeyboardMarkup.model_validate(data)
    if "keyboard" in data:
        return ReplyKeyboardMarkup.model_validate(data)
    if "remove_keyboard" in data:
        return ReplyKeyboardRemove.model_validate(data)
    if "force_reply" in data:
        return ForceReply.model_validate(data)
    raise PermanentFailure("unknown reply_markup shape", Undeliverable.INVALID)


class TelegramSender:
    """Bot API calls through aiogram; maps Telegram's answers to delivery outcomes."""

    def __init__(self, svc: Services, bot: Bot | None) -> None:
        self._svc = svc
        self._bot = bot

    async def send(self, payload: TelegramPayload) -> int:
        """Make the call; return the new message's id."""
        if self._bot is None:
            raise DeliveryError("no Telegram bot is configured", retryable=True)
        params = dict(payload.params)
        markup = params.get("reply_markup")
        if payload.choices:
            params["reply_markup"] = reply_markup(payload.choices)
        elif isinstance(markup, dict):
            params["reply_markup"] = parse_reply_markup(markup)
        try:
            if payload.method == "sendMessage":
                message = await self._bot.send_message(**params, request_timeout=TELEGRAM_TIMEOUT_S)
            elif payload.method == "sendDocument":
                document = await self._document(payload)
                message = await self._bot.send_document(
                    document=document, **params, request_timeout=TELEGRAM_TIMEOUT_S
                )
            else:
                raise PermanentFailure("unsupported Bot API method", Undeliverable.INVALID)
        except TelegramAPIError as error:
            raise telegram_failure(error) from error
        except ClientDecodeError as error:  # not Telegram's JSON: a proxy in front failed
            raise ChannelDown(
                f"telegram answered no JSON: {type(error.original).__name__}"
            ) from error
        return message.message_id

    async def probe(self) -> None:
        """getMe: raise ChannelDown unless the Bot API answers."""
        if self._bot is None:
            raise ChannelDown("no Telegram bot is configured")
        try:
            await self._bot.get_me(request_timeout=PROBE_TIMEOUT_S)
        except (TelegramAPIError, ClientDecodeError) as error:
            raise ChannelDown(_short(f"telegram getMe: {type(error).__name__}")) from error

    async def _document(self, payload: TelegramPayload) -> BufferedInputFile:
        if payload.document_id is None:
            raise PermanentFailure("sendDocument without document_id", Undeliverable.INVALID)
        async with self._svc.sessions() as session:
            document = await session.get(Document, payload.document_id)
        if document is None or document.content_enc is None:
            raise PermanentFailure("document is missing or purged", Undeliverable.INVALID)
        content = self._svc.cipher.decrypt_bytes(document.content_enc)
        return BufferedInputFile(content, filename=payload.filename or f"{document.kind}.pdf")


def telegram_failure(error: TelegramAPIError) -> DeliveryError:
    """Classify a Bot API error: flood control, permanent, or worth another attempt."""
    detail = _short(f"telegram {type(error).__name__}: {error.message}")
    if isinstance(error, TelegramNetworkError | TelegramServerError):
        return ChannelDown(detail)
    if isinstance(error, TelegramRetryAfter):
        return DeliveryError(detail, retryable=True, retry_after=float(error.retry_after))
    if isinstance(error, TelegramForbiddenError):
        return PermanentFailure(detail, Undeliverable.BLOCKED)
    if isinstance(error, TelegramMigrateToChat):
        return PermanentFailure(detail, Undeliverable.CHAT_MIGRATED)
    if isinstance(error, TelegramBadRequest) and "chat not found" in error.message.lower():
        return PermanentFailure(detail, Undeliverable.CHAT_NOT_FOUND)
    return DeliveryError(detail, retryable=True)


class WebhookSender:
    """Signed JSON POSTs to a school's webhook (DESIGN 4.5)."""

    def __init__(self, svc: Services, http: httpx.AsyncClient) -> None:
        self._svc = svc
        self._http = http

    async def send(self, payload: WebhookPayload, idempotency_key: str) -> None:
        url, secret = await self._target(payload)
        body = json.dumps(payload.body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
            **signed_headers(secret, "POST", url_target(url), body, self._svc.clock.timestamp()),
        }
        await _post(self._http, "webhook", url, content=body, headers=headers)

    async def _target(self, payload: WebhookPayload) -> tuple[str, bytes]:
        """The school's current URL (an operator may have fixed it) and its secret."""
        async with self._svc.sessions() as session:
            school = await session.get(School, payload.school_id)
        if school is None or school.webhook_secret_enc is None:
            raise PermanentFailure("school has no webhook secret", Undeliverable.NOT_CONFIGURED)
        secret = self._svc.cipher.decrypt_text(school.webhook_secret_enc).encode()
        return school.webhook_url or payload.url, secret


class SmsSender:
    """Text messages through the HTTP SMS gateway (contract in the module docstring)."""

    def __init__(self, svc: Services, http: httpx.AsyncClient) -> None:
        self._settings = svc.settings
        self._http = http

    async def send(self, payload: SmsPayload) -> None:
        url, token = self._settings.SMS_GATEWAY_URL, self._settings.SMS_GATEWAY_TOKEN
        if url is None:
            raise PermanentFailure("SMS_GATEWAY_URL is not set", Undeliverable.NOT_CONFIGURED)
        headers = {"Authorization": f"Bearer {token.get_secret_value() if token else ''}"}
        body = {"to": payload.phone, "text": payload.text}
        await _post(self._http, "sms gateway", url, json=body, headers=headers)


async def _post(http: httpx.AsyncClient, what: str, url: str, **kwargs: Any) -> None:
    try:
        response = await http.post(url, timeout=HTTP_TIMEOUT_S, **kwargs)
    except httpx.TimeoutException:
        raise ChannelDown(f"{what} timed out") from None
    except httpx.HTTPError as error:
        raise ChannelDown(f"{what}: {type(error).__name__}") from None
    if response.is_success:
        return
    detail = f"{what} answered HTTP {response.status_code}"
    if response.status_code >= 500 or response.status_code == 429:
        raise ChannelDown(detail)
    raise DeliveryError(detail, retryable=True)


class Senders:
    """The three channels behind one call."""

    def __init__(self, svc: Services, bot: Bot | None, http: httpx.AsyncClient) -> None:
        self.telegram = TelegramSender(svc, bot)
        self.webhook = WebhookSender(svc, http)
        self.sms = SmsSender(svc, http)

    async def send(self, payload: Payload, dedupe_key: str) -> int | None:
        """Deliver `payload`; return the Telegram message id when there is one."""
        if isinstance(payload, TelegramPayload):
            return await self.telegram.send(payload)
        if isinstance(payload, WebhookPayload):
            await self.webhook.send(payload, dedupe_key)
            return None
        await self.sms.send(payload)
        return None
