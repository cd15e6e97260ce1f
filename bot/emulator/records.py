"""Read models the emulator keeps for tests: users, files, bot messages, calls, answers."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.entities import JsonDict


@dataclass
class UserInfo:
    """A Telegram account acting against the bot."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    phone: str | None = None
    is_bot: bool = False

    def to_json(self) -> JsonDict:
        """Render a Bot API `User` object."""
        data: JsonDict = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass(frozen=True)
class StoredFile:
    """Bytes uploaded by the bot or sent by a user, addressable by file_id and file_path."""

    file_id: str
    file_unique_id: str
    file_path: str
    filename: str
    mime_type: str
    data: bytes

    def to_json(self) -> JsonDict:
        """Render a Bot API `File` object (as answered by getFile)."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


class FileStore:
    """All files known to the emulator."""

    def __init__(self) -> None:
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}

    def add(
        self, data: bytes, filename: str, *, kind: str, mime_type: str | None = None
    ) -> StoredFile:
        """Store `data` and return its record with fresh identifiers."""
        number = len(self._by_id) + 1
        suffix = filename.rsplit(".", 1)[-1] if "." in filename else "bin"
        guessed = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = StoredFile(
            file_id=f"EMU{kind[:3].upper()}{number:06d}",
            file_unique_id=f"U{number:06d}",
            file_path=f"{kind}/file_{number}.{suffix}",
            filename=filename,
            mime_type=mime_type or guessed,
            data=data,
        )
        self._by_id[stored.file_id] = stored
        self._by_path[stored.file_path] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        """Return the file with `file_id`, if any."""
        return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        """Return the file served at `file_path`, if any."""
        return self._by_path.get(file_path)


@dataclass
class SentMessage:
    """A message the bot sent, with everything a test may want to assert on."""

    message_id: int
    chat_id: int
    date: int
    method: str
    text: str | None = None
    raw_text: str | None = None
    parse_mode: str | None = None
    entities: list[JsonDict] = field(default_factory=list)
    reply_markup: JsonDict | None = None
    caption: str | None = None
    document: bytes | None = None
    document_filename: str | None = None
    document_mime_type: str | None = None
    reply_to_message_id: int | None = None
    history: list[str] = field(default_factory=list)
    deleted: bool = False

    def buttons(self) -> list[str]:
        """Return button texts of the inline keyboard, or else of the reply keyboard."""
        return [str(button["text"]) for row in self._rows() for button in row]

    def button(self, text: str) -> JsonDict | None:
        """Return the inline button with `text`, if the message has one."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return next((b for row in rows for b in row if b.get("text") == text), None)

    def _rows(self) -> list[list[JsonDict]]:
        markup = self.reply_markup or {}
        rows: list[list[Any]] = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [[b if isinstance(b, dict) else {"text": b} for b in row] for row in rows]


@dataclass(frozen=True)
class ApiCall:
    """One Bot API request: what was asked, what was answered and when (emulator clock)."""

    method: str
    params: JsonDict
    ok: bool
    at: float
    result: Any = None
    error_code: int | None = None
    description: str | None = None


@dataclass(frozen=True)
class CallbackAnswer:
    """An answerCallbackQuery call, joined with the query it answered."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int
    data: str | None
    user_id: int
    at: float
