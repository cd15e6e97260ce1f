"""Bot API methods about chats, callback queries and files."""

from __future__ import annotations

from typing import Final

from bot.emulator.entities import JsonDict
from bot.emulator.errors import bad_request
from bot.emulator.params import Params
from bot.emulator.records import CallbackAnswer
from bot.emulator.state import EmulatorState, MethodHandler

CHAT_ACTIONS: Final = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
QUERY_EXPIRED: Final = "query is too old and response timeout expired or query ID is invalid"
ALL_GIFTS: Final[JsonDict] = {
    "unlimited_gifts": True,
    "limited_gifts": True,
    "unique_gifts": True,
    "premium_subscription": True,
    "gifts_from_channels": True,
}


async def answer_callback_query(state: EmulatorState, p: Params) -> bool:
    """answerCallbackQuery: record the answer; a query can be answered only once."""
    query_id = p.require_str("callback_query_id", "query_id is empty")
    query = state.callback_queries.get(query_id)
    if query is None or query["answered"]:
        raise bad_request(QUERY_EXPIRED)
    query["answered"] = True
    state.callback_answers.append(
        CallbackAnswer(
            callback_query_id=query_id,
            text=p.get_str("text"),
            show_alert=p.get_bool("show_alert"),
            url=p.get_str("url"),
            cache_time=p.get_int("cache_time") or 0,
            data=query["data"],
            user_id=query["user_id"],
            at=state.clock(),
        )
    )
    await state.notify()
    return True


async def send_chat_action(state: EmulatorState, p: Params) -> bool:
    """sendChatAction: check the chat and the action name, then record it."""
    chat = state.require_chat(p.chat_id())
    action = p.get_str("action")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    state.check_writable(chat)
    state.chat_actions.append((chat.id, action))
    return True


async def get_chat(state: EmulatorState, p: Params) -> JsonDict:
    """getChat: basic ChatFullInfo for a known chat."""
    chat = state.require_chat(p.chat_id())
    info = chat.to_json()
    info.update({"accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": ALL_GIFTS})
    return info


async def get_file(state: EmulatorState, p: Params) -> JsonDict:
    """getFile: resolve a file_id to a downloadable file_path."""
    stored = state.files.get(p.require_str("file_id", "file_id is empty"))
    if stored is None:
        raise bad_request("wrong file_id or the file is temporarily unavailable")
    return stored.to_json()


async def set_chat_menu_button(state: EmulatorState, p: Params) -> bool:
    """setChatMenuButton: remember the menu button per chat (None means the default)."""
    chat_id = p.get_int("chat_id")
    if chat_id is not None:
        state.require_chat(chat_id)
    button = p.get_json("menu_button") or {"type": "default"}
    if not isinstance(button, dict) or "type" not in button:
        raise bad_request("can't parse menu button JSON object")
    state.menu_buttons[chat_id] = button
    return True


async def get_chat_menu_button(state: EmulatorState, p: Params) -> JsonDict:
    """getChatMenuButton: return what setChatMenuButton stored."""
    chat_id = p.get_int("chat_id")
    fallback = state.menu_buttons.get(None, {"type": "commands"})
    return state.menu_buttons.get(chat_id, fallback)


METHODS: dict[str, MethodHandler] = {
    "answerCallbackQuery": answer_callback_query,
    "sendChatAction": send_chat_action,
    "getChat": get_chat,
    "getFile": get_file,
    "setChatMenuButton": set_chat_menu_button,
    "getChatMenuButton": get_chat_menu_button,
}
