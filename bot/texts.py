"""Message catalogs (gettext .po files in `bot/locales`) and safe rendering.

Keys are dotted msgids (`consent.agree_button`). Every placeholder value is HTML-escaped
here, so user-supplied names and answers can never break `parse_mode=HTML` or inject
markup; the catalog text itself may use Telegram's HTML tags.

A placeholder may name a grammatical case, `{deadline:dat}` or `{child_name:dat}`: the
Kazakh catalog gets the case ending by vowel harmony (`bot.grammar.kk_case`), the
Russian one a declined name when the value is a `Person` whose sex is known.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Formatter

from babel.messages.pofile import read_po

from bot.domain.identifiers import Sex
from bot.domain.language import DEFAULT_LANG as DEFAULT_LANG
from bot.domain.language import Lang as Lang
from bot.grammar import Case, kk_case, ru_name

LOCALES_DIR = Path(__file__).parent / "locales"


class Raw(str):
    """A placeholder value that is already safe HTML (e.g. a rendered sub-text)."""


class Person(str):
    """A full name that knows the person's sex, so Russian templates can decline it."""

    sex: Sex | None

    def __new__(cls, full_name: str, sex: Sex | None) -> Person:
        person = super().__new__(cls, full_name)
        person.sex = sex
        return person


class _Value:
    """A placeholder value as a template uses it: inflected if asked, then escaped."""

    def __init__(self, lang: Lang, value: object) -> None:
        self._lang, self._value = lang, value

    def __format__(self, spec: str) -> str:
        value = self._value
        if isinstance(value, Raw):
            return value
        text = str(value)
        if spec:
            case = Case(spec)
            if self._lang is Lang.KK:
                text = kk_case(text, case)
            elif isinstance(value, Person):
                text = ru_name(text, case, value.sex)
        return html.escape(text, quote=False)


@dataclass(frozen=True)
class Catalog:
    lang: Lang
    messages: Mapping[str, str]

    def text(self, key: str, /, **params: object) -> str:
        template = self.messages[key]
        return template.format(**{k: _Value(self.lang, v) for k, v in params.items()})


def load_catalog(lang: Lang, folder: Path = LOCALES_DIR) -> Catalog:
    """Read `<folder>/<lang>/LC_MESSAGES/messages.po`; untranslated entries are an error."""
    path = folder / lang.value / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        po = read_po(handle, locale=lang.value)
    messages: dict[str, str] = {}
    for message in po:
        if not message.id:
            continue
        if not message.string:
            raise ValueError(f"{path}: {message.id!r} has no translation")
        messages[str(message.id)] = str(message.string)
    return Catalog(lang, messages)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


class Texts:
    """Both catalogs, loaded once at start."""

    def __init__(self, folder: Path = LOCALES_DIR) -> None:
        self._catalogs = {lang: load_catalog(lang, folder) for lang in Lang}

    def __call__(self, lang: Lang | str, key: str, /, **params: object) -> str:
        return self._catalogs[Lang(lang)].text(key, **params)

    def catalog(self, lang: Lang) -> Catalog:
        return self._catalogs[lang]


def count_key(base: str, n: int) -> str:
    """`<base>_one`, `_few` or `_many` for the number `n`, by the Russian rule.

    Russian needs the three forms ("1 день", "2 дня", "5 дней"); Kazakh keeps the noun
    singular after a number ("5 күн"), so its catalog gives the same text to all three.
    """
    if n % 10 == 1 and n % 100 != 11:
        return f"{base}_one"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return f"{base}_few"
    return f"{base}_many"


def parse_lang(code: str | None) -> Lang | None:
    """Map a stored or Telegram language code to one of ours, or None."""
    if not code:
        return None
    prefix = code.split("-")[0].lower()
    return Lang(prefix) if prefix in Lang._value2member_map_ else None
