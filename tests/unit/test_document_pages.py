"""The documents as Typst lays them out: the lines where fpdf2 put them, valid PDFs, every
Kazakh and Russian letter embedded as an outline, the same bytes from several threads,
and a CPU cost that stays a small fraction of fpdf2's."""

from __future__ import annotations

import io
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pypdf import PdfReader

from bot.documents import render_application, render_receipt, render_refusal
from tests.pdf_pages import (
    InkLine,
    can_rasterize,
    embedded_fonts,
    fpdf_reference,
    ink_lines,
    page_images,
)
from tests.unit.test_documents import (
    KAZAKH_LETTERS,
    make_application,
    make_receipt,
    pdf_text,
)
from tests.unit.test_refusal_document import make_refusal

RUSSIAN_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
HOSTILE = "<b>Әлия</b> 👩‍👧‍👦 \x07Ким\u202e❤️ & {nb} %s ΑΩ ẞ ﬁ"
DOCUMENTS: dict[str, Callable[[], bytes]] = {
    "application kk": lambda: render_application(make_application(language="kk")),
    "application ru": lambda: render_application(make_application(language="ru")),
    "application hostile note": lambda: render_application(
        make_application(note=HOSTILE + "\n\n" + KAZAKH_LETTERS * 40)
    ),
    "receipt kk": lambda: render_receipt(make_receipt(language="kk")),
    "receipt ru, four pages": lambda: render_receipt(
        make_receipt(guardian_full_name="Ә" * 3000 + " " + "Қайратұлы " * 300)
    ),
    "refusal kk": lambda: render_refusal(make_refusal("kk")),
    "refusal ru": lambda: render_refusal(make_refusal("ru")),
}
ZERO_WIDTH_SPACE = "\u200b"
TEXT_RIGHT_EDGE = 764
"""The last pixel column text may reach at 100 dpi: 194 mm (the right margin and inset)."""


def same_line(typst: InkLine, fpdf: InkLine) -> bool:
    """The same line of ink at the same height (1 px at 100 dpi), starting where it did.

    Two differences are fpdf's and allowed: it ended the first line of a justified
    paragraph short of the margin (it counts the two em spaces of the indent as spaces
    to stretch, then does not stretch them), and it right-aligned the page number by the
    width of its page-count placeholder, not of the number. Typst's line may so end
    further right, up to the margin, and the page number may move right as a whole.
    """
    if abs(typst.top - fpdf.top) > 1 or abs(typst.bottom - fpdf.bottom) > 1:
        return False
    if abs(typst.right - fpdf.right) <= 1:
        return abs(typst.left - fpdf.left) <= 1
    if not fpdf.right < typst.right <= TEXT_RIGHT_EDGE:
        return False
    moved = abs((typst.right - typst.left) - (fpdf.right - fpdf.left)) <= 1
    return abs(typst.left - fpdf.left) <= 1 or moved


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_typst_pages_have_the_text_and_lines_of_the_fpdf_layout(name: str) -> None:
    render = DOCUMENTS[name]
    with fpdf_reference():
        before = render()
    after = render()

    assert len(PdfReader(io.BytesIO(after)).pages) == len(PdfReader(io.BytesIO(before)).pages)
    # A word wider than its cell is broken at zero-width spaces, which the text keeps.
    assert pdf_text(after).replace(ZERO_WIDTH_SPACE, "").split() == pdf_text(before).split()
    if not can_rasterize():
        pytest.skip("pdftoppm (poppler-utils) is not installed: pages not compared as pixels")
    for typst_page, fpdf_page in zip(page_images(after), page_images(before), strict=True):
        typst_lines, fpdf_lines = ink_lines(typst_page), ink_lines(fpdf_page)
        assert len(typst_lines) == len(fpdf_lines)
        moved = [
            (typst, fpdf)
            for typst, fpdf in zip(typst_lines, fpdf_lines, strict=True)
            if not same_line(typst, fpdf)
        ]
        assert moved == []


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_typst_documents_are_valid_pdfs_with_small_roboto_faces(name: str, tmp_path: Path) -> None:
    document = DOCUMENTS[name]()

    fonts = embedded_fonts(document)

    assert (
        {"Roboto-Regular", "Roboto-Bold"}
        <= set(fonts)
        <= {
            "Roboto-Regular",
            "Roboto-Bold",
            "Roboto-Italic",
        }
    )
    for font in fonts.values():
        glyf = font.program["glyf"]
        assert len(font.program.getGlyphOrder()) < 300  # a subset, not Roboto's 3,359 glyphs
        for glyph_name in font.program.getGlyphOrder():
            glyf[glyph_name].recalcBounds(glyf)  # every outline and composite resolves
        assert [
            char for char in font.glyphs if not char.isspace() and not font.has_outline(char)
        ] == []
    if shutil.which("qpdf") is None:
        pytest.skip("qpdf is not installed: the file structure is not checked")
    path = tmp_path / "document.pdf"
    path.write_bytes(document)
    check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(
    "render",
    [
        lambda letters: render_application(make_application(note=letters)),
        lambda letters: render_receipt(make_receipt(guardian_full_name=letters)),
        lambda letters: render_refusal(make_refusal("kk", position=letters)),
    ],
    ids=["application", "receipt", "refusal"],
)
def test_every_kazakh_and_russian_letter_is_embedded_as_an_outline(
    render: Callable[[str], bytes],
) -> None:
    letters = KAZAKH_LETTERS + RUSSIAN_LETTERS
    document = render(" ".join(letters))

    regular = embedded_fonts(document)["Roboto-Regular"]

    assert [letter for letter in letters if not regular.has_outline(letter)] == []
    assert [letter for letter in letters if letter not in pdf_text(document)] == []


def test_typst_many_threads_render_the_same_bytes() -> None:
    renders = [DOCUMENTS[name] for name in sorted(DOCUMENTS)] * 3
    serial = [render() for render in renders]

    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda render: render(), renders))

    assert parallel == serial


VARIED: dict[str, Callable[[str], bytes]] = {
    "application": lambda number: render_application(make_application(case_number=number)),
    "receipt": lambda number: render_receipt(make_receipt(case_number=number)),
    "refusal": lambda number: render_refusal(make_refusal(case_number=number)),
}


def _cpu(render: Callable[[str], bytes], number: str) -> float:
    start = time.process_time()
    render(number)
    return time.process_time() - start


@pytest.mark.parametrize("kind", sorted(VARIED))
def test_typst_document_costs_a_small_fraction_of_fpdf_cpu(kind: str) -> None:
    """Typst takes about 1/25 of fpdf2's CPU for a document (benchmarks/README.md,
    "documents"); 1/10 leaves room for a loaded machine and fails if it grows back
    towards fpdf2 (fpdf2 with its fonts parsed once per process took 1/5). Each render
    has its own case number (Typst would reuse the layout of an identical document);
    the two are interleaved, so load hits both."""
    render = VARIED[kind]
    render("HS-2025-900000")
    typst, fpdf = [], []
    for index in range(5):
        typst.append(_cpu(render, f"HS-2025-9{index:05d}"))
        with fpdf_reference():
            fpdf.append(_cpu(render, f"HS-2025-9{index:05d}"))

    assert statistics.median(typst) < statistics.median(fpdf) / 10
