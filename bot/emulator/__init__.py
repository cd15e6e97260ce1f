"""Telegram Bot API emulator for end-to-end tests and the offline demo.

aiogram talks to it over real HTTP (`AiohttpSession(api=TelegramAPIServer.from_base(url))`);
tests act as users through `TelegramEmulator.user()` / `.group()` and read what the bot sent.
"""

from bot.emulator.actors import Actor
from bot.emulator.emulator import TelegramEmulator
from bot.emulator.entities import EntityParseError, parse_html
from bot.emulator.errors import ApiError
from bot.emulator.handles import ChannelHandle, GroupHandle, MemberHandle, UserHandle
from bot.emulator.limits import MAX_CALLBACK_DATA_BYTES, MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH
from bot.emulator.ratelimit import Limit, RateLimits
from bot.emulator.records import ApiCall, CallbackAnswer, SentMessage, UserInfo
from bot.emulator.state import WebhookConfig

__all__ = [
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_TEXT_LENGTH",
    "Actor",
    "ApiCall",
    "ApiError",
    "CallbackAnswer",
    "ChannelHandle",
    "EntityParseError",
    "GroupHandle",
    "Limit",
    "MemberHandle",
    "RateLimits",
    "SentMessage",
    "TelegramEmulator",
    "UserHandle",
    "UserInfo",
    "WebhookConfig",
    "parse_html",
]
