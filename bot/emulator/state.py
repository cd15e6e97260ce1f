"""In-memory Telegram world: chats, messages, the update queue and everything recorded."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from bot.emulator.entities import JsonDict
from bot.emulator.errors import bad_request, forbidden
from bot.emulator.faults import FaultInjector
from bot.emulator.params import Params
from bot.emulator.ratelimit import RateLimiter, RateLimits
from bot.emulator.records import ApiCall, CallbackAnswer, FileStore, SentMessage, UserInfo

# Update types delivered when allowed_updates is not set (Telegram's default list).
DEFAULT_UPDATE_TYPES: Final = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
    }
)


@dataclass
class ChatState:
    """One chat the emulator knows: a private chat with a user, a group or a channel."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    user: UserInfo | None = None
    started: bool = False
    blocked: bool = False
    last_message_id: int = 0
    messages: dict[int, JsonDict] = field(default_factory=dict)

    @property
    def is_private(self) -> bool:
        """Tell whether this is a one-to-one chat with a user."""
        return self.type == "private"

    def next_message_id(self) -> int:
        """Allocate the next message id in this chat."""
        self.last_message_id += 1
        return self.last_message_id

    def to_json(self) -> JsonDict:
        """Render a Bot API `Chat` object."""
        data: JsonDict = {"id": self.id, "type": self.type}
        if self.user is not None:
            data.update({k: v for k, v in self.user.to_json().items() if k in _PRIVATE_CHAT_FIELDS})
        if self.title is not None:
            data["title"] = self.title
        if self.username is not None:
            data["username"] = self.username
        return data


_PRIVATE_CHAT_FIELDS: Final = frozenset({"first_name", "last_name", "username"})


@dataclass
class WebhookConfig:
    """The webhook set by setWebhook and its delivery status."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


class UpdateQueue:
    """Unconfirmed updates with monotonically increasing update_id."""

    def __init__(self, first_update_id: int = 1) -> None:
        self.pending: list[JsonDict] = []
        self.allowed: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._next_id = first_update_id

    def push(self, kind: str, payload: JsonDict) -> JsonDict | None:
        """Append an update of `kind` unless the bot's allowed_updates excludes it."""
        if kind not in self.allowed:
            return None
        update: JsonDict = {"update_id": self._next_id, kind: payload}
        self._next_id += 1
        self.pending.append(update)
        return update

    def set_allowed(self, kinds: Iterable[str] | None) -> None:
        """Remember allowed_updates; an empty or missing list means Telegram's default."""
        chosen = frozenset(kinds or ())
        self.allowed = chosen or DEFAULT_UPDATE_TYPES

    def confirm(self, offset: int) -> None:
        """Forget updates below `offset`; a negative offset keeps only the last -offset."""
        if offset < 0:
            self.pending = self.pending[offset:]
        else:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]

    def drop(self, update_id: int) -> None:
        """Forget one delivered update."""
        self.pending = [u for u in self.pending if u["update_id"] != update_id]


class EmulatorState:
    """Everything the emulated API reads and writes; shared by methods, actors and server."""

    def __init__(
        self,
        bot: UserInfo,
        *,
        rate_limits: RateLimits,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        strict_html: bool,
        group_privacy: bool,
        allow_http_webhook: bool,
    ) -> None:
        self.bot = bot
        self.clock = clock
        self.wall_clock = wall_clock
        self.strict_html = strict_html
        self.limiter = RateLimiter(rate_limits, clock)
        self.faults = FaultInjector()
        self.files = FileStore()
        self.updates = UpdateQueue()
        self.chats: dict[int, ChatState] = {}
        self.users: dict[int, UserInfo] = {}
        self.sent: list[SentMessage] = []
        self.calls: list[ApiCall] = []
        self.callback_queries: dict[str, JsonDict] = {}
        self.callback_answers: list[CallbackAnswer] = []
        self.commands: dict[tuple[str, str], list[JsonDict]] = {}
        self.menu_buttons: dict[int | None, JsonDict] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.webhook: WebhookConfig | None = None
        self.poll_generation = 0
        self.closing = False
        self.allow_http_webhook = allow_http_webhook
        self.group_privacy = group_privacy
        self._callback_seq = 0
        self.changed = asyncio.Condition()

    async def notify(self) -> None:
        """Wake every waiter (long polls, webhook worker, tests) after a change."""
        async with self.changed:
            self.changed.notify_all()

    def now(self) -> int:
        """Return the Unix time used for message `date` fields."""
        return int(self.wall_clock())

    def find_chat(self, chat_id: int | str) -> ChatState | None:
        """Look a chat up by id or by public `@username`."""
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            name = chat_id[1:].lower()
            return next(
                (c for c in self.chats.values() if (c.username or "").lower() == name),
                None,
            )
        try:
            return self.chats.get(int(chat_id))
        except ValueError:
            return None

    def require_chat(self, chat_id: int | str) -> ChatState:
        """Return the chat or raise 400 `chat not found`."""
        chat = self.find_chat(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def check_writable(self, chat: ChatState) -> None:
        """Raise Telegram's 403 if the bot may not write to `chat` right now."""
        if chat.is_private and chat.blocked:
            raise forbidden("bot was blocked by the user")
        if chat.is_private and not chat.started:
            raise forbidden("bot can't initiate conversation with a user")

    def new_callback_id(self) -> str:
        """Allocate a callback query id (Telegram uses long numeric strings)."""
        self._callback_seq += 1
        return f"{self.bot.id}{self._callback_seq:09d}"

    def store_message(self, chat: ChatState, message: JsonDict) -> None:
        """Keep `message` so replies, edits and callback queries can refer to it."""
        chat.messages[message["message_id"]] = message

    def sent_message(self, chat_id: int, message_id: int) -> SentMessage | None:
        """Return the bot message record for (chat_id, message_id), if the bot sent it."""
        return next(
            (m for m in self.sent if m.chat_id == chat_id and m.message_id == message_id),
            None,
        )

    def new_message(self, chat: ChatState, sender: UserInfo | None) -> JsonDict:
        """Start a Message JSON in `chat` from `sender` (None for channel posts)."""
        message: JsonDict = {
            "message_id": chat.next_message_id(),
            "date": self.now(),
            "chat": chat.to_json(),
        }
        if sender is not None:
            message["from"] = sender.to_json()
        return message

    async def push_update(self, kind: str, payload: JsonDict) -> JsonDict | None:
        """Enqueue a snapshot of `payload` and wake pollers and the webhook worker."""
        update = self.updates.push(kind, copy.deepcopy(payload))
        await self.notify()
        return update


MethodHandler: TypeAlias = Callable[[EmulatorState, Params], Awaitable[Any]]
