"""One Typst compiler per process, with Roboto and the page template of the documents.

Typst loads a font the first time a document uses it and keeps it, and memoises layout
across compiles, so a document costs a few milliseconds; it embeds, as an outline, only
the glyphs a document draws. The compile runs without the interpreter lock (the event
loop and the sender keep running while a worker thread renders), and one compile at a
time uses the compiler, which is not made for concurrent calls.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import font_roboto  # type: ignore[import-untyped]

FONT_FILES: dict[str, str] = {
    "": font_roboto.font_files["Roboto"],
    "B": font_roboto.font_files["RobotoBold"],
    "I": font_roboto.font_files["RobotoItalic"],
}
"""The faces the template draws with: regular, bold (titles) and italic (captions)."""

TEMPLATE = Path(__file__).with_name("official.typ")


class _Typesetter:
    """The compiler, the template's source and the lock that serialises compiles."""

    def __init__(self) -> None:
        # Typst lays pages out on rayon's pool, a thread per core by default, whose idle
        # threads spin waiting for work: a one-page document gains nothing from them,
        # and on a small machine they take CPU from the event loop (the documents
        # benchmark: 15-30 % more CPU per document). Read once, at the pool's first use.
        os.environ.setdefault("RAYON_NUM_THREADS", "1")
        import typst  # 30 MB of Rust; imported with the first document (see bot.documents)

        fonts = typst.Fonts(
            include_system_fonts=False,
            include_embedded_fonts=False,
            font_paths=[str(Path(FONT_FILES[""]).parent)],
        )
        self._source = TEMPLATE.read_bytes()
        self._compiler = typst.Compiler(self._source, font_paths=fonts, ignore_system_fonts=True)
        self._lock = threading.Lock()

    def compile(self, document: str, created: datetime) -> bytes:
        offset = created.utcoffset()
        if offset is None:
            raise ValueError("documents need timezone-aware datetimes")
        # Typst takes a fixed offset and whole seconds only (a PDF date has no fraction).
        moment = created.astimezone(timezone(offset)).replace(microsecond=0)
        with self._lock:
            # The input as a file, not sys.inputs: a new sys.inputs would rebuild Typst's
            # standard library and so undo everything it memoised. (The package's type
            # stub does not know the dict of files yet.)
            files = {"main.typ": self._source, "document.json": document.encode()}
            pdf = self._compiler.compile(files, timestamp=moment)  # type: ignore[type-var]
        assert isinstance(pdf, bytes)  # one PDF, not the pages of an image format
        return pdf


_typesetter: _Typesetter | None = None
_typesetter_lock = threading.Lock()


def compile_document(document: str, created: datetime) -> bytes:
    """Lay out `document` (the template's JSON input) as a PDF created at `created`."""
    global _typesetter
    with _typesetter_lock:
        if _typesetter is None:
            _typesetter = _Typesetter()
    return _typesetter.compile(document, created)


@dataclass(frozen=True)
class _Metrics:
    supported: frozenset[int]
    """The characters all three faces draw: anything else is replaced before layout."""
    advances: dict[int, float]
    """Per character, its widest advance in the three faces, in em."""


@functools.cache
def _metrics() -> _Metrics:
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    advances: dict[int, float] = {}
    supported: frozenset[int] | None = None
    for path in FONT_FILES.values():
        font = TTFont(path, lazy=True)
        cmap, hmtx, units = font.getBestCmap(), font["hmtx"].metrics, font["head"].unitsPerEm
        for code, glyph in cmap.items():
            advances[code] = max(advances.get(code, 0.0), hmtx[glyph][0] / units)
        supported = frozenset(cmap) if supported is None else supported & frozenset(cmap)
    assert supported is not None
    return _Metrics(supported, advances)


def supported_code_points() -> frozenset[int]:
    """The characters all three faces draw: anything else is replaced before layout."""
    return _metrics().supported


_SHORT_WORD = 7
"""Roboto's widest character (⸻) is 2.14 em: a word of 7 characters is at most 15 em."""


def widest_word_em(text: str) -> float:
    """The width of the widest word of `text` (0 if none is longer than `_SHORT_WORD`
    characters), in em of the widest of the three faces."""
    advances = _metrics().advances
    return max(
        (
            sum(advances.get(ord(char), 0.0) for char in word)
            for word in text.split()
            if len(word) > _SHORT_WORD
        ),
        default=0.0,
    )
