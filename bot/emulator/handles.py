"""User, group-member, group and channel handles built on `Actor`."""

from __future__ import annotations

from typing import Any

from bot.emulator.actors import Actor
from bot.emulator.entities import JsonDict
from bot.emulator.records import UserInfo
from bot.emulator.state import ChatState, EmulatorState


class UserHandle(Actor):
    """A user in a private chat with the bot."""

    async def share_contact(
        self, phone: str | None = None, *, own: bool = True, other_user_id: int | None = None
    ) -> JsonDict:
        """Share a contact via the request_contact button (own=False: someone else's)."""
        number = phone or self.user.phone or "+77000000000"
        contact: JsonDict = {"phone_number": number, "first_name": self.user.first_name}
        if own:
            contact["user_id"] = self.user.id
            if self.user.last_name:
                contact["last_name"] = self.user.last_name
        else:
            contact.update({"first_name": "Other", "user_id": other_user_id or self.user.id + 1})
        return await self._send({"contact": contact})

    async def send_inline_query(self, query: str, offset: str = "") -> str:
        """Type `@bot query` in any chat -> inline_query update; return its id."""
        query_id = self._state.new_callback_id()
        payload: JsonDict = {"id": query_id, "from": self.user.to_json()}
        payload.update({"query": query, "offset": offset, "chat_type": "sender"})
        await self._state.push_update("inline_query", payload)
        return query_id

    def block(self) -> None:
        """Block the bot: sends to this user now fail with 403."""
        self.chat.blocked = True

    def unblock(self) -> None:
        """Unblock the bot (the user must send something again, e.g. /start)."""
        self.chat.blocked = False


class MemberHandle(Actor):
    """A member writing in a group chat."""


class GroupHandle:
    """A group or supergroup the bot is a member of."""

    def __init__(self, state: EmulatorState, chat: ChatState) -> None:
        self._state = state
        self.chat = chat

    @property
    def id(self) -> int:
        """The chat id (negative)."""
        return self.chat.id

    def member(self, user_id: int, first_name: str, **profile: Any) -> MemberHandle:
        """Return a handle for a member (created on first use)."""
        user = self._state.users.get(user_id)
        if user is None:
            user = self._state.users[user_id] = UserInfo(user_id, first_name, **profile)
        return MemberHandle(self._state, user, self.chat)


class ChannelHandle:
    """A channel where the bot is an administrator."""

    def __init__(self, state: EmulatorState, chat: ChatState) -> None:
        self._state = state
        self.chat = chat

    async def post(self, text: str) -> JsonDict:
        """Publish a post -> channel_post update."""
        message = self._state.new_message(self.chat, None)
        message.update({"sender_chat": self.chat.to_json(), "text": text})
        self._state.store_message(self.chat, message)
        await self._state.push_update("channel_post", message)
        return message
