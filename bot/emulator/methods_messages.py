"""Bot API methods that create, change or remove messages."""

from __future__ import annotations

import copy

from bot.emulator.entities import JsonDict
from bot.emulator.errors import bad_request
from bot.emulator.limits import (
    FormattedText,
    check_caption,
    check_message_text,
    check_reply_markup,
    format_text,
)
from bot.emulator.params import Params, UploadedFile
from bot.emulator.records import SentMessage, StoredFile
from bot.emulator.state import ChatState, EmulatorState, MethodHandler

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


def _format(state: EmulatorState, p: Params, text_field: str, entities_field: str) -> FormattedText:
    return format_text(
        p.get_str(text_field) or "",
        p.get_str("parse_mode"),
        p.get_json(entities_field),
        strict_html=state.strict_html,
    )


def _reply_target(chat: ChatState, p: Params) -> JsonDict | None:
    reply = p.get_json("reply_parameters") or {}
    message_id = reply.get("message_id") or p.get_int("reply_to_message_id")
    if not message_id:
        return None
    target = chat.messages.get(int(message_id))
    allow = reply.get("allow_sending_without_reply") or p.get_bool("allow_sending_without_reply")
    if target is None and not allow:
        raise bad_request("message to be replied not found")
    return target


def _finish_message(message: JsonDict, markup: JsonDict | None, reply_to: JsonDict | None) -> None:
    if reply_to is not None:
        message["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
    if markup is not None and "inline_keyboard" in markup:
        message["reply_markup"] = markup


async def _commit(
    state: EmulatorState, chat: ChatState, message: JsonDict, record: SentMessage
) -> JsonDict:
    state.store_message(chat, message)
    state.sent.append(record)
    await state.notify()
    return copy.deepcopy(message)


def _gate(state: EmulatorState, chat: ChatState) -> None:
    state.check_writable(chat)
    state.limiter.acquire(chat.id, private=chat.is_private)


async def send_message(state: EmulatorState, p: Params) -> JsonDict:
    """sendMessage: validate text, markup and limits, then store the bot message."""
    raw = p.require_str("text", "message text is empty")
    markup = check_reply_markup(p.get_json("reply_markup"))
    chat = state.require_chat(p.chat_id())
    reply_to = _reply_target(chat, p)
    text = _format(state, p, "text", "entities")
    check_message_text(text)
    _gate(state, chat)
    message = state.new_message(chat, state.bot)
    message["text"] = text.text
    if text.entities:
        message["entities"] = text.entities
    _finish_message(message, markup, reply_to)
    record = SentMessage(
        message_id=message["message_id"],
        chat_id=chat.id,
        date=message["date"],
        method="sendMessage",
        text=text.text,
        raw_text=raw,
        parse_mode=p.get_str("parse_mode"),
        entities=text.entities,
        reply_markup=markup,
        reply_to_message_id=reply_to["message_id"] if reply_to else None,
    )
    return await _commit(state, chat, message, record)


def _document_input(state: EmulatorState, p: Params) -> UploadedFile | StoredFile:
    if "document" in p.files:
        return p.files["document"]
    value = p.get_str("document")
    if not value:
        raise bad_request("there is no document in the request")
    if value.startswith("attach://"):
        upload = p.files.get(value.removeprefix("attach://"))
        if upload is None:
            raise bad_request("there is no document in the request")
        return upload
    stored = state.files.get(value)
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    return stored


async def send_document(state: EmulatorState, p: Params) -> JsonDict:
    """sendDocument: keep the uploaded bytes so tests can read the file."""
    chat = state.require_chat(p.chat_id())
    source = _document_input(state, p)
    if not source.data:
        raise bad_request("file must be non-empty")
    caption = _format(state, p, "caption", "caption_entities")
    check_caption(caption)
    markup = check_reply_markup(p.get_json("reply_markup"))
    reply_to = _reply_target(chat, p)
    _gate(state, chat)
    stored = (
        state.files.add(source.data, source.filename, kind="documents")
        if isinstance(source, UploadedFile)
        else source
    )
    message = state.new_message(chat, state.bot)
    message["document"] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_name": stored.filename,
        "mime_type": stored.mime_type,
        "file_size": len(stored.data),
    }
    if caption.text:
        message["caption"] = caption.text
    if caption.entities:
        message["caption_entities"] = caption.entities
    _finish_message(message, markup, reply_to)
    record = SentMessage(
        message_id=message["message_id"],
        chat_id=chat.id,
        date=message["date"],
        method="sendDocument",
        parse_mode=p.get_str("parse_mode"),
        entities=caption.entities,
        reply_markup=markup,
        caption=caption.text or None,
        document=stored.data,
        document_filename=stored.filename,
        document_mime_type=stored.mime_type,
        reply_to_message_id=reply_to["message_id"] if reply_to else None,
    )
    return await _commit(state, chat, message, record)


def _editable(state: EmulatorState, p: Params) -> tuple[ChatState, JsonDict, SentMessage]:
    if p.has("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    chat = state.require_chat(p.chat_id())
    message_id = p.get_int("message_id")
    message = chat.messages.get(message_id) if message_id else None
    if message is None or message_id is None:
        raise bad_request("message to edit not found")
    record = state.sent_message(chat.id, message_id)
    if record is None:
        raise bad_request("message can't be edited")
    return chat, message, record


async def _save_edit(state: EmulatorState, message: JsonDict, markup: JsonDict | None) -> JsonDict:
    if markup is None:
        message.pop("reply_markup", None)
    else:
        message["reply_markup"] = markup
    message["edit_date"] = state.now()
    await state.notify()
    return copy.deepcopy(message)


async def edit_message_text(state: EmulatorState, p: Params) -> JsonDict:
    """editMessageText: replace text (and inline keyboard), keeping the old text in history."""
    _chat, message, record = _editable(state, p)
    raw = p.require_str("text", "message text is empty")
    text = _format(state, p, "text", "entities")
    check_message_text(text)
    markup = check_reply_markup(p.get_json("reply_markup"), inline_only=True)
    if "text" not in message:
        raise bad_request("there is no text in the message to edit")
    unchanged = (message["text"], message.get("entities", [])) == (text.text, text.entities)
    if unchanged and message.get("reply_markup") == markup:
        raise bad_request(NOT_MODIFIED)
    record.history.append(record.text or "")
    record.text, record.raw_text, record.entities = text.text, raw, text.entities
    record.parse_mode, record.reply_markup = p.get_str("parse_mode"), markup
    message["text"] = text.text
    message.pop("entities", None)
    if text.entities:
        message["entities"] = text.entities
    return await _save_edit(state, message, markup)


async def edit_message_caption(state: EmulatorState, p: Params) -> JsonDict:
    """editMessageCaption: replace a document caption."""
    _chat, message, record = _editable(state, p)
    caption = _format(state, p, "caption", "caption_entities")
    check_caption(caption)
    markup = check_reply_markup(p.get_json("reply_markup"), inline_only=True)
    if "text" in message:
        raise bad_request("there is no caption in the message to edit")
    unchanged = message.get("caption", "") == caption.text
    if unchanged and message.get("reply_markup") == markup:
        raise bad_request(NOT_MODIFIED)
    record.history.append(record.caption or "")
    record.caption, record.reply_markup = caption.text or None, markup
    message.pop("caption", None)
    if caption.text:
        message["caption"] = caption.text
    return await _save_edit(state, message, markup)


async def edit_message_reply_markup(state: EmulatorState, p: Params) -> JsonDict:
    """editMessageReplyMarkup: replace or remove the inline keyboard."""
    _chat, message, record = _editable(state, p)
    markup = check_reply_markup(p.get_json("reply_markup"), inline_only=True)
    if message.get("reply_markup") == markup:
        raise bad_request(NOT_MODIFIED)
    record.reply_markup = markup
    return await _save_edit(state, message, markup)


async def delete_message(state: EmulatorState, p: Params) -> bool:
    """deleteMessage: remove a message from the chat; bot messages are marked deleted."""
    chat = state.require_chat(p.chat_id())
    message_id = p.get_int("message_id")
    if message_id is None or chat.messages.pop(message_id, None) is None:
        raise bad_request("message to delete not found")
    record = state.sent_message(chat.id, message_id)
    if record is not None:
        record.deleted = True
    await state.notify()
    return True


METHODS: dict[str, MethodHandler] = {
    "sendMessage": send_message,
    "sendDocument": send_document,
    "editMessageText": edit_message_text,
    "editMessageCaption": edit_message_caption,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
}
