"""Outbox rows to Telegram through aiogram: the Bot API call and what its answer means.

Imported only by a service that has a bot (`BOT_TOKEN`); see `bot.delivery.senders`
for the outcomes a sender reports.
"""

from __future__ import annotations

from typing import Any

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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.senders import ChannelDown, PermanentFailure, Undeliverable, short
from bot.errors import DeliveryError
from handlers.telegram.views import reply_markup
from storage.crypto import DataCipher
from storage.models import Document
from storage.outbox import TelegramPayload

TELEGRAM_TIMEOUT_S = 30
PROBE_TIMEOUT_S = 5
ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply


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

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], cipher: DataCipher, bot: Bot
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._bot = bot

    async def send(self, payload: TelegramPayload) -> int:
        """Make the call; return the new message's id."""
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
        try:
            await self._bot.get_me(request_timeout=PROBE_TIMEOUT_S)
        except (TelegramAPIError, ClientDecodeError) as error:
            raise ChannelDown(short(f"telegram getMe: {type(error).__name__}")) from error

    async def _document(self, payload: TelegramPayload) -> BufferedInputFile:
        if payload.document_id is None:
            raise PermanentFailure("sendDocument without document_id", Undeliverable.INVALID)
        async with self._sessions() as session:
            document = await session.get(Document, payload.document_id)
        if document is None or document.content_enc is None:
            raise PermanentFailure("document is missing or purged", Undeliverable.INVALID)
        content = self._cipher.decrypt_bytes(document.content_enc)
        return BufferedInputFile(content, filename=payload.filename or f"{document.kind}.pdf")


def telegram_failure(error: TelegramAPIError) -> DeliveryError:
    """Classify a Bot API error: flood control, permanent, or worth another attempt."""
    detail = short(f"telegram {type(error).__name__}: {error.message}")
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
