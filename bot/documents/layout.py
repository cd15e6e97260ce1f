"""Shared page layout of the official documents: title, addressee, fields, footer.

A document is described here as a list of blocks and laid out by Typst (`official.typ`,
compiled in Rust, in milliseconds): fpdf2 took about 50 ms of CPU per document under the
interpreter lock even with its fonts parsed once (benchmarks/README.md, "documents"),
while Typst's compile releases the lock and keeps what it laid out before (the fonts, the
template, unchanged paragraphs) between documents of the process.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.documents.text import Lang, clean_text, format_datetime
from bot.documents.typesetting import compile_document, supported_code_points, widest_word_em


@dataclass(frozen=True)
class FooterTexts:
    """Per-language wording of the footer every document carries."""

    case_label: str
    channel: str
    page: str


FOOTERS: dict[Lang, FooterTexts] = {
    "kk": FooterTexts(
        case_label="Іс нөмірі",
        channel="Проактивті арна арқылы қалыптастырылды",
        page="Бет",
    ),
    "ru": FooterTexts(
        case_label="Номер дела",
        channel="Сформировано через проактивный канал",
        page="Стр.",
    ),
}


NARROWEST_CELL_EM = 15.8
"""A word narrower than this fits every cell of official.typ (the narrowest: a field's
label, 56 mm at 10 pt = 15.87 em); a text with a wider word is sent marked `long`, and
the template measures its words to break those wider than their cell."""

Text = str | dict[str, str]


class OfficialPdf:
    """An A4 page set up like an official paper; every string drawn is cleaned first."""

    def __init__(
        self, *, language: Lang, title: str, case_number: str, generated_at: datetime
    ) -> None:
        self._supported = supported_code_points()
        texts = FOOTERS[language]
        # The creation date fixed by the input (and the /ID Typst derives from the
        # content) keeps the bytes, and so the SHA-256 stored with the case, identical
        # for identical input.
        self._created = generated_at
        self._document: dict[str, Any] = {
            "language": language,
            "title": self.clean(title),
            "footer": self.clean(
                f"{texts.case_label}: {case_number} · {texts.channel} · "
                f"{format_datetime(generated_at, language)}"
            ),
            "page": f"{texts.page} {{page}} / {{pages}}",
            "blocks": [],
        }

    def clean(self, text: str, *, multiline: bool = False) -> str:
        """Return `text` without control characters and with missing glyphs replaced."""
        return clean_text(text, self._supported, multiline=multiline)

    def addressee(self, lines: Sequence[tuple[str, str]]) -> None:
        """The top-right block: each value with its small form caption under it."""
        rows = [(self._cell(value), self._cell(caption)) for value, caption in lines]
        self._add("addressee", rows=rows)

    def heading(self, title: str, subtitle: str = "") -> None:
        """The centred document title and an optional smaller line under it."""
        self._add("heading", title=self._cell(title), subtitle=self._cell(subtitle))

    def paragraph(self, text: str, *, multiline: bool = False, indent: bool = True) -> None:
        """A justified paragraph with a first-line indent, like a typed letter."""
        body = self.clean(text, multiline=multiline)
        self._add("paragraph", text=self._mark("\u2003\u2003" + body if indent else body))

    def fields(self, rows: Sequence[tuple[str, str]]) -> None:
        """Label/value rows in two columns; a long value wraps (and pages) in its column."""
        self._add("fields", rows=[(self._cell(label), self._cell(value)) for label, value in rows])

    def closing(self, left: str, right: str) -> None:
        """The closing line: date on the left, the signer on the right."""
        self._add("closing", left=self._cell(left), right=self._cell(right))

    def signature(self, line: str, confirmation: str) -> None:
        """The signature line on the right and, under it, the electronic confirmation."""
        self._add("signature", line=self._cell(line), confirmation=self._cell(confirmation))

    def render(self) -> bytes:
        """Return the finished document."""
        return compile_document(json.dumps(self._document, ensure_ascii=False), self._created)

    def _cell(self, text: str) -> Text:
        return self._mark(self.clean(text))

    @staticmethod
    def _mark(text: str) -> Text:
        """`text`, or `{"long": text}` when a word of it may not fit its cell."""
        return {"long": text} if widest_word_em(text) > NARROWEST_CELL_EM else text

    def _add(self, kind: str, **fields: object) -> None:
        self._document["blocks"].append({"kind": kind, **fields})
