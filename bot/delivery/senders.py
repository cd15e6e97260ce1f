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
from typing import Any, Protocol

import httpx
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.errors import DeliveryError
from bot.runtime import Delivering
from bot.signing import signed_headers, url_target
from storage.crypto import DataCipher
from storage.models import School
from storage.outbox import Payload, SmsPayload, TelegramPayload, WebhookPayload

HTTP_TIMEOUT_S = 10.0


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


def short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TelegramChannel(Protocol):
    """Bot API calls: `bot.delivery.telegram_sender`, or `NoBot` without BOT_TOKEN."""

    async def send(self, payload: TelegramPayload) -> int: ...

    async def probe(self) -> None: ...


class NoBot:
    """The Telegram channel of a service without BOT_TOKEN: rows wait, probes fail.

    A separate class so that an HTTP-only service never imports aiogram.
    """

    async def send(self, payload: TelegramPayload) -> int:
        raise DeliveryError("no Telegram bot is configured", retryable=True)

    async def probe(self) -> None:
        raise ChannelDown("no Telegram bot is configured")


class WebhookSender:
    """Signed JSON POSTs to a school's webhook (DESIGN 4.5)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cipher: DataCipher,
        clock: Clock,
        http: httpx.AsyncClient,
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._clock = clock
        self._http = http

    async def send(self, payload: WebhookPayload, idempotency_key: str) -> None:
        url, secret = await self._target(payload)
        body = json.dumps(payload.body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
            **signed_headers(secret, "POST", url_target(url), body, self._clock.timestamp()),
        }
        await _post(self._http, "webhook", url, content=body, headers=headers)

    async def _target(self, payload: WebhookPayload) -> tuple[str, bytes]:
        """The school's current URL (an operator may have fixed it) and its secret."""
        async with self._sessions() as session:
            school = await session.get(School, payload.school_id)
        if school is None or school.webhook_secret_enc is None:
            raise PermanentFailure("school has no webhook secret", Undeliverable.NOT_CONFIGURED)
        secret = self._cipher.decrypt_text(school.webhook_secret_enc).encode()
        return school.webhook_url or payload.url, secret


class SmsSender:
    """Text messages through the HTTP SMS gateway (contract in the module docstring)."""

    def __init__(self, url: str | None, token: SecretStr | None, http: httpx.AsyncClient) -> None:
        self._url = url
        self._token = token
        self._http = http

    async def send(self, payload: SmsPayload) -> None:
        url, token = self._url, self._token
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

    def __init__(
        self, delivering: Delivering, telegram: TelegramChannel, http: httpx.AsyncClient
    ) -> None:
        self.telegram = telegram
        self.webhook = WebhookSender(delivering.sessions, delivering.cipher, delivering.clock, http)
        self.sms = SmsSender(delivering.sms_gateway_url, delivering.sms_gateway_token, http)

    async def send(self, payload: Payload, dedupe_key: str) -> int | None:
        """Deliver `payload`; return the Telegram message id when there is one."""
        if isinstance(payload, TelegramPayload):
            return await self.telegram.send(payload)
        if isinstance(payload, WebhookPayload):
            await self.webhook.send(payload, dedupe_key)
            return None
        await self.sms.send(payload)
        return None
