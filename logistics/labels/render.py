"""Printable dossier labels: PDF, PNG and SVG from one layout.

One function, :func:`build_layout`, turns a :class:`LabelData` into a list of drawing primitives in
millimetres (text runs already wrapped and measured, filled rectangles for the QR modules and the
barcode bars, rules). Each output only *paints* that list:

* PDF (reportlab): the reference output; the QR and the barcode are single vector paths, which is what
  keeps a label around 10-20 ms (DESIGN.md §9) and the print sharp at any printer resolution.
* PNG: the same primitives painted on pixels with Pillow at the printer's resolution: rectangles snapped
  to whole pixels, glyphs of the same font files placed at the PDF's own advance widths (see
  `_TextCache`), then a small greyscale PNG writer (see `_encode_png_grey`). It used to be the PDF
  rasterised by pdfium, ~2.5x slower; tests/labels checks that it still shows what pdfium shows of the
  PDF, primitive by primitive and letter by letter.
* SVG: the same primitives as SVG elements, for previews in the browser; each text run carries the
  width measured with the embedded font (``textLength``), so a viewer that substitutes another font
  still cannot overflow the label.

The label is 100 x 150 mm, the common thermal-label size (4 x 6 in); A4 batches put four on a page.
Text is set in DejaVu Sans, shipped in ``fonts/`` and subset to Latin + Vietnamese, because the 14
standard PDF fonts cannot show "ư", "ơ", "đ" or stacked tone marks. All input text is NFC-normalised
first: text typed on some systems arrives decomposed (base letter + combining marks), which reportlab
would draw as detached accents.
"""

from __future__ import annotations

import functools
import io
import math
import re
import struct
import threading
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from xml.sax.saxutils import escape, quoteattr

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import SUBSETN, TTFont, makeToUnicodeCMap
from reportlab.pdfgen.canvas import Canvas

from logistics.labels.s10 import parse_item_code

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Sequence

__all__ = [
    "LABEL_HEIGHT_MM",
    "LABEL_WIDTH_MM",
    "LabelData",
    "build_layout",
    "qr_matrix",
    "render_pdf",
    "render_pdf_sheet",
    "render_png",
    "render_svg",
]

LABEL_WIDTH_MM: Final = 100.0
LABEL_HEIGHT_MM: Final = 150.0
MARGIN_MM: Final = 4.0
PT_MM: Final = 25.4 / 72  # one typographic point in millimetres

FONT_REGULAR: Final = "DossierPostSans"
FONT_BOLD: Final = "DossierPostSans-Bold"
SVG_FONT_FAMILY: Final = "'DejaVu Sans', Verdana, sans-serif"
_FONT_DIR: Final = Path(__file__).parent / "fonts"
_FONT_FILES: Final = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}  # by bold

# QR: error correction Q (25 % of the symbol can be lost) because envelopes get scuffed and folded in
# transit; a 50-60 character URL is version 5-6 (37-41 modules), i.e. ~1 mm modules and a 37-38 mm
# symbol in a 46 mm box: easy for any phone camera. The box includes the 4-module quiet zone the
# standard requires. Q costs ~2 ms more per encode than M (measured).
QR_BOX_MM: Final = 46.0
QR_QUIET_MODULES: Final = 4

# Code 128 module (X dimension): 0.375 mm is exactly 3 dots on a 203 dpi thermal head, so bars print
# without rounding jitter; shrunk only if a long code would not fit.
BAR_MODULE_MM: Final = 0.375
BAR_HEIGHT_MM: Final = 13.0
BAR_QUIET_MODULES: Final = 10

# A4 sheet: 2 x 2 labels. Four 150 mm labels need 300 mm of height and A4 has 297, so labels are scaled
# to fit inside printer margins with a gap for the cut marks (scale ~0.93; the QR stays > 30 mm).
SHEET_MARGIN_MM: Final = 6.0
SHEET_GAP_MM: Final = 6.0
CUT_MARK_OFFSET_MM: Final = 1.0
CUT_MARK_LENGTH_MM: Final = 2.0
LABELS_PER_SHEET: Final = 4

# Shrinking the free-text area in steps before resorting to truncation; 0.7 keeps 8 pt text >= 5.6 pt,
# still legible on a 203 dpi print.
_SCALES: Final = (1.0, 0.93, 0.86, 0.78, 0.7)
_LEADING: Final = 1.18
_ELLIPSIS: Final = "…"
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]+")

TITLE_VI: Final = "BƯU CHÍNH CÔNG ÍCH – HỒ SƠ HÀNH CHÍNH"
TITLE_EN: Final = "Public postal service – Administrative dossier"


@dataclass(frozen=True, slots=True)
class LabelData:
    """Everything printed on one label; plain values so a job can build it from ids it reloads."""

    item_code: str
    qr_url: str
    sender_name: str
    sender_phone: str
    sender_address: str
    recipient_name: str
    recipient_address: str
    procedure_name: str
    service_form: str
    created_on: dt.date
    envelopes: int
    dossier_code: str | None = None
    post_office_name: str | None = None


# --- layout model ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """One line of text; ``y`` is the baseline, ``width`` the measured advance, both in mm."""

    x: float
    y: float
    size: float  # points
    bold: bool
    text: str
    width: float
    anchor: Literal["start", "middle"] = "start"


@dataclass(frozen=True, slots=True)
class Fill:
    """Filled rectangles (x, y, w, h) in mm painted as one shape: the QR modules or the barcode bars."""

    rects: tuple[tuple[float, float, float, float], ...]


@dataclass(frozen=True, slots=True)
class Rule:
    """A straight line in mm."""

    x1: float
    y1: float
    x2: float
    y2: float
    width: float


Primitive = Text | Fill | Rule


@dataclass(frozen=True, slots=True)
class Layout:
    """A label as primitives in mm, origin at the top-left corner; what every output paints."""

    width: float
    height: float
    items: tuple[Primitive, ...]
    title: str


# --- fonts ----------------------------------------------------------------------------------------------

# Vietnamese letters (every vowel with each of the five tone marks, both cases, and đ/Đ) and the punctuation
# the label uses or that addresses often contain: the characters every embedded subset starts with.
_TONE_MARKS: Final = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")  # none, huyền, sắc, hỏi, ngã, nặng
_VIETNAMESE: Final = "".join(
    unicodedata.normalize("NFC", vowel + mark) for vowel in "aăâeêioôơuưy" for mark in _TONE_MARKS
) + "đ"
_REPERTOIRE: Final = "".join(
    dict.fromkeys(ch for ch in _VIETNAMESE + _VIETNAMESE.upper() + "–—…‘’“”·°" if not ch.isascii())
)


class _Formatted(pdfdoc.PDFObject):
    """A PDF value formatted once, written as these bytes into every document that uses it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def format(self, document: object) -> bytes:  # noqa: ARG002 - reportlab's formatting protocol
        return self.data


@dataclass(frozen=True, slots=True)
class _SubsetObjects:
    """What one font subset puts into a PDF, built once per process: the fixed costs of a label's fonts."""

    base_name: str
    widths: _Formatted
    to_unicode: bytes  # the ToUnicode CMap (so text extracts as Vietnamese), compressed
    font_program: bytes  # the subset TrueType font, compressed
    font_program_length: int  # before compression (the FontFile2 stream's /Length1)


class _LabelFont(TTFont):
    """A bundled TrueType font whose embedded subset is the same in (almost) every label, so it is built once.

    reportlab subsets a TrueType font per document: it numbers the characters in the order the document
    first uses them, then extracts those glyphs into a new font program, compresses it, and writes widths
    and a ToUnicode map, about 1 ms per font per label. Here each document's numbering starts with the
    Vietnamese alphabet (``_REPERTOIRE``, in a fixed order), so labels with any Vietnamese text share one
    subset, whose objects are cached per process. A character outside the repertoire only extends that
    label's subset, which is then built (and cached) as usual. The price: all Vietnamese glyphs of both
    fonts are embedded, ~7 KiB more per PDF (measured); the bytes of a given label do not change with the
    cache, so PDFs stay deterministic.
    """

    def splitString(self, text: str, doc: object, encoding: str = "utf-8") -> list[tuple[int, bytes]]:  # noqa: N802
        if doc not in self.state:  # the document's first text in this font: number the repertoire first
            super().splitString(_REPERTOIRE, doc, encoding)
        return super().splitString(text, doc, encoding)

    def addObjects(self, doc: Any) -> None:  # noqa: N802 - reportlab's API
        """Add the document's subsets, as reportlab's ``TTFont.addObjects`` does, from the per-process cache."""
        state = self.state[doc]
        state.frozen = 1
        fonts = doc.idToObject["BasicFonts"].dict
        for index, subset in enumerate(state.subsets):
            internal_name = self.getSubsetInternalName(index, doc)[1:]
            parts = self._subset_objects(index, tuple(subset))
            font: Any = pdfdoc.PDFTrueTypeFont()  # reportlab sets its entries as attributes
            font.Name = internal_name
            font.BaseFont = parts.base_name
            font.FirstChar = 0
            font.LastChar = len(subset) - 1
            font.Widths = parts.widths
            font.ToUnicode = doc.Reference(
                _stream(doc, parts.to_unicode), f"toUnicodeCMap:{parts.base_name}"
            )
            font_file = _stream(doc, parts.font_program)
            font_file.dictionary["Length1"] = parts.font_program_length
            face = self.face
            font.FontDescriptor = doc.Reference(pdfdoc.PDFDictionary({
                "Type": "/FontDescriptor",
                "Ascent": face.ascent,
                "CapHeight": face.capHeight,
                "Descent": face.descent,
                "Flags": (face.flags & ~_FF_NONSYMBOLIC) | _FF_SYMBOLIC,
                "FontBBox": pdfdoc.PDFArray(face.bbox),
                "FontName": pdfdoc.PDFName(parts.base_name),
                "ItalicAngle": face.italicAngle,
                "StemV": face.stemV,
                "FontFile2": doc.Reference(font_file, f"fontFile:{face.filename}({parts.base_name})"),
                "MissingWidth": face.defaultWidth,
            }), f"fontDescriptor:{parts.base_name}")
            doc.Reference(font, internal_name)
            fonts[internal_name] = font
        del self.state[doc]

    @functools.lru_cache(maxsize=32)  # noqa: B019 - two fonts, alive for the whole process
    def _subset_objects(self, index: int, subset: tuple[int, ...]) -> _SubsetObjects:
        face = self.face
        base_name = (SUBSETN(index) + b"+" + face.name + face.subfontNameX).decode("pdfdoc")
        with _SUBSETTING:
            program = face.makeSubset(subset)
        widths = [face.charWidths.get(code, face.defaultWidth) for code in subset]  # as reportlab's getCharWidth
        return _SubsetObjects(
            base_name=base_name,
            widths=_Formatted(pdfdoc.PDFArray(widths).format(pdfdoc.DummyDoc())),
            to_unicode=zlib.compress(makeToUnicodeCMap(base_name, subset).encode()),
            font_program=zlib.compress(program),
            font_program_length=len(program),
        )


# makeSubset reads the font file through the face's own file position: one subset at a time per process
# (the web app renders in threads), which with the cache above is a few times per process.
_SUBSETTING: Final = threading.Lock()

# PDF font descriptor flags (PDF 1.7, table 123): a subset font with its own encoding is "symbolic".
_FF_SYMBOLIC: Final = 1 << 2
_FF_NONSYMBOLIC: Final = 1 << 5


def _stream(doc: Any, deflated: bytes) -> pdfdoc.PDFStream:
    """A stream of cached, already deflated content (reportlab would deflate it again for every document)."""
    stream = pdfdoc.PDFStream()
    if doc.compression:
        stream.content = deflated
        stream.dictionary["Filter"] = pdfdoc.PDFArray([pdfdoc.PDFName("FlateDecode")])
    else:
        stream.content = zlib.decompress(deflated)
    return stream


@functools.cache
def _register_fonts() -> dict[bool, _LabelFont]:
    """Register the bundled fonts with reportlab, once per process, on first use; the fonts by ``bold``.

    Lazy so that importing the labels package (e.g. from the web app, for parse_item_code) costs nothing.
    """
    fonts = {bold: _LabelFont(_font(bold), str(_FONT_DIR / _FONT_FILES[bold])) for bold in (False, True)}
    for font in fonts.values():
        pdfmetrics.registerFont(font)
    return fonts


def _font(bold: bool) -> str:
    return FONT_BOLD if bold else FONT_REGULAR


def _width_mm(text: str, size: float, bold: bool) -> float:
    return pdfmetrics.stringWidth(text, _font(bold), size) * PT_MM


def _clean(text: str | None) -> str:
    """NFC-normalise and collapse whitespace/control characters: input comes from web forms."""
    if not text:
        return ""
    return " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", text)).split())


# --- text fitting ---------------------------------------------------------------------------------------


def _split_long_word(word: str, size: float, bold: bool, width: float) -> list[str]:
    """Break a word wider than the column (a URL, an unbroken string) at character boundaries."""
    pieces: list[str] = []
    current = ""
    for ch in word:
        if current and _width_mm(current + ch, size, bold) > width:
            pieces.append(current)
            current = ch
        else:
            current += ch
    if current:
        pieces.append(current)
    return pieces


def wrap(text: str, size: float, bold: bool, width: float) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``width`` mm at ``size`` pt."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        if not word:
            continue
        candidate = f"{current} {word}" if current else word
        if _width_mm(candidate, size, bold) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        if _width_mm(word, size, bold) <= width:
            current = word
        else:
            *full, current = _split_long_word(word, size, bold, width)
            lines.extend(full)
    if current:
        lines.append(current)
    return lines


def _ellipsize(line: str, size: float, bold: bool, width: float) -> str:
    """Cut ``line`` so that it plus an ellipsis fits: the visible sign that text was shortened."""
    text = line.rstrip()
    while text and _width_mm(text + _ELLIPSIS, size, bold) > width:
        text = text[:-1].rstrip()
    return text + _ELLIPSIS


def _fit_size(text: str, size: float, min_size: float, width: float, *, bold: bool) -> tuple[str, float]:
    """Largest size <= ``size`` at which ``text`` fits on one line; ellipsis below ``min_size``."""
    natural = _width_mm(text, size, bold)
    if natural <= width:
        return text, size
    fitted = size * width / natural
    if fitted >= min_size:
        return text, fitted
    return _ellipsize(text, min_size, bold, width), min_size


@dataclass(frozen=True, slots=True)
class _Para:
    text: str
    size: float
    bold: bool = False
    space_before: float = 0.0  # mm


def _flow(paras: Sequence[_Para], x: float, top: float, bottom: float, width: float) -> list[Primitive]:
    """Set paragraphs top-down in a box; shrink them together, then truncate, so nothing overflows.

    Truncation takes a line from the paragraph that has the most (a very long address) rather than
    dropping whole fields, and marks the cut with an ellipsis.
    """
    avail = bottom - top
    scale = _SCALES[-1]
    wrapped: list[list[str]] = []
    for scale in _SCALES:
        wrapped = [wrap(p.text, p.size * scale, p.bold, width) or [""] for p in paras]
        if _flow_height(paras, wrapped, scale) <= avail:
            break
    while _flow_height(paras, wrapped, scale) > avail:
        longest = max(range(len(paras)), key=lambda i: len(wrapped[i]))
        if len(wrapped[longest]) <= 1:
            break  # cannot happen with the label's fixed fields; the painter below still clips
        p = paras[longest]
        kept = wrapped[longest][:-1]
        kept[-1] = _ellipsize(kept[-1], p.size * scale, p.bold, width)
        wrapped[longest] = kept

    items: list[Primitive] = []
    y = top
    for p, lines in zip(paras, wrapped, strict=True):
        size = p.size * scale
        lead = size * _LEADING * PT_MM
        y += p.space_before * scale
        for line in lines:
            if y + lead > bottom + 1e-6:
                return items
            y += lead
            # Baseline sits ~22 % of the leading above the line box bottom (DejaVu descent).
            items.append(Text(x, y - lead * 0.22, size, p.bold, line, _width_mm(line, size, p.bold)))
    return items


def _flow_height(paras: Sequence[_Para], wrapped: Sequence[Sequence[str]], scale: float) -> float:
    return sum(
        p.space_before * scale + len(lines) * p.size * scale * _LEADING * PT_MM
        for p, lines in zip(paras, wrapped, strict=True)
    )


# --- symbols --------------------------------------------------------------------------------------------


def qr_matrix(payload: str) -> list[list[bool]]:
    """QR modules for ``payload`` (error correction Q, no quiet zone), row by row, True = dark."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, border=0)
    qr.add_data(payload)
    qr.make(fit=True)
    return qr.get_matrix()


def _row_runs(row: Sequence[bool]) -> Iterable[tuple[int, int]]:
    """(start, length) of each run of dark modules: one rectangle per run keeps the path small."""
    start = -1
    for i, dark in enumerate(row):
        if dark and start < 0:
            start = i
        elif not dark and start >= 0:
            yield start, i - start
            start = -1
    if start >= 0:
        yield start, len(row) - start


def _qr_fill(payload: str, x: float, y: float, box: float) -> Fill:
    matrix = qr_matrix(payload)
    n = len(matrix)
    module = box / (n + 2 * QR_QUIET_MODULES)
    ox, oy = x + QR_QUIET_MODULES * module, y + QR_QUIET_MODULES * module
    rects = tuple(
        (ox + start * module, oy + r * module, length * module, module)
        for r, row in enumerate(matrix)
        for start, length in _row_runs(row)
    )
    return Fill(rects)


def _code128_modules(value: str) -> tuple[list[tuple[int, int]], int]:
    """Bars of ``value`` in Code 128 as (start, width) in modules, and the symbol width in modules.

    reportlab does the encoding (code set switching, including set C for digit pairs, and the checksum);
    its pattern letters give element widths, upper case for bars and lower case for spaces.
    """
    symbol = Code128(value, quiet=0)
    # The stubs leave these untyped; they return None and fill ``symbol.decomposed``.
    symbol.validate()  # type: ignore[no-untyped-call]
    symbol.encode()  # type: ignore[no-untyped-call]
    symbol.decompose()  # type: ignore[no-untyped-call]
    pattern = str(symbol.decomposed)
    bars: list[tuple[int, int]] = []
    pos = 0
    for ch in pattern:
        if ch.isupper():
            w = ord(ch) - ord("A") + 1
            bars.append((pos, w))
        else:
            w = ord(ch) - ord("a") + 1
        pos += w
    return bars, pos


def _barcode_fill(value: str, centre_x: float, y: float, max_width: float) -> tuple[Fill, float]:
    bars, total = _code128_modules(value)
    module = min(BAR_MODULE_MM, max_width / (total + 2 * BAR_QUIET_MODULES))
    x0 = centre_x - total * module / 2
    rects = tuple((x0 + s * module, y, w * module, BAR_HEIGHT_MM) for s, w in bars)
    return Fill(rects), total * module


# --- the layout -----------------------------------------------------------------------------------------


def build_layout(data: LabelData) -> Layout:
    """Lay out one label; the single definition every output format paints.

    Top to bottom: title; QR with date, envelopes, service form and dossier code beside it; item code in
    large type and as Code 128; sender, receiving agency and procedure in a box that shrinks or truncates
    its text rather than overflow.
    """
    _register_fonts()
    code = parse_item_code(data.item_code)
    w, h, m = LABEL_WIDTH_MM, LABEL_HEIGHT_MM, MARGIN_MM
    inner = w - 2 * m
    cx = w / 2
    items: list[Primitive] = []

    # Title block.
    title, size = _fit_size(TITLE_VI, 10.0, 6.0, inner, bold=True)
    items.append(_centred(title, cx, m + 3.6, size, bold=True))
    items.append(_centred(TITLE_EN, cx, m + 6.7, 6.5))
    y = m + 7.8
    office = _clean(data.post_office_name)
    if office:
        text, size = _fit_size(f"Bưu cục / Post office: {office}", 7.0, 5.5, inner, bold=False)
        items.append(_centred(text, cx, y + 3.0, size))
        y += 3.8
    y += 1.0
    items.append(Rule(m, y, w - m, y, 0.3))

    # QR block: the box (with its quiet zone) starts near the label edge so the symbol itself lines up
    # with the text margin.
    qr_top = y + 0.5
    qr_left = m - QR_QUIET_MODULES * 0.95
    items.append(_qr_fill(data.qr_url, qr_left, qr_top, QR_BOX_MM))
    col_x = qr_left + QR_BOX_MM + 1.0
    col_w = w - m - col_x
    items.extend(_side_column(data, col_x, qr_top + 3.0, col_w, qr_top + QR_BOX_MM - 1.0))
    y = qr_top + QR_BOX_MM

    # Item code: large type (grouped for reading aloud), then the barcode and its plain-text line.
    spaced, size = _fit_size(code.spaced, 22.0, 12.0, inner, bold=True)
    items.append(_centred(spaced, cx, y + 6.5, size, bold=True))
    y += 8.5
    bar_fill, _ = _barcode_fill(code.code, cx, y, inner)
    items.append(bar_fill)
    y += BAR_HEIGHT_MM + 3.2
    items.append(_centred(code.code, cx, y, 8.0))
    y += 1.6
    items.append(Rule(m, y, w - m, y, 0.3))

    # Parties and procedure: free text of any length, fitted into what is left.
    phone = _clean(data.sender_phone)
    paras = [
        _Para("NGƯỜI GỬI / From", 6.5, bold=True, space_before=1.2),
        _Para(_clean(data.sender_name), 9.5, bold=True, space_before=0.3),
        _Para(f"ĐT: {phone}" if phone else "", 8.5),
        _Para(_clean(data.sender_address), 8.0),
        _Para("NƠI NHẬN / To", 6.5, bold=True, space_before=2.0),
        _Para(_clean(data.recipient_name), 10.0, bold=True, space_before=0.3),
        _Para(_clean(data.recipient_address), 8.0),
        _Para("THỦ TỤC / Procedure", 6.5, bold=True, space_before=2.0),
        _Para(_clean(data.procedure_name), 8.0, space_before=0.3),
    ]
    items.extend(_flow([p for p in paras if p.text], m, y, h - m, inner))
    return Layout(w, h, tuple(items), f"Nhãn bưu gửi {code.code}")


def _centred(text: str, x: float, y: float, size: float, *, bold: bool = False) -> Text:
    return Text(x, y, size, bold, text, _width_mm(text, size, bold), "middle")


def _side_column(data: LabelData, x: float, top: float, width: float, bottom: float) -> list[Primitive]:
    paras = [
        _Para("NGÀY GỬI / Date", 6.0, bold=True),
        _Para(data.created_on.strftime("%d/%m/%Y"), 10.0, bold=True, space_before=0.2),
        _Para("SỐ PHONG BÌ / Envelopes", 6.0, bold=True, space_before=1.6),
        _Para(str(data.envelopes), 10.0, bold=True, space_before=0.2),
        _Para("HÌNH THỨC / Service", 6.0, bold=True, space_before=1.6),
        _Para(_clean(data.service_form), 8.0, space_before=0.2),
    ]
    dossier = _clean(data.dossier_code)
    if dossier:
        paras += [
            _Para("MÃ HỒ SƠ / Dossier no.", 6.0, bold=True, space_before=1.6),
            _Para(dossier, 8.0, bold=True, space_before=0.2),
        ]
    return _flow([p for p in paras if p.text], x, top, bottom, width)


# --- painters -------------------------------------------------------------------------------------------


def _paint_pdf(canvas: Canvas, layout: Layout) -> None:
    """Paint a layout in the current user space, label origin at (0, 0) bottom-left, units points."""
    h = layout.height
    for item in layout.items:
        if isinstance(item, Text):
            canvas.setFont(_font(item.bold), item.size)
            if item.anchor == "middle":
                canvas.drawCentredString(item.x * mm, (h - item.y) * mm, item.text)
            else:
                canvas.drawString(item.x * mm, (h - item.y) * mm, item.text)
        elif isinstance(item, Fill):
            path = canvas.beginPath()
            for x, y, w, rh in item.rects:
                path.rect(x * mm, (h - y - rh) * mm, w * mm, rh * mm)
            canvas.drawPath(path, stroke=0, fill=1)
        else:
            canvas.setLineWidth(item.width * mm)
            canvas.line(item.x1 * mm, (h - item.y1) * mm, item.x2 * mm, (h - item.y2) * mm)


def _new_canvas(buf: io.BytesIO, pagesize: tuple[float, float], title: str) -> Canvas:
    # invariant=1: no timestamps or random ids, so the same label always gives the same bytes (cacheable,
    # comparable in tests).
    canvas = Canvas(buf, pagesize=pagesize, invariant=1, pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("DossierPost")
    return canvas


def render_pdf(data: LabelData) -> bytes:
    """One label as a one-page 100 x 150 mm PDF with embedded (subset) fonts."""
    layout = build_layout(data)
    buf = io.BytesIO()
    canvas = _new_canvas(buf, (layout.width * mm, layout.height * mm), layout.title)
    _paint_pdf(canvas, layout)
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


# --- raster painter (PNG) -------------------------------------------------------------------------------

# Glyphs are drawn at 4x the size and averaged down: unhinted shapes at quarter-pixel positions, as pdfium
# draws the PDF's text (Pillow's FreeType always hints at the target size, which moves stems and rounds
# each advance to a whole pixel: lines drifted up to 2 % from the PDF's widths, measured).
_SUPERSAMPLE: Final = 4
# Per font size: ~500 words at 203 dpi (a label has ~130), whatever the resolution, and 1 MB of masks.
_WORD_CACHE_PIXELS: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class _Ink:
    """A coverage mask and where it goes, in pixels.

    ``left`` is counted from the pixel holding the pen, ``top`` from the baseline (negative above it); nothing
    to paint (a space) has no mask.
    """

    mask: Image.Image | None
    left: int
    top: int


class _TextCache:
    """Text in one font at one pixel size, rendered on first use and then reused by every label.

    Rendering a line with FreeType costs ~0.3 ms (its hinting interpreter runs for every glyph, every time),
    pasting a cached mask ~1 us. Glyphs are cached per quarter-pixel phase, and so are words (a label has
    ~600 characters but ~130 words, most of them repeated from label to label: field names, place names,
    Vietnamese syllables), each composed from its glyphs at the positions the PDF gives them.
    """

    def __init__(self, bold: bool, px: float) -> None:
        from PIL import ImageFont  # noqa: PLC0415 - FreeType (~14 ms to import) only in processes that rasterise

        self._font = ImageFont.truetype(
            str(_FONT_DIR / _FONT_FILES[bold]), px * _SUPERSAMPLE, layout_engine=ImageFont.Layout.BASIC
        )
        face = _register_fonts()[bold].face  # advance widths per 1000 em: the PDF's own
        self._widths: dict[int, float] = face.charWidths
        self._default_width: float = face.defaultWidth
        self._step = px / 1000 * _SUPERSAMPLE  # sub-pixels per width unit
        self.space = self.advance(" ")
        self._glyphs: dict[tuple[str, int], _Ink] = {}
        self._words: dict[tuple[str, int], tuple[_Ink, float]] = {}
        self._word_pixels = 0
        self._lock = threading.Lock()  # a FreeType face must not render in two threads at once

    def advance(self, text: str) -> float:
        """Width of ``text`` in sub-pixels."""
        widths, default = self._widths, self._default_width
        return sum(widths.get(ord(ch), default) for ch in text) * self._step

    def word(self, text: str, phase: int) -> tuple[_Ink, float]:
        """``text`` (no spaces) with its origin ``phase`` sub-pixels right of a pixel boundary; its width.

        The width is in sub-pixels, unrounded, for the pen to move on.
        """
        found = self._words.get((text, phase))
        if found is None:
            ink = self._compose(text, phase)
            if self._word_pixels > _WORD_CACHE_PIXELS:  # item codes and house numbers rarely come back
                self._words.clear()
                self._word_pixels = 0
            found = self._words[text, phase] = (ink, self.advance(text))
            self._word_pixels += ink.mask.width * ink.mask.height if ink.mask is not None else 0
        return found

    def _compose(self, text: str, phase: int) -> _Ink:
        """The word's glyphs, each at its pen position to the nearest sub-pixel, in one mask."""
        k = _SUPERSAMPLE
        placed: list[tuple[int, _Ink]] = []
        x = float(phase)
        for ch in text:
            pen = math.floor(x + 0.5)
            placed.append((pen // k, self._glyph(ch, pen % k)))
            x += self._widths.get(ord(ch), self._default_width) * self._step
        inked = [(pixel + g.left, g.top, g.mask) for pixel, g in placed if g.mask is not None]
        if not inked:
            return _Ink(None, 0, 0)
        left, top = min(x for x, _, _ in inked), min(y for _, y, _ in inked)
        right = max(x + glyph.width for x, _, glyph in inked)
        bottom = max(y + glyph.height for _, y, glyph in inked)
        mask = Image.new("L", (right - left, bottom - top), 0)
        for x, y, glyph in inked:
            # Coverage adds up as painting each glyph on the label would: c' = 1 - (1 - c)(1 - a).
            mask.paste(255, (x - left, y - top), glyph)
        return _Ink(mask, left, top)

    def _glyph(self, ch: str, phase: int) -> _Ink:
        found = self._glyphs.get((ch, phase))
        if found is None:
            with self._lock:
                found = self._glyphs[ch, phase] = self._render(ch, phase)
        return found

    def _render(self, ch: str, phase: int) -> _Ink:
        k = _SUPERSAMPLE
        left, top, right, bottom = self._font.getbbox(ch, anchor="ls")  # ink box around the origin, sub-pixels
        if right <= left or bottom <= top:
            return _Ink(None, 0, 0)
        # The whole output pixels the ink touches, once the origin is shifted by ``phase``.
        x0, y0 = math.floor((left + phase) / k), math.floor(top / k)
        x1, y1 = math.ceil((right + phase) / k), math.ceil(bottom / k)
        big = Image.new("L", ((x1 - x0) * k, (y1 - y0) * k), 0)
        ImageDraw.Draw(big).text((phase - x0 * k, -y0 * k), ch, fill=255, font=self._font, anchor="ls")
        return _Ink(big.reduce(k), x0, y0)


@functools.lru_cache(maxsize=64)
def _text_cache(bold: bool, px: float) -> _TextCache:
    return _TextCache(bold, px)


def _snap(value: float) -> int:
    """The pixel edge nearest to ``value`` px: a shape covers the pixels whose centres it covers."""
    return math.floor(value + 0.5)


def _raster_text(draw: ImageDraw.ImageDraw, item: Text, scale: float, dpi: int) -> None:
    """Word by word, each glyph at the position the PDF gives it (its advance widths), to a quarter pixel."""
    px = round(item.size * dpi / 72 * 64) / 64  # FreeType sizes are in 1/64 px: no more distinct sizes than that
    cache = _text_cache(item.bold, px)
    x = (item.x - item.width / 2 if item.anchor == "middle" else item.x) * scale * _SUPERSAMPLE  # sub-pixels
    baseline = _snap(item.y * scale)
    for word in item.text.split(" "):
        pen = _snap(x)
        ink, width = cache.word(word, pen % _SUPERSAMPLE)
        if ink.mask is not None:
            draw.bitmap((pen // _SUPERSAMPLE + ink.left, baseline + ink.top), ink.mask, fill=0)
        x += width + cache.space


def _raster_fill(draw: ImageDraw.ImageDraw, fill: Fill, scale: float) -> None:
    """Each rectangle snapped to whole pixels (as :func:`_snap`), at least one pixel each way.

    QR modules and bars come out crisp and equal, and neighbouring runs share their snapped edge, so nothing
    overlaps or leaves a hairline gap. (Inlined: a QR code is ~400 rectangles.)
    """
    floor, rectangle = math.floor, draw.rectangle
    for x, y, w, h in fill.rects:
        left, top = floor(x * scale + 0.5), floor(y * scale + 0.5)
        right, bottom = floor((x + w) * scale + 0.5), floor((y + h) * scale + 0.5)
        rectangle((left, top, max(right, left + 1) - 1, max(bottom, top + 1) - 1), fill=0)


def _raster_rule(draw: ImageDraw.ImageDraw, rule: Rule, scale: float) -> None:
    half = rule.width / 2
    if rule.y1 == rule.y2:  # every rule on the label: a band of whole pixels, like the bars
        x1, x2 = sorted((rule.x1, rule.x2))
        _raster_fill(draw, Fill(((x1, rule.y1 - half, x2 - x1, rule.width),)), scale)
    elif rule.x1 == rule.x2:
        y1, y2 = sorted((rule.y1, rule.y2))
        _raster_fill(draw, Fill(((rule.x1 - half, y1, rule.width, y2 - y1),)), scale)
    else:  # a slanted line: its outline, with the PDF's default butt ends
        x1, y1, x2, y2 = rule.x1 * scale, rule.y1 * scale, rule.x2 * scale, rule.y2 * scale
        length = math.hypot(x2 - x1, y2 - y1)
        nx, ny = (y1 - y2) / length * half * scale, (x2 - x1) / length * half * scale
        draw.polygon([(x1 + nx, y1 + ny), (x2 + nx, y2 + ny), (x2 - nx, y2 - ny), (x1 - nx, y1 - ny)], fill=0)


def _raster_size(layout: Layout, dpi: int) -> tuple[int, int]:
    """The image size of a layout at ``dpi``: whole pixels covering it, as pdfium sizes the PDF's page."""
    scale = dpi / 25.4
    return math.ceil(round(layout.width * scale, 6)), math.ceil(round(layout.height * scale, 6))


def _paint_raster(image: Image.Image, layout: Layout, dpi: int) -> None:
    """Paint a layout at ``dpi`` on a white 8-bit greyscale ``image`` (origin top-left, like the PDF's page)."""
    scale = dpi / 25.4  # px per mm
    draw = ImageDraw.Draw(image)
    for item in layout.items:
        if isinstance(item, Text):
            _raster_text(draw, item, scale, dpi)
        elif isinstance(item, Fill):
            _raster_fill(draw, item, scale)
        else:
            _raster_rule(draw, item, scale)


def render_png(data: LabelData, dpi: int = 203) -> bytes:
    """One label as a greyscale PNG at ``dpi`` (203 = the usual thermal printer), painted from the layout."""
    if not 72 <= dpi <= 1200:  # noqa: PLR2004 - sane bounds; 1200 dpi is already ~30 Mpx
        raise ValueError(f"dpi must be between 72 and 1200, got {dpi}")
    layout = build_layout(data)
    width, height = _raster_size(layout, dpi)
    image = Image.new("L", (width + 1, height), 255)  # one spare column on the right, for the PNG writer
    _paint_raster(image, layout, dpi)
    return _encode_png_grey(image, dpi)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _encode_png_grey(image: Image.Image, dpi: int) -> bytes:
    """An 8-bit greyscale image as a PNG with its resolution (pHYs), every row unfiltered.

    The image's last column is a spare one, not part of the picture. Each PNG row starts with its filter
    type, 0 (None): with the spare column zeroed, the pixels moved by one byte are exactly those rows (each
    row's spare byte becomes the next row's filter byte), with no row-by-row copying of the ~1 MB.

    Deflating them is most of the encoding. Pillow's writer tries every filter on every row (adaptive
    filtering) and deflates with zlib, ~6 ms at 203 dpi; zlib alone, even at level 1, ~3 ms; ISA-L's deflate
    at level 1 ~0.6 ms for the same size (~75 KiB). On a label (flat white, sharp black edges, few greys)
    unfiltered rows compress as well as filtered ones (measured).
    """
    from isal import isal_zlib  # noqa: PLC0415 - only in processes that write PNGs

    width, height = image.width - 1, image.height
    image.paste(0, (width, 0, width + 1, height))
    compressor = isal_zlib.compressobj(1)
    parts = [compressor.compress(b"\x00")]
    # The pixels go to the compressor in strips of <= 64 KiB: one ``tobytes()`` of the whole ~1 MB image cost
    # 0.75 ms at 203 dpi, most of it the fresh large buffer's page faults; strips reuse small ones (0.2 ms).
    rows = max(1, 65536 // image.width)
    for top in range(0, height, rows):
        strip = image.crop((0, top, image.width, min(height, top + rows))).tobytes()
        parts.append(compressor.compress(strip if top + rows < height else memoryview(strip)[:-1]))
    parts.append(compressor.flush())
    idat = b"".join(parts)
    per_metre = int(dpi / 0.0254 + 0.5)
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)),  # 8-bit greyscale
        _png_chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
        _png_chunk(b"IDAT", idat),
        _png_chunk(b"IEND", b""),
    ))


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def render_svg(data: LabelData) -> str:
    """One label as a standalone SVG document sized 100 x 150 mm (user units are millimetres)."""
    layout = build_layout(data)
    w, h = _num(layout.width), _num(layout.height)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}mm" height="{h}mm" viewBox="0 0 {w} {h}">\n',
        f"<title>{escape(layout.title)}</title>\n",
        '<rect width="100%" height="100%" fill="#fff"/>\n',
        f'<g font-family="{escape(SVG_FONT_FAMILY)}" fill="#000">\n',
    ]
    for item in layout.items:
        if isinstance(item, Text):
            anchor = ' text-anchor="middle"' if item.anchor == "middle" else ""
            weight = ' font-weight="bold"' if item.bold else ""
            parts.append(
                f'<text x="{_num(item.x)}" y="{_num(item.y)}" font-size="{_num(item.size * PT_MM)}"'
                f'{weight}{anchor} textLength="{_num(item.width)}" lengthAdjust="spacingAndGlyphs">'
                f"{escape(item.text)}</text>\n"
            )
        elif isinstance(item, Fill):
            d = "".join(
                f"M{_num(x)} {_num(y)}h{_num(rw)}v{_num(rh)}h{_num(-rw)}z" for x, y, rw, rh in item.rects
            )
            parts.append(f"<path d={quoteattr(d)}/>\n")
        else:
            parts.append(
                f'<line x1="{_num(item.x1)}" y1="{_num(item.y1)}" x2="{_num(item.x2)}" y2="{_num(item.y2)}" '
                f'stroke="#000" stroke-width="{_num(item.width)}"/>\n'
            )
    parts.append("</g>\n</svg>\n")
    return "".join(parts)


# --- A4 batches -----------------------------------------------------------------------------------------


def _sheet_geometry() -> tuple[float, float, float]:
    """(scale, left, top) in mm for the 2 x 2 grid, centred on the A4 page."""
    page_w, page_h = A4[0] / mm, A4[1] / mm
    scale = min(
        (page_w - 2 * SHEET_MARGIN_MM - SHEET_GAP_MM) / (2 * LABEL_WIDTH_MM),
        (page_h - 2 * SHEET_MARGIN_MM - SHEET_GAP_MM) / (2 * LABEL_HEIGHT_MM),
    )
    grid_w = 2 * LABEL_WIDTH_MM * scale + SHEET_GAP_MM
    grid_h = 2 * LABEL_HEIGHT_MM * scale + SHEET_GAP_MM
    return scale, (page_w - grid_w) / 2, (page_h - grid_h) / 2


def _paint_cut_marks(canvas: Canvas, x: float, y: float, w: float, h: float) -> None:
    """Corner marks just outside a label cell (mm, PDF orientation), staying inside half the gap."""
    off, length = CUT_MARK_OFFSET_MM, CUT_MARK_LENGTH_MM
    canvas.setLineWidth(0.2)
    for cx, sx in ((x, -1), (x + w, 1)):
        for cy, sy in ((y, -1), (y + h, 1)):
            canvas.line((cx + sx * off) * mm, cy * mm, (cx + sx * (off + length)) * mm, cy * mm)
            canvas.line(cx * mm, (cy + sy * off) * mm, cx * mm, (cy + sy * (off + length)) * mm)


def render_pdf_sheet(labels: Sequence[LabelData]) -> bytes:
    """Labels four to an A4 page (2 x 2, scaled to fit, with cut marks), for batch printing at a counter."""
    if not labels:
        raise ValueError("render_pdf_sheet needs at least one label")
    scale, left, top = _sheet_geometry()
    page_h = A4[1] / mm
    cell_w, cell_h = LABEL_WIDTH_MM * scale, LABEL_HEIGHT_MM * scale
    buf = io.BytesIO()
    canvas = _new_canvas(buf, A4, f"Nhãn bưu gửi ({len(labels)})")
    for index, data in enumerate(labels):
        slot = index % LABELS_PER_SHEET
        if index and slot == 0:
            canvas.showPage()
        col, row = slot % 2, slot // 2
        x = left + col * (cell_w + SHEET_GAP_MM)
        y_top = top + row * (cell_h + SHEET_GAP_MM)
        y = page_h - y_top - cell_h  # bottom-left corner of the cell in PDF orientation
        _paint_cut_marks(canvas, x, y, cell_w, cell_h)
        canvas.saveState()
        canvas.translate(x * mm, y * mm)
        canvas.scale(scale, scale)
        _paint_pdf(canvas, build_layout(data))
        canvas.restoreState()
    canvas.showPage()
    canvas.save()
    return buf.getvalue()
