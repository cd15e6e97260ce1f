"""`TelegramEmulator`: run the fake Bot API, act as users and read what the bot sent."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiohttp import web

from bot.emulator.entities import JsonDict
from bot.emulator.handles import ChannelHandle, GroupHandle, UserHandle
from bot.emulator.methods_bot import commands_key
from bot.emulator.ratelimit import RateLimits
from bot.emulator.records import ApiCall, CallbackAnswer, SentMessage, UserInfo
from bot.emulator.server import ApiServer
from bot.emulator.state import ChatState, EmulatorState, WebhookConfig


class TelegramEmulator:
    """An in-process Telegram Bot API for one bot token.

    Everything is async and lives in the caller's event loop, so tests can drive aiogram
    through real HTTP and inspect the results without sleeps.

    A webhook gets one update at a time, in order, unless `webhook_connections` > 1:
    then up to that many at once (Telegram uses up to 40), never two of one chat.
    """

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        bot_username: str = "homeschool_test_bot",
        bot_first_name: str = "Homeschool Bot",
        rate_limits: RateLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        strict_html: bool = True,
        group_privacy: bool = True,
        allow_http_webhook: bool = True,
        webhook_retry_delay: float = 0.2,
        webhook_connections: int = 1,
    ) -> None:
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit() or not secret:
            raise ValueError("token must look like '<bot id>:<secret>'")
        self.token = token
        bot = UserInfo(int(bot_id), bot_first_name, username=bot_username, is_bot=True)
        self.state = EmulatorState(
            bot,
            rate_limits=rate_limits or RateLimits(),
            clock=clock,
            wall_clock=wall_clock,
            strict_html=strict_html,
            group_privacy=group_privacy,
            allow_http_webhook=allow_http_webhook,
        )
        self._server = ApiServer(
            self.state,
            token,
            webhook_retry_delay=webhook_retry_delay,
            webhook_connections=webhook_connections,
        )
        self.app: web.Application = self._server.app
        self.base_url: str | None = None
        self._runner: web.AppRunner | None = None
        self._cursors: dict[int, int] = {}
        self._next_user_id = 700_000_001

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the API on host:port (0 picks a free port); return the base URL."""
        runner = web.AppRunner(self.app, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        """Release long polls, stop webhook delivery and close the server."""
        self.state.closing = True
        await self.state.notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- actors ------------------------------------------------------------------------
    def user(
        self,
        user_id: int | None = None,
        first_name: str = "Test",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
        phone: str | None = None,
    ) -> UserHandle:
        """Return a handle for a user's private chat (the chat opens on their first message)."""
        if user_id is None:
            user_id, self._next_user_id = self._next_user_id, self._next_user_id + 1
        user = self.state.users.get(user_id)
        if user is None:
            user = UserInfo(user_id, first_name, last_name, username, language_code, phone)
            self.state.users[user_id] = user
        chat = self.state.chats.get(user_id)
        if chat is None:
            chat = self.state.chats[user_id] = ChatState(user_id, "private", user=user)
        return UserHandle(self.state, user, chat)

    def group(
        self,
        chat_id: int = -1001000000001,
        title: str = "Test group",
        *,
        username: str | None = None,
    ) -> GroupHandle:
        """Return a group the bot is in; ids starting with -100 are supergroups."""
        chat = self.state.chats.get(chat_id)
        if chat is None:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            chat = self.state.chats[chat_id] = ChatState(chat_id, kind, title, username)
        return GroupHandle(self.state, chat)

    def channel(
        self,
        chat_id: int = -1002000000001,
        title: str = "Test channel",
        *,
        username: str | None = None,
    ) -> ChannelHandle:
        """Return a channel where the bot is an administrator."""
        chat = self.state.chats.get(chat_id)
        if chat is None:
            chat = self.state.chats[chat_id] = ChatState(chat_id, "channel", title, username)
        return ChannelHandle(self.state, chat)

    # -- reading what the bot did ------------------------------------------------------
    def sent(self, chat_id: int, *, include_deleted: bool = False) -> list[SentMessage]:
        """Return the bot's messages in a chat, oldest first."""
        return [
            m
            for m in self.state.sent
            if m.chat_id == chat_id and (include_deleted or not m.deleted)
        ]

    def last_sent(self, chat_id: int) -> SentMessage | None:
        """Return the bot's latest (not deleted) message in a chat."""
        messages = self.sent(chat_id)
        return messages[-1] if messages else None

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline per wait is the point of the API
    ) -> SentMessage:
        """Wait for the next matching bot message in a chat.

        Each call continues after the message the previous call returned for that chat,
        so consecutive calls read the bot's replies in order.
        """
        found: list[SentMessage] = []

        def match() -> bool:
            start = self._cursors.get(chat_id, 0)
            for index, record in enumerate(self.state.sent[start:], start):
                if record.chat_id == chat_id and (predicate is None or predicate(record)):
                    self._cursors[chat_id] = index + 1
                    found.append(record)
                    return True
            return False

        try:
            await self.wait_until(match, timeout=timeout, recheck=None)
        except TimeoutError as error:
            raise TimeoutError(self._explain_timeout(chat_id, timeout)) from error
        return found[0]

    async def wait_until(
        self,
        condition: Callable[[], bool],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline per wait is the point of the API
        recheck: float | None = 0.02,
    ) -> None:
        """Wait until `condition()` holds.

        It is re-checked on every emulator state change; `recheck` adds a periodic check
        for conditions on outside state (e.g. a list a handler appends to). Pass None
        when the condition reads only emulator state.
        """
        async with asyncio.timeout(timeout), self.state.changed:
            while not condition():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(recheck):
                        await self.state.changed.wait()

    def _explain_timeout(self, chat_id: int, timeout: float) -> str:
        texts = [m.text or m.caption for m in self.sent(chat_id)[-3:]]
        failures = [f"{c.method}: {c.description}" for c in self.state.calls if not c.ok][-3:]
        return (
            f"no matching bot message in chat {chat_id} within {timeout}s; "
            f"latest messages: {texts}; latest failed calls: {failures}"
        )

    @property
    def calls(self) -> list[ApiCall]:
        """Every API call in order: method, params, outcome, emulator-clock time."""
        return self.state.calls

    def calls_to(self, method: str) -> list[ApiCall]:
        """Return the calls of one method (case-insensitive name)."""
        return [c for c in self.state.calls if c.method.lower() == method.lower()]

    @property
    def rejected_429(self) -> int:
        """How many calls were answered 429 Too Many Requests."""
        return sum(1 for c in self.state.calls if c.error_code == 429)

    @property
    def callback_answers(self) -> list[CallbackAnswer]:
        """answerCallbackQuery calls, in order."""
        return self.state.callback_answers

    @property
    def commands(self) -> dict[tuple[str, str], list[JsonDict]]:
        """setMyCommands lists keyed by (scope, language_code), e.g. ("default", "kk")."""
        return self.state.commands

    def command_names(self, language_code: str = "", scope: JsonDict | None = None) -> list[str]:
        """Return command names set for a language (and scope, default scope if None)."""
        stored = self.state.commands.get(commands_key(scope, language_code), [])
        return [c["command"] for c in stored]

    @property
    def chat_actions(self) -> list[tuple[int, str]]:
        """sendChatAction calls as (chat_id, action)."""
        return self.state.chat_actions

    @property
    def webhook(self) -> WebhookConfig | None:
        """The webhook currently set, with its last delivery error."""
        return self.state.webhook

    @property
    def poll_count(self) -> int:
        """How many getUpdates calls have started (including ones still waiting)."""
        return self.state.poll_generation

    def updates_pending(self) -> int:
        """Return how many updates the bot has not confirmed yet."""
        return len(self.state.updates.pending)

    def file_bytes(self, file_id: str) -> bytes:
        """Return the bytes of a stored file."""
        stored = self.state.files.get(file_id)
        if stored is None:
            raise KeyError(file_id)
        return stored.data

    # -- controlling failures ----------------------------------------------------------
    def fail_next(
        self,
        method: str,
        *,
        times: int = 1,
        error_code: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        chat_id: int | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (optionally to one chat) fail."""
        self.state.faults.add(
            method,
            times=times,
            error_code=error_code,
            description=description,
            retry_after=retry_after,
            chat_id=chat_id,
        )

    def set_rate_limits(self, limits: RateLimits) -> None:
        """Replace the flood limits and forget earlier sends."""
        self.state.limiter.reset(limits)

    def __repr__(self) -> str:
        return f"TelegramEmulator(bot=@{self.state.bot.username}, url={self.base_url!r})"
