"""Fonts parsed once per process: the same pages as fpdf's own loading, valid PDFs,
every Kazakh letter embedded as an outline, safe from several threads at once."""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from pypdf import PdfReader

from bot.documents import render_application, render_receipt
from tests.pdf_pages import can_rasterize, fpdf_own_fonts, page_pixels
from tests.unit.test_documents import (
    KAZAKH_LETTERS,
    make_application,
    make_receipt,
    pdf_text,
)

HOSTILE = "<b>Әлия</b> 👩‍👧‍👦 \x07Ким\u202e❤️ & {nb} %s ΑΩ ẞ ﬁ"
DOCUMENTS: dict[str, Callable[[], bytes]] = {
    "application kk": lambda: render_application(make_application(language="kk")),
    "application ru": lambda: render_application(make_application(language="ru")),
    "application hostile note": lambda: render_application(
        make_application(note=HOSTILE + "\n\n" + KAZAKH_LETTERS * 40)
    ),
    "receipt kk": lambda: render_receipt(make_receipt(language="kk")),
    "receipt ru, two pages": lambda: render_receipt(
        make_receipt(guardian_full_name="Ә" * 3000 + " " + "Қайратұлы " * 300)
    ),
}


def embedded_fonts(document: bytes) -> dict[str, TTFont]:
    """The TrueType programs embedded in the PDF, by base font name."""
    fonts: dict[str, TTFont] = {}
    for page in PdfReader(io.BytesIO(document)).pages:
        resources: Any = page["/Resources"]
        for ref in resources["/Font"].values():
            font = ref.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            program = descendant["/FontDescriptor"]["/FontFile2"].get_object().get_data()
            fonts[str(font["/BaseFont"]).lstrip("/")] = TTFont(io.BytesIO(program))
    return fonts


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_shared_fonts_same_text_and_pages_as_fpdf_add_font(name: str) -> None:
    render = DOCUMENTS[name]
    with fpdf_own_fonts():
        before = render()
    after = render()

    assert len(PdfReader(io.BytesIO(after)).pages) == len(PdfReader(io.BytesIO(before)).pages)
    assert pdf_text(after) == pdf_text(before)
    if not can_rasterize():
        pytest.skip("pdftoppm (poppler-utils) is not installed: pages not compared as pixels")
    assert page_pixels(after) == page_pixels(before)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_shared_fonts_embed_small_valid_faces(name: str) -> None:
    document = DOCUMENTS[name]()

    fonts = embedded_fonts(document)

    assert {"MPDFAA+Roboto", "MPDFAA+RobotoBold"} <= set(fonts)
    assert set(fonts) <= {"MPDFAA+Roboto", "MPDFAA+RobotoBold", "MPDFAA+RobotoItalic"}
    for font in fonts.values():
        glyf = font["glyf"]
        assert len(font.getGlyphOrder()) < 300  # a subset, not the 3,359 glyphs of Roboto
        for glyph_name in font.getGlyphOrder():
            glyf[glyph_name].recalcBounds(glyf)  # every outline and composite resolves


@pytest.mark.parametrize("render", [make_application, make_receipt])
def test_shared_fonts_embed_every_kazakh_letter_as_an_outline(
    render: Callable[..., object],
) -> None:
    if render is make_application:
        document = render_application(make_application(note=KAZAKH_LETTERS))
    else:
        document = render_receipt(make_receipt(guardian_full_name=KAZAKH_LETTERS))

    regular = embedded_fonts(document)["MPDFAA+Roboto"]
    cmap = regular.getBestCmap()
    glyf = regular["glyf"]

    assert [letter for letter in KAZAKH_LETTERS if ord(letter) not in cmap] == []
    assert [
        letter for letter in KAZAKH_LETTERS if glyf[cmap[ord(letter)]].numberOfContours == 0
    ] == []
    assert [letter for letter in KAZAKH_LETTERS if letter not in pdf_text(document)] == []


def test_shared_fonts_many_threads_render_the_same_bytes() -> None:
    renders = [DOCUMENTS[name] for name in sorted(DOCUMENTS)] * 4
    serial = [render() for render in renders]

    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda render: render(), renders))

    assert parallel == serial
