"""`Actor`: what a Telegram user can do in a chat with the bot."""

from __future__ import annotations

from bot.emulator.entities import JsonDict, command_entities
from bot.emulator.records import SentMessage, UserInfo
from bot.emulator.state import ChatState, EmulatorState

MessageRef = SentMessage | int
# Tiny stand-ins so getFile/download of user media returns plausible bytes.
_FAKE_MEDIA: dict[str, tuple[str, bytes]] = {
    "stickers": ("sticker.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 "),
    "photos": ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
    "voice": ("voice.ogg", b"OggS\x00\x02"),
}


class Actor:
    """A user writing to the bot in one chat (private chat or group)."""

    def __init__(self, state: EmulatorState, user: UserInfo, chat: ChatState) -> None:
        self._state = state
        self.user = user
        self.chat = chat

    @property
    def id(self) -> int:
        """The user's Telegram id."""
        return self.user.id

    @property
    def chat_id(self) -> int:
        """The chat this actor writes in."""
        return self.chat.id

    async def send_text(self, text: str, *, reply_to: MessageRef | None = None) -> JsonDict:
        """Send a text message; `/commands` get bot_command entities like real clients add."""
        content: JsonDict = {"text": text}
        if entities := command_entities(text):
            content["entities"] = entities
        return await self._send(content, reply_to=reply_to)

    async def send_command(
        self, command: str, args: str | None = None, *, mention: bool = False
    ) -> JsonDict:
        """Send `/command args` (e.g. a /start deep link), optionally as /command@bot."""
        text = command if command.startswith("/") else f"/{command}"
        if mention:
            text += f"@{self._state.bot.username}"
        if args:
            text += f" {args}"
        return await self.send_text(text)

    async def reply_to(self, message: MessageRef, text: str) -> JsonDict:
        """Reply to a message in this chat (usually one the bot sent)."""
        return await self.send_text(text, reply_to=message)

    async def send_sticker(self, emoji: str = "👍") -> JsonDict:
        """Send a sticker."""
        file = self._fake_file("stickers")
        sticker = {**file, "type": "regular", "width": 512, "height": 512}
        sticker.update({"is_animated": False, "is_video": False, "emoji": emoji})
        return await self._send({"sticker": sticker})

    async def send_photo(self, caption: str | None = None) -> JsonDict:
        """Send a photo (two sizes, like Telegram) with an optional caption."""
        file = self._fake_file("photos")
        sizes = [{**file, "width": 90, "height": 90}, {**file, "width": 800, "height": 800}]
        return await self._send(_with_caption({"photo": sizes}, caption))

    async def send_voice(self, duration: int = 3) -> JsonDict:
        """Send a voice note."""
        voice = {**self._fake_file("voice"), "duration": duration, "mime_type": "audio/ogg"}
        return await self._send({"voice": voice})

    async def send_location(
        self, latitude: float = 51.1694, longitude: float = 71.4491
    ) -> JsonDict:
        """Send a location (Astana by default)."""
        return await self._send({"location": {"latitude": latitude, "longitude": longitude}})

    async def send_document(
        self, data: bytes, filename: str = "document.pdf", caption: str | None = None
    ) -> JsonDict:
        """Send a document whose bytes the bot can download with getFile."""
        stored = self._state.files.add(data, filename, kind="documents")
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": filename,
            "mime_type": stored.mime_type,
            "file_size": len(data),
        }
        return await self._send(_with_caption({"document": document}, caption))

    async def send_edited(self, text: str, message: JsonDict | int | None = None) -> JsonDict:
        """Edit one of this user's text messages (default: the latest) -> edited_message."""
        target = self._own_message(message)
        edited: JsonDict = {k: v for k, v in target.items() if k != "entities"}
        edited.update({"text": text, "edit_date": self._state.now()})
        if entities := command_entities(text):
            edited["entities"] = entities
        self._state.store_message(self.chat, edited)
        await self._state.push_update("edited_message", edited)
        return edited

    async def press(self, button_text: str, message: MessageRef | None = None) -> str:
        """Press an inline button on the latest bot message having it; return the query id."""
        record, button = self._find_button(button_text, message)
        if "callback_data" not in button:
            raise LookupError(f"button {button_text!r} has no callback_data: {button}")
        return await self._callback(record.message_id, str(button["callback_data"]))

    async def press_data(self, data: str, message: MessageRef) -> str:
        """Send a callback query with arbitrary (e.g. tampered) data for `message`."""
        message_id = message.message_id if isinstance(message, SentMessage) else message
        return await self._callback(message_id, data)

    async def _send(self, content: JsonDict, *, reply_to: MessageRef | None = None) -> JsonDict:
        if self.chat.blocked:
            raise RuntimeError(f"user {self.user.id} blocked the bot; call unblock() first")
        message = self._state.new_message(self.chat, self.user)
        message.update(content)
        if reply_to is not None:
            original = self._message(reply_to)
            message["reply_to_message"] = {
                k: v for k, v in original.items() if k != "reply_to_message"
            }
        self._state.store_message(self.chat, message)
        if self.chat.is_private:
            self.chat.started = True
        if self._delivered(message):
            await self._state.push_update("message", message)
        return message

    def _delivered(self, message: JsonDict) -> bool:
        """Apply group privacy mode: plain chatter in groups never reaches the bot."""
        if self.chat.is_private or not self._state.group_privacy:
            return True
        text = str(message.get("text", ""))
        mention = f"@{self._state.bot.username}".lower()
        replied = message.get("reply_to_message", {}).get("from", {})
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0].lower()
            return "@" not in command or command.endswith(mention)
        return replied.get("id") == self._state.bot.id or mention in text.lower()

    def _message(self, ref: MessageRef) -> JsonDict:
        message_id = ref.message_id if isinstance(ref, SentMessage) else ref
        message = self.chat.messages.get(message_id)
        if message is None:
            raise LookupError(f"no message {message_id} in chat {self.chat.id}")
        return message

    def _own_message(self, ref: JsonDict | int | None) -> JsonDict:
        if isinstance(ref, dict):
            return self._message(int(ref["message_id"]))
        if isinstance(ref, int):
            return self._message(ref)
        mine = [
            m
            for m in self.chat.messages.values()
            if m.get("from", {}).get("id") == self.user.id and "text" in m
        ]
        if not mine:
            raise LookupError(f"user {self.user.id} has no text message in chat {self.chat.id}")
        return mine[-1]

    def _find_button(self, text: str, ref: MessageRef | None) -> tuple[SentMessage, JsonDict]:
        candidates = [m for m in self._state.sent if m.chat_id == self.chat.id and not m.deleted]
        if ref is not None:
            wanted = ref.message_id if isinstance(ref, SentMessage) else ref
            candidates = [m for m in candidates if m.message_id == wanted]
        for record in reversed(candidates):
            button = record.button(text)
            if button is not None:
                return record, button
        seen = [m.buttons() for m in candidates[-3:]]
        raise LookupError(f"no inline button {text!r} in chat {self.chat.id}; recent: {seen}")

    async def _callback(self, message_id: int, data: str) -> str:
        message = self._message(message_id)
        query_id = self._state.new_callback_id()
        query: JsonDict = {
            "id": query_id,
            "from": self.user.to_json(),
            "message": message,
            "chat_instance": f"{abs(self.chat.id) * 31 + self._state.bot.id}",
            "data": data,
        }
        record: JsonDict = {
            "data": data,
            "user_id": self.user.id,
            "answered": False,
            # Where the bot's messages stood at the press, so that a test can tell the
            # messages that answer this press from those before it.
            "sent_before": len(self._state.sent),
        }
        self._state.callback_queries[query_id] = record
        # Kept so that a test can deliver the very same update again, as Telegram does.
        record["update"] = await self._state.push_update("callback_query", query)
        return query_id

    def _fake_file(self, kind: str) -> JsonDict:
        filename, data = _FAKE_MEDIA[kind]
        stored = self._state.files.add(data, filename, kind=kind)
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(data),
        }


def _with_caption(content: JsonDict, caption: str | None) -> JsonDict:
    if caption:
        content["caption"] = caption
    return content
