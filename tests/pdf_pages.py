"""The documents as fpdf renders them with its own font loading, and their pages as pixels.

Shared by tests/unit/test_document_fonts.py and benchmarks/documents.py: the reference
that the fonts parsed once per process (bot.documents.fonts) must match and beat.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from fpdf import FPDF
from PIL import Image

from bot.documents import layout


def _fpdf_add_font(pdf: FPDF, family: str, files: dict[str, str]) -> None:
    for style, path in files.items():
        pdf.add_font(family, style, path)


@contextmanager
def fpdf_own_fonts() -> Iterator[None]:
    """Render documents as before bot.documents.fonts: `add_font` parses every file."""
    with mock.patch.object(layout, "add_shared_fonts", _fpdf_add_font):
        yield


def can_rasterize() -> bool:
    return shutil.which("pdftoppm") is not None


def page_pixels(document: bytes, dpi: int = 100) -> list[tuple[tuple[int, int], bytes]]:
    """Rasterize every page with poppler's pdftoppm: (size, RGB bytes) per page."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "document.pdf"
        source.write_bytes(document)
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-png", str(source), str(Path(folder) / "page")],
            check=True,
            capture_output=True,
        )
        pages = []
        for png in sorted(Path(folder).glob("page-*.png")):
            with Image.open(png) as image:
                rgb = image.convert("RGB")
                pages.append((rgb.size, rgb.tobytes()))
        return pages
