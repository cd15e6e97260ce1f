"""Telegram's HTML parse mode: markup to plain text plus UTF-16 message entities.

The parser follows TDLib's `parse_html` (the code behind the Bot API server), so
error texts and byte offsets match what the real API answers. `strict=True` adds
the documented rule TDLib does not enforce: a bare `&` or `>` must be escaped too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

JsonDict = dict[str, Any]

TAG_ENTITY_TYPES: Final[dict[str, str]] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES: Final[dict[str, str]] = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE: Final = re.compile(r"&(?:#[xX]([0-9a-fA-F]+)|#([0-9]+)|([a-zA-Z]+));?")
_SPACES: Final = frozenset(" \t\r\n\v\f")
_COMMAND_RE: Final = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


class EntityParseError(ValueError):
    """Raised with TDLib's wording when HTML markup can't be parsed."""


def utf16_len(text: str) -> int:
    """Return the length of `text` in UTF-16 code units, the unit of entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def decode_entity(source: str, index: int) -> tuple[str, int] | None:
    """Decode an HTML entity at `source[index]`; return (character, next index) or None."""
    match = _ENTITY_RE.match(source, index)
    if match is None:
        return None
    hex_code, dec_code, name = match.groups()
    if name is not None:
        char = _NAMED_ENTITIES.get(name)
        return None if char is None else (char, match.end())
    code = int(hex_code, 16) if hex_code is not None else int(dec_code)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end()


@dataclass
class _OpenTag:
    name: str
    argument: str
    offset: int


class _HtmlParser:
    def __init__(self, source: str, *, strict: bool) -> None:
        self.src = source
        self.strict = strict
        self.i = 0
        self.out: list[str] = []
        self.pos16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[JsonDict] = []

    def run(self) -> tuple[str, list[JsonDict]]:
        while self.i < len(self.src):
            char = self.src[self.i]
            if char == "<":
                self._tag()
            elif char == "&":
                self._ampersand()
            elif char == ">" and self.strict:
                raise self._unescaped(">", "&gt;")
            else:
                self._emit(char)
                self.i += 1
        if self.stack:
            name = self.stack[-1].name
            raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{name}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def _emit(self, char: str) -> None:
        self.out.append(char)
        self.pos16 += 2 if ord(char) > 0xFFFF else 1

    def _byte_offset(self, index: int) -> int:
        return len(self.src[:index].encode())

    def _unescaped(self, char: str, entity: str) -> EntityParseError:
        where = self._byte_offset(self.i)
        return EntityParseError(
            f'Character "{char}" must be escaped as "{entity}" at byte offset {where}'
        )

    def _at(self, index: int) -> str:
        return self.src[index] if index < len(self.src) else ""

    def _skip_spaces(self, index: int) -> int:
        while self._at(index) in _SPACES and index < len(self.src):
            index += 1
        return index

    def _ampersand(self) -> None:
        decoded = decode_entity(self.src, self.i)
        if decoded is None:
            if self.strict:
                raise self._unescaped("&", "&amp;")
            self._emit("&")
            self.i += 1
            return
        char, self.i = decoded
        self._emit(char)

    def _tag(self) -> None:
        begin = self.i
        if self._at(begin + 1) == "/":
            self._end_tag(begin)
        else:
            self._start_tag(begin)

    def _start_tag(self, begin: int) -> None:
        at = self._byte_offset(begin)
        i = begin + 1
        while i < len(self.src) and self.src[i] not in _SPACES and self.src[i] != ">":
            i += 1
        if i >= len(self.src):
            raise EntityParseError(f"Unclosed start tag at byte offset {at}")
        name = self.src[begin + 1 : i].lower()
        if name not in TAG_ENTITY_TYPES:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {at}')
        argument = ""
        while self._at(i) != ">":
            i = self._skip_spaces(i)
            if self._at(i) == ">":
                break
            attribute, value, i = self._attribute(name, i, at)
            argument = _tag_argument(name, attribute, value) or argument
        if name == "span" and argument != "spoiler":
            raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
        self.stack.append(_OpenTag(name, argument, self.pos16))
        self.i = i + 1

    def _attribute(self, tag: str, i: int, at: int) -> tuple[str, str, int]:
        start = i
        while i < len(self.src) and self.src[i] not in _SPACES and self.src[i] not in "=>":
            i += 1
        attribute = self.src[start:i]
        if not attribute:
            raise EntityParseError(f'Empty attribute name in the tag "{tag}" at byte offset {at}')
        i = self._skip_spaces(i)
        if (tag, attribute) == ("blockquote", "expandable") and self._at(i) != "=":
            return attribute, "", i
        if self._at(i) != "=":
            raise EntityParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                f"at byte offset {at}"
            )
        i = self._skip_spaces(i + 1)
        if i >= len(self.src):
            raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {at}')
        value, i = self._attribute_value(i)
        if i >= len(self.src):
            raise EntityParseError(f"Unclosed start tag at byte offset {at}")
        return attribute, value, i

    def _attribute_value(self, i: int) -> tuple[str, int]:
        quote = self.src[i]
        if quote not in "'\"":
            start = i
            while self._at(i).isascii() and (self._at(i).isalnum() or self._at(i) in ".-"):
                i += 1
            if i < len(self.src) and self.src[i] not in _SPACES and self.src[i] != ">":
                where = self._byte_offset(start)
                raise EntityParseError(f"Unexpected end of name token at byte offset {where}")
            return self.src[start:i].lower(), i
        i += 1
        chars: list[str] = []
        while i < len(self.src) and self.src[i] != quote:
            decoded = decode_entity(self.src, i) if self.src[i] == "&" else None
            if decoded is None:
                chars.append(self.src[i])
                i += 1
            else:
                char, i = decoded
                chars.append(char)
        return "".join(chars), min(i + 1, len(self.src))

    def _end_tag(self, begin: int) -> None:
        at = self._byte_offset(begin)
        if not self.stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {at}")
        i = begin + 2
        while i < len(self.src) and self.src[i] not in _SPACES and self.src[i] != ">":
            i += 1
        end_name = self.src[begin + 2 : i].lower()
        i = self._skip_spaces(i)
        if self._at(i) != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {at}")
        tag = self.stack.pop()
        if end_name and end_name != tag.name:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {at}, expected "</{tag.name}>", '
                f'found "</{end_name}>"'
            )
        self._add_entity(tag)
        self.i = i + 1

    def _add_entity(self, tag: _OpenTag) -> None:
        length = self.pos16 - tag.offset
        if length == 0:
            return
        entity: JsonDict = {"type": TAG_ENTITY_TYPES[tag.name], "offset": tag.offset}
        entity["length"] = length
        if tag.name == "a":
            if not tag.argument:
                return
            entity["url"] = tag.argument
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.argument
        elif tag.name == "blockquote" and tag.argument == "expandable":
            entity["type"] = "expandable_blockquote"
        elif tag.name == "pre":
            self._merge_code_language(entity)
        elif tag.name == "code" and tag.argument:
            entity["language"] = tag.argument
        self.entities.append(entity)

    def _merge_code_language(self, pre: JsonDict) -> None:
        for entity in self.entities:
            same_range = (entity["offset"], entity["length"]) == (pre["offset"], pre["length"])
            if entity["type"] == "code" and same_range and "language" in entity:
                pre["language"] = entity["language"]
                self.entities.remove(entity)
                return


def _tag_argument(tag: str, attribute: str, value: str) -> str | None:
    if tag == "a" and attribute == "href":
        return value
    if tag == "span" and attribute == "class" and value.startswith("tg-"):
        return value[3:]
    if tag == "code" and attribute == "class" and value.startswith("language-"):
        return value[len("language-") :]
    if tag == "tg-emoji" and attribute == "emoji-id":
        return value
    if tag == "blockquote" and attribute == "expandable":
        return "expandable"
    return None


def parse_html(source: str, *, strict: bool = True) -> tuple[str, list[JsonDict]]:
    """Parse Telegram HTML into (plain text, entities); raise EntityParseError if invalid."""
    return _HtmlParser(source, strict=strict).run()


def trim_formatted(text: str, entities: list[JsonDict]) -> tuple[str, list[JsonDict]]:
    """Strip leading/trailing whitespace as Telegram does, shifting and clipping entities."""
    stripped = text.strip()
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    size = utf16_len(stripped)
    kept: list[JsonDict] = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, size)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def command_entities(text: str) -> list[JsonDict]:
    """Detect `bot_command` entities the way Telegram clients mark `/start` in a message."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group()),
        }
        for match in _COMMAND_RE.finditer(text)
    ]
