"""Telegram's content limits: text/caption length, parse modes and reply markup checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from bot.emulator.entities import EntityParseError, JsonDict, parse_html, trim_formatted, utf16_len
from bot.emulator.errors import ApiError, bad_request

MAX_TEXT_LENGTH: Final = 4096
MAX_CAPTION_LENGTH: Final = 1024
MAX_CALLBACK_DATA_BYTES: Final = 64
MAX_UPLOAD_BYTES: Final = 50 * 1024 * 1024
PARSE_MODES: Final = frozenset({"html", "markdown", "markdownv2"})
INLINE_BUTTON_ACTIONS: Final = frozenset(
    {
        "callback_data",
        "url",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)


@dataclass(frozen=True)
class FormattedText:
    """Text after entity parsing and trimming, as Telegram stores it."""

    text: str
    entities: list[JsonDict]

    @property
    def length(self) -> int:
        """Return the length Telegram checks limits against (UTF-16 code units)."""
        return utf16_len(self.text)


def format_text(
    raw: str,
    parse_mode: str | None,
    entities: Any,
    *,
    strict_html: bool,
) -> FormattedText:
    """Apply `parse_mode` (or explicit `entities`) to `raw`, then trim like Telegram."""
    mode = (parse_mode or "").lower()
    if mode and mode not in PARSE_MODES:
        raise bad_request("unsupported parse_mode")
    parsed: list[JsonDict] = []
    if mode == "html":
        try:
            raw, parsed = parse_html(raw, strict=strict_html)
        except EntityParseError as error:
            raise bad_request(f"can't parse entities: {error}") from error
    elif entities is not None:
        if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
            raise bad_request("can't parse entities JSON object")
        parsed = list(entities)
    text, kept = trim_formatted(raw, parsed)
    return FormattedText(text, kept)


def check_message_text(text: FormattedText) -> None:
    """Enforce 1-4096 characters of message text after entity parsing."""
    if not text.text:
        raise bad_request("message text is empty")
    if text.length > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")


def check_caption(caption: FormattedText) -> None:
    """Enforce at most 1024 characters of caption after entity parsing."""
    if caption.length > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")


def check_reply_markup(markup: Any, *, inline_only: bool = False) -> JsonDict | None:
    """Validate a decoded `reply_markup` object and return it; raise ApiError 400 if invalid."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        _check_rows(markup["inline_keyboard"], "inline_keyboard", "InlineKeyboardMarkup")
        for row in markup["inline_keyboard"]:
            for button in row:
                _check_inline_button(button)
        return markup
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in markup:
        _check_rows(markup["keyboard"], "keyboard", "ReplyKeyboardMarkup")
        for row in markup["keyboard"]:
            for button in row:
                _check_keyboard_button(button)
        return markup
    if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def _check_rows(rows: Any, field: str, kind: str) -> None:
    if not isinstance(rows, list):
        raise bad_request(f'Field "{field}" of the {kind} must be an Array')
    for row in rows:
        if not isinstance(row, list):
            raise bad_request(f'Field "{field}" of the {kind} must be an Array of Arrays')


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise _button_error("InlineKeyboardButton must be an Object")
    if not isinstance(button.get("text"), str):
        raise _button_error('Field "text" must be of type String')
    actions = INLINE_BUTTON_ACTIONS.intersection(button)
    if not actions:
        raise _button_error("Text buttons are unallowed in the inline keyboard")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")


def _check_keyboard_button(button: Any) -> None:
    if isinstance(button, str):
        return
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request('can\'t parse keyboard button: Field "text" must be of type String')


def _button_error(reason: str) -> ApiError:
    return bad_request(f"can't parse inline keyboard button: {reason}")
