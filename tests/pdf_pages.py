"""The documents as fpdf2 rendered them before Typst, their pages as lines of ink, and
the glyphs their embedded fonts draw each character with.

Shared by tests/unit/test_document_pages.py and benchmarks/documents.py: the reference
that the Typst layout (bot.documents.layout) must match and beat.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from PIL import Image
from pypdf import PdfReader

from bot.documents import layout
from tests.fpdf_layout import FpdfOfficialPdf


@contextmanager
def fpdf_reference() -> Iterator[None]:
    """Render documents with the fpdf2 layout of before (tests/fpdf_layout.py)."""
    with mock.patch.object(layout, "OfficialPdf", FpdfOfficialPdf):
        yield


def can_rasterize() -> bool:
    return shutil.which("pdftoppm") is not None


def page_images(document: bytes, dpi: int = 100) -> list[Image.Image]:
    """Rasterize every page with poppler's pdftoppm, in grey."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "document.pdf"
        source.write_bytes(document)
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-gray", str(source), str(Path(folder) / "page")],
            check=True,
            capture_output=True,
        )
        pages = []
        for image_file in sorted(Path(folder).glob("page-*.pgm")):
            with Image.open(image_file) as image:
                image.load()
                pages.append(image)
        return pages


@dataclass(frozen=True)
class InkLine:
    """One band of rows with ink (a line of text, or a rule) and its horizontal extent."""

    top: int
    bottom: int
    left: int
    right: int


def ink_lines(page: Image.Image, threshold: int = 160) -> list[InkLine]:
    """The bands of a page's rows that have a pixel darker than `threshold`, top to bottom."""
    width, height = page.size
    ink = page.tobytes().translate(bytes(1 if value < threshold else 0 for value in range(256)))
    lines: list[InkLine] = []
    top: int | None = None
    left, right = width, -1
    for y in range(height + 1):
        row = ink[y * width : (y + 1) * width]
        first = row.find(1)
        if first >= 0:
            top = y if top is None else top
            left, right = min(left, first), max(right, row.rfind(1))
        elif top is not None:
            lines.append(InkLine(top, y - 1, left, right))
            top, left, right = None, width, -1
    return lines


@dataclass(frozen=True)
class EmbeddedFont:
    """A font program embedded in a PDF, and which of its glyphs stands for which text."""

    program: TTFont
    glyphs: dict[str, str]
    """Character (as the ToUnicode map names it) -> name of its glyph in `program`."""

    def has_outline(self, char: str) -> bool:
        """Whether `char` is drawn by a glyph with contours (or made of other glyphs)."""
        name = self.glyphs.get(char)
        if name is None:
            return False
        glyph = self.program["glyf"][name]
        return bool(glyph.numberOfContours)


_HEX = "<([0-9A-Fa-f]+)>"
_BFCHAR = re.compile(rf"{_HEX}\s*{_HEX}")
_BFRANGE = re.compile(rf"{_HEX}\s*{_HEX}\s*{_HEX}")


def _unicode(hex_text: str) -> str:
    return bytes.fromhex(hex_text).decode("utf-16-be")


def _to_unicode(cmap: str) -> dict[int, str]:
    """Character code -> text, from the bfchar and bfrange sections of a ToUnicode CMap."""
    codes: dict[int, str] = {}
    for section in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
        for code, text in _BFCHAR.findall(section):
            codes[int(code, 16)] = _unicode(text)
    for section in re.findall(r"beginbfrange(.*?)endbfrange", cmap, re.S):
        for first, last, text in _BFRANGE.findall(section):
            start = ord(_unicode(text))
            for offset, code in enumerate(range(int(first, 16), int(last, 16) + 1)):
                codes[code] = chr(start + offset)
    return codes


def _cid_to_gid(descendant: Any) -> dict[int, int] | None:
    """The CIDToGIDMap of a CIDFontType2 (None for /Identity: the CID is the glyph id)."""
    mapping = descendant.get("/CIDToGIDMap", "/Identity")
    if str(mapping) == "/Identity":
        return None
    data = mapping.get_object().get_data()
    return {cid: int.from_bytes(data[2 * cid : 2 * cid + 2]) for cid in range(len(data) // 2)}


def embedded_fonts(document: bytes) -> dict[str, EmbeddedFont]:
    """The TrueType programs embedded in the PDF (Identity-H encoded), by base font name
    without the subset tag."""
    fonts: dict[str, EmbeddedFont] = {}
    for page in PdfReader(io.BytesIO(document)).pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            stream = descendant["/FontDescriptor"]["/FontFile2"].get_object().get_data()
            program = TTFont(io.BytesIO(stream))
            order = program.getGlyphOrder()
            gids = _cid_to_gid(descendant)
            glyphs = {
                text: order[cid if gids is None else gids[cid]]
                for cid, text in _to_unicode(
                    font["/ToUnicode"].get_object().get_data().decode()
                ).items()
            }
            name = str(font["/BaseFont"]).lstrip("/").split("+")[-1]
            fonts[name] = EmbeddedFont(program, glyphs)
    return fonts
