"""Roboto parsed once per process, so that a document costs milliseconds, not 150 ms.

`FPDF.add_font` parses a TrueType file again for every document (about 70 ms for each
of the three Roboto faces), and `output()` then subsets the whole face (3,359 glyphs)
with fontTools, decompiling every table and recompiling each glyph it keeps to
recompute bounding boxes (another 40 ms per face). Here each face is parsed once per
process (`_face`); a document gets a `SharedFont` that shares the parsed metrics and,
when the PDF is written, a face of only the glyphs it drew, assembled from the raw glyph
data (outlines, hinting and bounding boxes exactly as Roboto ships them). fpdf then
subsets and embeds that small face as usual. Pages render the same
(tests/unit/test_document_fonts.py compares them pixel for pixel with fpdf's own loading).
"""

from __future__ import annotations

import copy
import io
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fontTools.subset  # type: ignore[import-untyped]  # noqa: F401  (adds Glyph.remapComponentsFast)
from fontTools.ttLib import TTFont, newTable  # type: ignore[import-untyped]
from fontTools.ttLib.tables._c_m_a_p import CmapSubtable  # type: ignore[import-untyped]
from fontTools.ttLib.tables._g_l_y_f import Glyph  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

_COPIED_TABLES = ("head", "hhea", "maxp", "OS/2", "name", "post")
"""Tables a small face takes over from Roboto as they are (fpdf prunes `name` itself)."""


@dataclass(frozen=True)
class _Face:
    """One parsed TrueType file, shared read-only by every document of the process."""

    prototype: TTFFont
    tables: dict[str, Any]
    glyph_order: list[str]
    glyph_ids: dict[str, int]
    glyph_data: dict[str, bytes]
    components: dict[str, list[str]]
    metrics: dict[str, tuple[int, int]]
    cmaps: list[tuple[int, int, int, int, dict[str, list[int]]]]
    """Unicode cmap subtables: platform, encoding, format, language, glyph -> code points."""

    def subset(self, names: Iterable[str]) -> TTFont:
        """Build a face of `names` (and the glyphs their composites are made of)."""
        wanted = set(names) | {self.glyph_order[0]}
        pending = list(wanted)
        while pending:
            for component in self.components.get(pending.pop(), ()):
                if component not in wanted:
                    wanted.add(component)
                    pending.append(component)
        order = [name for name in self.glyph_order if name in wanted]
        new_ids = {self.glyph_ids[name]: index for index, name in enumerate(order)}
        font = TTFont(recalcBBoxes=False, recalcTimestamp=False)
        for tag in _COPIED_TABLES:
            font[tag] = copy.copy(self.tables[tag])
        glyf = newTable("glyf")
        glyf.glyphOrder = order
        glyf.glyphs = {}
        for name in order:
            glyph = Glyph(self.glyph_data[name])
            if name in self.components:
                glyph.remapComponentsFast(new_ids)
            glyf.glyphs[name] = glyph
        font["glyf"] = glyf
        font["loca"] = newTable("loca")
        hmtx = newTable("hmtx")
        hmtx.metrics = {name: self.metrics[name] for name in order}
        font["hmtx"] = hmtx
        cmap = newTable("cmap")
        cmap.tableVersion = 0
        cmap.tables = []
        for platform, encoding, cmap_format, language, codes in self.cmaps:
            subtable = CmapSubtable.newSubtable(cmap_format)
            subtable.platformID, subtable.platEncID, subtable.language = (
                platform,
                encoding,
                language,
            )
            subtable.cmap = {code: name for name in order for code in codes.get(name, ())}
            cmap.tables.append(subtable)
        font["cmap"] = cmap
        font.setGlyphOrder(order)
        return font


_faces: dict[tuple[Path, str, str], _Face] = {}
_faces_lock = threading.Lock()


def _face(path: Path, fontkey: str, style: str) -> _Face:
    """Parse `path` on its first use in this process (documents render in worker threads)."""
    with _faces_lock:
        face = _faces.get((path, fontkey, style))
        if face is None:
            face = _faces[path, fontkey, style] = _parse(path, fontkey, style)
        return face


def _parse(path: Path, fontkey: str, style: str) -> _Face:
    prototype = TTFFont(FPDF(), path, fontkey, style)
    prototype.close()  # its lazily read file: the metrics are read, the glyphs come below
    if prototype.is_cff or prototype.is_symbol or prototype.color_font is not None:
        raise ValueError(f"{path.name}: documents need a plain TrueType font")
    source = TTFont(io.BytesIO(path.read_bytes()), recalcBBoxes=False, recalcTimestamp=False)
    glyf = source["glyf"]
    glyph_order = source.getGlyphOrder()
    glyph_data = {name: getattr(glyf.glyphs[name], "data", b"") for name in glyph_order}
    components = {}
    for name in glyph_order:
        names = glyf.glyphs[name].getComponentNames(glyf)
        if names:
            components[name] = names
    return _Face(
        prototype=prototype,
        tables={tag: source[tag] for tag in _COPIED_TABLES},
        glyph_order=glyph_order,
        glyph_ids={name: index for index, name in enumerate(glyph_order)},
        glyph_data=glyph_data,
        components=components,
        metrics=dict(source["hmtx"].metrics),
        cmaps=[
            (table.platformID, table.platEncID, table.format, table.language, _codes(table.cmap))
            for table in source["cmap"].tables
            if table.isUnicode()
        ],
    )


def _codes(cmap: dict[int, str]) -> dict[str, list[int]]:
    codes: dict[str, list[int]] = {}
    for code, name in sorted(cmap.items()):
        codes.setdefault(name, []).append(code)
    return codes


class SharedFont(TTFFont):
    """A document's font: metrics shared with the process, glyphs its own."""

    def __init__(self, face: _Face, pdf: FPDF) -> None:
        # TTFFont.__init__ is not called: its parse of the file is what the face saves.
        for slot in TTFFont.__slots__:
            if slot != "ttfont" and hasattr(face.prototype, slot):
                setattr(self, slot, getattr(face.prototype, slot))
        self._face = face
        self.i = len(pdf.fonts) + 1
        self.biggest_size_pt = 0
        self.missing_glyphs = []
        self.desc = copy.copy(face.prototype.desc)  # fpdf numbers it as one of its objects
        self.cw = copy.copy(face.prototype.cw)  # a defaultdict: a lookup may add a key
        self.subset = SubsetMap(self)
        self._embedded: TTFont | None = None

    def get_text_width(
        self, text: str, font_size_pt: float, text_shaping_params: dict[str, Any] | None
    ) -> tuple[int, float]:
        """Measure like fpdf does, without its per-character generator (line breaking
        measures each line again for every character it adds)."""
        if text_shaping_params:
            return super().get_text_width(text, font_size_pt, text_shaping_params)
        self.biggest_size_pt = max(self.biggest_size_pt, font_size_pt)
        return len(text), sum(map(self.cw.__getitem__, map(ord, text))) * font_size_pt * 0.001

    @property
    def ttfont(self) -> TTFont:
        """The face fpdf subsets and embeds: built when fpdf first asks, in `output()`,
        after the last footer is drawn, so it holds every glyph of the document."""
        if self._embedded is None:
            self._embedded = self._face.subset(self.subset.get_all_glyph_names())
        return self._embedded

    @ttfont.setter
    def ttfont(self, value: TTFont) -> None:
        self._embedded = value


def add_shared_fonts(pdf: FPDF, family: str, files: dict[str, str]) -> None:
    """Register `files` (style -> path) under `family`, like `pdf.add_font` for each."""
    for style, path in files.items():
        fontkey = f"{family.lower()}{style}"
        pdf.fonts[fontkey] = SharedFont(_face(Path(path), fontkey, style), pdf)
