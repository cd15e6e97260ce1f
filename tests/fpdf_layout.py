"""The official documents' page as fpdf2 laid it out before Typst: the reference.

This is bot/documents/layout.py as it was, with fpdf's own font loading (`add_font` parses
the three Roboto files for every document). tests/unit/test_document_fonts.py checks that
the Typst pages put every line where these put it, and benchmarks/documents.py measures
Typst against it in the same run. Not used by the service.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import CoreFont, TTFFont

from bot.documents.layout import FOOTERS
from bot.documents.text import Lang, clean_text, format_datetime
from bot.documents.typesetting import FONT_FILES

FONT_FAMILY = "roboto"

# The page-count alias contains a WORD JOINER, which clean_text() always strips, so no
# user-supplied text can ever be mistaken for it (fpdf's default "{nb}" could).
_PAGES_ALIAS = "{\u2060nb}"
_TEXT = 11
_SMALL = 8
_LINE = 6.0
_SMALL_LINE = 4.0
_GREY = 90
_LABEL_WIDTH = 58.0
_ADDRESSEE_WIDTH = 85.0


def _code_points(font: CoreFont | TTFFont) -> frozenset[int]:
    if not isinstance(font, TTFFont):
        raise TypeError("documents need an embedded TrueType font")
    return frozenset(font.cmap)


class FpdfOfficialPdf(FPDF):
    """An A4 page set up like an official paper; every string drawn is cleaned first."""

    def __init__(
        self, *, language: Lang, title: str, case_number: str, generated_at: datetime
    ) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        for style, path in FONT_FILES.items():
            self.add_font(FONT_FAMILY, style, path)
        self.set_font(FONT_FAMILY, size=_TEXT)
        self._supported = _code_points(self.fonts[FONT_FAMILY])
        texts = FOOTERS[language]
        self._footer_text = self.clean(
            f"{texts.case_label}: {case_number} · {texts.channel} · "
            f"{format_datetime(generated_at, language)}"
        )
        self._page_text = f"{texts.page} {{page}} / {_PAGES_ALIAS}"
        self.str_alias_nb_pages = _PAGES_ALIAS
        self.set_margins(left=25, top=20, right=15)
        self.set_auto_page_break(auto=True, margin=25)
        self.set_title(self.clean(title))
        self.set_lang(language)
        self.set_creator("homeschool-bot")
        # A fixed creation date (and the /ID fpdf derives from the content) keeps the bytes,
        # and so the SHA-256 stored with the case, identical for identical input.
        self.set_creation_date(generated_at)
        self.add_page()

    def clean(self, text: str, *, multiline: bool = False) -> str:
        """Return `text` without control characters and with missing glyphs replaced."""
        return clean_text(text, self._supported, multiline=multiline)

    def footer(self) -> None:
        """Draw the case number, channel, generation time and page number on each page."""
        self.set_y(-20)
        self.set_draw_color(_GREY)
        self.line(self.l_margin, self.y, self.w - self.r_margin, self.y)
        self.set_font(FONT_FAMILY, size=_SMALL)
        self.set_text_color(_GREY)
        page = self._page_text.replace("{page}", str(self.page_no()))
        self.cell(0, _SMALL_LINE, page, align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._block(0, _SMALL_LINE, self._footer_text, Align.L)
        self.set_text_color(0)
        self.set_font(FONT_FAMILY, size=_TEXT)

    def addressee(self, lines: Sequence[tuple[str, str]]) -> None:
        """Draw the top-right block: each value with its small form caption under it."""
        x = self.w - self.r_margin - _ADDRESSEE_WIDTH
        for value, caption in lines:
            self.set_x(x)
            self.set_font(FONT_FAMILY, size=_TEXT)
            self._block(_ADDRESSEE_WIDTH, _LINE, self.clean(value), Align.L)
            if caption:
                self.set_x(x)
                self._small(_ADDRESSEE_WIDTH, caption)
            self.ln(2)
        self.ln(8)

    def heading(self, title: str, subtitle: str = "") -> None:
        """Draw the centred document title and an optional smaller line under it."""
        self.set_font(FONT_FAMILY, "B", size=14)
        self._block(0, 8, self.clean(title), Align.C)
        if subtitle:
            self.set_font(FONT_FAMILY, size=10)
            self._block(0, 5, self.clean(subtitle), Align.C)
        self.set_font(FONT_FAMILY, size=_TEXT)
        self.ln(6)

    def paragraph(self, text: str, *, multiline: bool = False, indent: bool = True) -> None:
        """Draw a justified paragraph with a first-line indent, like a typed letter."""
        self.set_font(FONT_FAMILY, size=_TEXT)
        body = self.clean(text, multiline=multiline)
        if indent:
            body = "\u2003\u2003" + body
        self._block(0, _LINE, body, Align.J)
        self.ln(2)

    def fields(self, rows: Sequence[tuple[str, str]]) -> None:
        """Draw label/value rows in two columns; a long value wraps (and pages) in its column."""
        for label, value in rows:
            if self.will_page_break(2 * _LINE):
                self.add_page()
            top_page, top_y = self.page, self.y
            self.set_font(FONT_FAMILY, size=10)
            self.set_text_color(_GREY)
            self._block(_LABEL_WIDTH, 5, self.clean(label), Align.L)
            label_end = (self.page, self.y)
            self.page, self.y = top_page, top_y
            self.set_x(self.l_margin + _LABEL_WIDTH)
            self.set_text_color(0)
            self.set_font(FONT_FAMILY, size=_TEXT)
            self._block(0, 5, self.clean(value), Align.L)
            self.page, self.y = max(label_end, (self.page, self.y))
            self.ln(2.5)
        self.ln(2)

    def closing(self, left: str, right: str) -> None:
        """Draw the closing line: date on the left, the signer on the right."""
        self.ln(6)
        if self.will_page_break(_LINE):
            self.add_page()
        y = self.y
        half = (self.w - self.l_margin - self.r_margin) / 2
        self._block(half, _LINE, self.clean(left), Align.L)
        end = self.y
        self.set_xy(self.l_margin + half, y)
        self._block(half, _LINE, self.clean(right), Align.R)
        self.y = max(end, self.y)

    def signature(self, line: str, confirmation: str) -> None:
        """Draw the signature line on the right and, under it, the electronic confirmation."""
        self.ln(4)
        if self.will_page_break(3 * _LINE):
            self.add_page()
        self._block(0, _LINE, self.clean(line), Align.R)
        self.ln(2)
        self.set_font(FONT_FAMILY, size=10)
        self._block(0, 5, self.clean(confirmation), Align.R)
        self.set_font(FONT_FAMILY, size=_TEXT)

    def render(self) -> bytes:
        """Return the finished document."""
        return bytes(self.output())

    def _block(self, width: float, height: float, text: str, align: Align) -> None:
        """Draw wrapped text and move to the left margin of the next line."""
        self.multi_cell(width, height, text, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _small(self, width: float, text: str) -> None:
        self.set_font(FONT_FAMILY, "I", size=_SMALL)
        self.set_text_color(_GREY)
        self._block(width, _SMALL_LINE, self.clean(text), Align.L)
        self.set_text_color(0)
        self.set_font(FONT_FAMILY, size=_TEXT)
