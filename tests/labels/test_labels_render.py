"""Label rendering: scannable codes, exact Vietnamese text, no overflow, all three outputs and A4 sheets."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import unicodedata
import xml.etree.ElementTree as ET

import pypdfium2
import pytest
import zxingcpp
from PIL import Image, ImageChops, ImageFilter
from reportlab.lib.units import mm

from logistics.labels import render
from logistics.labels.errors import InvalidItemCode
from logistics.labels.render import (
    LABEL_HEIGHT_MM,
    LABEL_WIDTH_MM,
    MARGIN_MM,
    QR_QUIET_MODULES,
    Fill,
    LabelData,
    Layout,
    Rule,
    Text,
    build_layout,
    qr_matrix,
    render_pdf,
    render_pdf_sheet,
    render_png,
    render_svg,
)
from logistics.labels.s10 import make_item_code
from logistics.labels.signing import LabelSigner, parse_tracking_url

SIGNER = LabelSigner([b"test-label-key-0123456789abcdef"])
CODE = "EC136431858VN"
PT_PER_MM = 72 / 25.4


def make_data(code: str = CODE, **overrides: object) -> LabelData:
    data = LabelData(
        item_code=code,
        qr_url=SIGNER.tracking_url("https://dvc.buudien.vn", code),
        sender_name="Nguyễn Thị Hồng Nhung",
        sender_phone="0912 345 678",
        sender_address="Số 12 đường Nguyễn Tất Thành, khóm 3, Phường Tân Thành, tỉnh Cà Mau",
        recipient_name="Trung tâm Phục vụ hành chính công tỉnh Cà Mau",
        recipient_address="Số 2 đường Hùng Vương, Phường An Xuyên, tỉnh Cà Mau",
        procedure_name=(
            "Cấp đổi giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở và tài sản khác gắn liền với đất"
        ),
        service_form="Gửi hồ sơ và nhận kết quả",
        created_on=dt.date(2024, 1, 5),
        envelopes=2,
        dossier_code="000.00.01.H29-240105-0001",
        post_office_name="Bưu cục Trung tâm Cà Mau",
    )
    return dataclasses.replace(data, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def data() -> LabelData:
    return make_data()


@pytest.fixture(scope="module")
def pdf(data) -> bytes:
    return render_pdf(data)


@pytest.fixture(scope="module")
def png(data) -> Image.Image:
    image = Image.open(io.BytesIO(render_png(data)))
    image.load()
    return image


def rasterise(pdf_bytes: bytes, page_index: int = 0, dpi: int = 300) -> Image.Image:
    doc = pypdfium2.PdfDocument(pdf_bytes)
    try:
        return doc[page_index].render(scale=dpi / 72, grayscale=True).to_pil().copy()
    finally:
        doc.close()


def pdf_text(pdf_bytes: bytes) -> str:
    doc = pypdfium2.PdfDocument(pdf_bytes)
    try:
        text = "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()
    # Wrapped lines come back as separate lines; wrapping only breaks at spaces, so join them back.
    return " ".join(text.split())


def decode(image: Image.Image) -> dict[zxingcpp.BarcodeFormat, str]:
    return {r.format: r.text for r in zxingcpp.read_barcodes(image)}


def test_png_qr_and_code128_decode_at_thermal_resolution(data, png):
    found = decode(png)
    assert found[zxingcpp.BarcodeFormat.QRCode] == data.qr_url
    assert found[zxingcpp.BarcodeFormat.Code128] == CODE
    code, sig = parse_tracking_url(found[zxingcpp.BarcodeFormat.QRCode])
    assert code == CODE
    assert SIGNER.verify(code, sig)


def test_png_is_label_sized_at_the_thermal_resolution(png):
    width, height = png.size
    assert abs(width - 100 / 25.4 * 203) <= 2
    assert abs(height - 150 / 25.4 * 203) <= 2
    assert png.mode == "L"


def test_png_records_the_printer_resolution(png):
    assert png.info["dpi"] == pytest.approx((203, 203), abs=0.01)


def test_png_at_another_resolution_is_sized_and_scannable(data):
    image = Image.open(io.BytesIO(render_png(data, dpi=300)))
    assert image.size == rasterise(render_pdf(data), dpi=300).size
    assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    found = decode(image)
    assert found[zxingcpp.BarcodeFormat.QRCode] == data.qr_url
    assert found[zxingcpp.BarcodeFormat.Code128] == CODE


def test_png_rejects_absurd_dpi(data):
    with pytest.raises(ValueError, match="dpi"):
        render_png(data, dpi=10)


def test_pdf_qr_and_code128_decode(pdf, data):
    found = decode(rasterise(pdf))
    assert found[zxingcpp.BarcodeFormat.QRCode] == data.qr_url
    assert found[zxingcpp.BarcodeFormat.Code128] == CODE


def test_pdf_codes_still_decode_at_thermal_resolution(pdf, data):
    found = decode(rasterise(pdf, dpi=203))
    assert found[zxingcpp.BarcodeFormat.QRCode] == data.qr_url
    assert found[zxingcpp.BarcodeFormat.Code128] == CODE


def test_pdf_page_is_100_by_150_mm(pdf):
    doc = pypdfium2.PdfDocument(pdf)
    try:
        assert len(doc) == 1
        width, height = doc[0].get_size()
    finally:
        doc.close()
    assert width == pytest.approx(100 * PT_PER_MM, abs=0.01)
    assert height == pytest.approx(150 * PT_PER_MM, abs=0.01)


@pytest.mark.parametrize(
    "expected",
    [
        "BƯU CHÍNH CÔNG ÍCH – HỒ SƠ HÀNH CHÍNH",
        "Nguyễn Thị Hồng Nhung",
        "Phường Tân Thành, tỉnh Cà Mau",
        "Trung tâm Phục vụ hành chính công",
        "Số 2 đường Hùng Vương, Phường An Xuyên, tỉnh Cà Mau",
        "quyền sở hữu nhà ở và tài sản khác gắn liền với đất",
        "Gửi hồ sơ và nhận kết quả",
        "Bưu cục Trung tâm Cà Mau",
        "EC 136 431 858 VN",
        CODE,
        "05/01/2024",
        "000.00.01.H29-240105-0001",
        "0912 345 678",
        "NGƯỜI GỬI",
        "NƠI NHẬN",
        "THỦ TỤC",
    ],
)
def test_pdf_text_has_exact_vietnamese(pdf, expected):
    assert expected in pdf_text(pdf)


def test_decomposed_input_is_printed_precomposed():
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Hồng Nhung")
    text = pdf_text(render_pdf(make_data(sender_name=nfd)))
    assert "Nguyễn Thị Hồng Nhung" in text


def test_pdf_is_deterministic(data, pdf):
    assert render_pdf(data) == pdf


def test_envelope_count_and_optional_fields():
    text = pdf_text(render_pdf(make_data(envelopes=3, dossier_code=None, post_office_name=None)))
    assert "Envelopes 3" in text
    assert "Dossier" not in text
    assert "Post office" not in text


def assert_inside_label(layout):
    w, h = LABEL_WIDTH_MM, LABEL_HEIGHT_MM
    for item in layout.items:
        if isinstance(item, Text):
            left = item.x - item.width / 2 if item.anchor == "middle" else item.x
            assert left >= MARGIN_MM - 1e-6, item
            assert left + item.width <= w - MARGIN_MM + 1e-6, item
            assert MARGIN_MM <= item.y <= h - MARGIN_MM, item
        elif isinstance(item, Fill):
            for x, y, rw, rh in item.rects:
                assert x >= 0, item
                assert x + rw <= w, item
                assert y >= 0, item
                assert y + rh <= h, item


def test_normal_label_stays_inside_the_margins(data):
    assert_inside_label(build_layout(data))


def test_very_long_text_wraps_and_truncates_without_overflow():
    long_address = ", ".join(f"Tổ {i} ấp Tân Hưng Đông xã Tân Hưng Đông huyện Cái Nước" for i in range(60))
    data = make_data(
        sender_name="Nguyễn Thị Hồng Nhung " * 8,
        sender_address=long_address,
        recipient_name="Trung tâm Phục vụ hành chính công " * 10,
        recipient_address=long_address,
        procedure_name="Thủ tục " + "rất dài " * 200,
        service_form="Gửi hồ sơ và nhận kết quả tại nhà " * 10,
        dossier_code="000.00.01.H29-240105-0001" * 4,
        post_office_name="Bưu cục " * 30,
    )
    layout = build_layout(data)
    assert_inside_label(layout)
    texts = [item.text for item in layout.items if isinstance(item, Text)]
    assert any(t.endswith("…") for t in texts)
    # The essentials survive the squeeze.
    assert "NƠI NHẬN / To" in texts
    assert "THỦ TỤC / Procedure" in texts
    pdf = render_pdf(data)
    found = decode(rasterise(pdf))
    assert found[zxingcpp.BarcodeFormat.QRCode] == data.qr_url


def test_unbreakable_word_is_split_inside_the_label():
    data = make_data(recipient_address="X" * 400, sender_address="https://example.vn/" + "a" * 300)
    assert_inside_label(build_layout(data))
    render_pdf(data)


def test_empty_optional_text_does_not_break_the_layout():
    data = make_data(sender_phone="", sender_address="", recipient_address="  ")
    assert_inside_label(build_layout(data))
    assert "ĐT:" not in pdf_text(render_pdf(data))


def test_invalid_item_code_is_refused():
    with pytest.raises(InvalidItemCode):
        render_pdf(make_data(code=CODE, item_code="EC136431850VN"))


def test_svg_is_xml_with_the_code_and_the_same_text(data):
    svg = render_svg(data)
    root = ET.fromstring(svg)  # noqa: S314 - parsing our own output
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("width") == "100mm"
    assert root.get("height") == "150mm"
    texts = [el.text for el in root.iter("{http://www.w3.org/2000/svg}text")]
    assert CODE in texts
    assert "EC 136 431 858 VN" in texts
    assert "Nguyễn Thị Hồng Nhung" in texts
    assert len(list(root.iter("{http://www.w3.org/2000/svg}path"))) == 2  # QR and barcode


def test_svg_escapes_markup_in_user_text():
    svg = render_svg(make_data(sender_name="<b>A & B</b>"))
    root = ET.fromstring(svg)  # noqa: S314 - parsing our own output
    assert "<b>A & B</b>" in [el.text for el in root.iter("{http://www.w3.org/2000/svg}text")]


def test_a4_sheet_of_nine_labels_has_three_pages():
    labels = [make_data(code=make_item_code("EC", 13643185 + i)) for i in range(9)]
    sheet = render_pdf_sheet(labels)
    doc = pypdfium2.PdfDocument(sheet)
    try:
        assert len(doc) == 3
        width, height = doc[0].get_size()
    finally:
        doc.close()
    assert (width, height) == pytest.approx((595.2756, 841.8898), abs=0.01)
    text = pdf_text(sheet)
    for label in labels:
        assert label.item_code in text


def test_a4_sheet_codes_decode_for_every_label():
    labels = [make_data(code=make_item_code("RR", 47312482 + i)) for i in range(4)]
    results = zxingcpp.read_barcodes(rasterise(render_pdf_sheet(labels)))
    qr = {r.text for r in results if r.format == zxingcpp.BarcodeFormat.QRCode}
    bars = {r.text for r in results if r.format == zxingcpp.BarcodeFormat.Code128}
    assert qr == {label.qr_url for label in labels}
    assert bars == {label.item_code for label in labels}


def test_empty_sheet_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        render_pdf_sheet([])


# --- the PNG paints what the PDF shows ------------------------------------------------------------------
#
# The PNG is painted from the same layout as the PDF, by Pillow instead of pdfium, so the two rasters are not
# identical: edge pixels of text go either way when thresholded, and a rectangle edge within ~0.06 px of a
# pixel's middle is rounded one way by pdfium and the other by the PNG painter. The comparisons below therefore
# look at what a thermal printer burns (pixels darker than mid-grey) and allow one pixel of difference in
# position, primitive by primitive; every limit was measured on these labels and on deliberately broken PNGs
# (the tests after them).

DPI = 203
# Text lines: measured up to 6.4 % of a line's dark pixels off by more than a pixel (4.5-6.5 pt text, where
# thin stems threshold differently); a line shifted by 0.25 mm, set in the other weight or 5 % smaller is
# 22-66 % off.
TEXT_OFF_LIMIT = 0.10
# QR modules, bars and rules: measured 0 pixels off; a one-module gap or a QR code shifted by 0.2 mm is
# hundreds.
SYMBOL_OFF_LIMIT = 0


def inked(image: Image.Image) -> Image.Image:
    """255 where the image is darker than mid-grey (what a thermal printer burns), 0 elsewhere."""
    return image.convert("L").point(lambda v: 255 if v < 128 else 0)


def count(mask: Image.Image, box=None) -> int:
    return (mask.crop(box) if box else mask).histogram()[255]


def off_pixels(png: Image.Image, reference: Image.Image) -> tuple[Image.Image, Image.Image]:
    """Ink of either image with no ink of the other within one pixel (255), and the reference's ink."""
    ink, ref_ink = inked(png), inked(reference)
    stray = ImageChops.subtract(ink, ref_ink.filter(ImageFilter.MaxFilter(3)))
    missing = ImageChops.subtract(ref_ink, ink.filter(ImageFilter.MaxFilter(3)))
    return ImageChops.lighter(stray, missing), ref_ink


def pixel_box(item, dpi: int = DPI) -> tuple[int, int, int, int]:
    """The pixels a primitive may ink, with a 2 px margin: text from its tallest stacked accents (Ẳ reaches
    1.12 em above the baseline in DejaVu Sans Bold) to its descenders."""
    if isinstance(item, Text):
        left = item.x - item.width / 2 if item.anchor == "middle" else item.x
        em = item.size / PT_PER_MM
        x0, y0, x1, y1 = left, item.y - 1.15 * em, left + item.width, item.y + 0.25 * em
    elif isinstance(item, Fill):
        x0, y0 = min(r[0] for r in item.rects), min(r[1] for r in item.rects)
        x1, y1 = max(r[0] + r[2] for r in item.rects), max(r[1] + r[3] for r in item.rects)
    else:
        half = item.width / 2
        x0, x1 = min(item.x1, item.x2) - half, max(item.x1, item.x2) + half
        y0, y1 = min(item.y1, item.y2) - half, max(item.y1, item.y2) + half
    scale = dpi / 25.4
    return int(x0 * scale) - 2, int(y0 * scale) - 2, int(x1 * scale) + 3, int(y1 * scale) + 3


def differences(png: Image.Image, reference: Image.Image, layout) -> list[str]:
    """The primitives of ``layout`` that the PNG paints elsewhere, otherwise or not at all, compared with the
    reference (pdfium's raster of the PDF at the same resolution)."""
    if png.size != reference.size:
        return [f"size {png.size} != {reference.size}"]
    off, ref_ink = off_pixels(png, reference)
    found = []
    for item in layout.items:
        box = pixel_box(item)
        n_off = count(off, box)
        limit = 10 + TEXT_OFF_LIMIT * count(ref_ink, box) if isinstance(item, Text) else SYMBOL_OFF_LIMIT
        if n_off > limit:
            what = repr(item.text) if isinstance(item, Text) else type(item).__name__
            found.append(f"{what}: {n_off} px off (limit {limit:.0f})")
    if count(off) > 0.005 * count(ref_ink):  # anything outside the primitives' boxes, too
        found.append(f"label: {count(off)} of {count(ref_ink)} dark px off")
    return found


@pytest.fixture(scope="module")
def pdf_at_203(pdf) -> Image.Image:
    return rasterise(pdf, dpi=DPI)


def test_png_paints_what_the_pdf_shows(data, png, pdf_at_203):
    assert differences(png, pdf_at_203, build_layout(data)) == []
    # And most pixels are simply equal (measured 98.4 %; the rest are edge pixels of text and symbols).
    equal = 1 - count(ImageChops.difference(inked(png), inked(pdf_at_203))) / (png.width * png.height)
    assert equal >= 0.98


@pytest.mark.parametrize("overrides", [
    {"sender_name": "Đặng Thị Ánh Tuyết", "sender_address": "Ấp Ông Đồ, xã Lý Văn Lâm — “khu B”"},
    {"envelopes": 3, "dossier_code": None, "post_office_name": None},
    {"code": "RR473124829VN"},
])
def test_other_labels_paint_what_their_pdf_shows(overrides):
    data = make_data(**overrides)
    png = Image.open(io.BytesIO(render_png(data)))
    assert differences(png, rasterise(render_pdf(data), dpi=DPI), build_layout(data)) == []


def qr_modules(image: Image.Image, layout, dpi: int = DPI) -> list[list[bool]]:
    """The QR code read back module by module (quiet zone included) at the module centres of the layout."""
    qr = next(item for item in layout.items if isinstance(item, Fill))  # the first fill is the QR code
    module = qr.rects[0][3]
    left, top = min(r[0] for r in qr.rects), min(r[1] for r in qr.rects)  # the finder pattern's corner
    n = round((max(r[0] + r[2] for r in qr.rects) - left) / module)
    ink = inked(image).load()
    scale = dpi / 25.4
    return [
        [ink[int((left + (c + 0.5) * module) * scale), int((top + (r + 0.5) * module) * scale)] == 255
         for c in range(-QR_QUIET_MODULES, n + QR_QUIET_MODULES)]
        for r in range(-QR_QUIET_MODULES, n + QR_QUIET_MODULES)
    ]


def test_png_qr_modules_are_the_symbol_of_the_pdf(data, png, pdf_at_203):
    matrix = qr_matrix(data.qr_url)
    n, q = len(matrix), QR_QUIET_MODULES
    expected = [[0 <= r < n and 0 <= c < n and matrix[r][c] for c in range(-q, n + q)] for r in range(-q, n + q)]
    layout = build_layout(data)
    assert qr_modules(png, layout) == expected
    assert qr_modules(pdf_at_203, layout) == expected


def _move(item, dx=0.0, dy=0.0):
    if isinstance(item, Fill):
        return Fill(tuple((x + dx, y + dy, w, h) for x, y, w, h in item.rects))
    return dataclasses.replace(item, x=item.x + dx, y=item.y + dy)


def _broken(layout, kind: str):
    items = list(layout.items)
    name = next(i for i, item in enumerate(items) if isinstance(item, Text) and item.text.startswith("Nguyễn"))
    address = next(i for i, item in enumerate(items) if isinstance(item, Text) and item.text.startswith("Số 12"))
    qr, bars = (i for i, item in enumerate(items) if isinstance(item, Fill))
    if kind == "text moved 0.3 mm":
        items[name] = _move(items[name], dx=0.3)
    elif kind == "text in the other weight":
        items[name] = dataclasses.replace(items[name], bold=not items[name].bold)
    elif kind == "text 5 % smaller":
        items[name] = dataclasses.replace(items[name], size=items[name].size * 0.95)
    elif kind == "centred text set from its anchor":
        items[0] = dataclasses.replace(items[0], anchor="start")
    elif kind == "line missing":
        del items[address]
    elif kind == "QR code moved 0.2 mm":
        items[qr] = _move(items[qr], dx=0.2)
    elif kind == "QR run missing":
        items[qr] = Fill(items[qr].rects[:40] + items[qr].rects[41:])
    elif kind == "bar missing":
        items[bars] = Fill(items[bars].rects[:5] + items[bars].rects[6:])
    elif kind == "rule missing":
        items.remove(next(item for item in items if isinstance(item, Rule)))
    return dataclasses.replace(layout, items=tuple(items))


@pytest.mark.parametrize("kind", [
    "text moved 0.3 mm", "text in the other weight", "text 5 % smaller", "centred text set from its anchor",
    "line missing", "QR code moved 0.2 mm", "QR run missing", "bar missing", "rule missing",
])
def test_the_comparison_catches_a_broken_png(data, pdf_at_203, monkeypatch, kind):
    # The PDF stays right; the PNG is painted from a broken layout through the real render_png.
    layout = build_layout(data)
    monkeypatch.setattr(render, "build_layout", lambda _data: _broken(layout, kind))
    broken = Image.open(io.BytesIO(render_png(data)))
    assert differences(broken, pdf_at_203, layout) != []


# --- every Vietnamese letter ----------------------------------------------------------------------------
#
# On the label, small text differs too much between the two rasterisers for a lost accent to show above the
# noise. At 20 pt the PNG's glyphs and pdfium's agree to within a pixel everywhere (measured: 0 pixels off, for
# every letter in both weights), while a letter with its marks stripped or its tone mark swapped is >= 21 pixels
# off: so each letter is checked on its own, large.

LETTER_PT = 20.0


def letter_sheet(letters: list[tuple[str, bool]]):
    render._register_fonts()  # for _width_mm, when no label was laid out yet
    em = LETTER_PT / PT_PER_MM
    per_row = 24
    items = tuple(
        Text(4 + (i % per_row) * em * 1.3, 4 + (i // per_row + 1) * em * 1.6, LETTER_PT, bold, ch,
             render._width_mm(ch, LETTER_PT, bold))
        for i, (ch, bold) in enumerate(letters)
    )
    return Layout(8 + per_row * em * 1.3, 8 + (len(letters) // per_row + 1) * em * 1.6, items, "letters")


def paint_png(layout) -> Image.Image:
    image = Image.new("L", render._raster_size(layout, DPI), 255)
    render._paint_raster(image, layout, DPI)
    return image


def paint_pdf_raster(layout) -> Image.Image:
    buf = io.BytesIO()
    canvas = render._new_canvas(buf, (layout.width * mm, layout.height * mm), layout.title)
    render._paint_pdf(canvas, layout)
    canvas.showPage()
    canvas.save()
    return rasterise(buf.getvalue(), dpi=DPI)


def letters_off(png: Image.Image, reference: Image.Image, layout) -> dict[tuple[str, bool], int]:
    off, _ = off_pixels(png, reference)
    return {(item.text, item.bold): count(off, pixel_box(item)) for item in layout.items}


VIETNAMESE = [
    unicodedata.normalize("NFC", vowel + mark)
    for vowel in "aăâeêioôơuưyAĂÂEÊIOÔƠUƯY"
    for mark in ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
] + ["đ", "Đ"]


def _strip_marks(ch: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))


def _swap_tone(ch: str) -> str:
    swaps = {"\u0300": "\u0301", "\u0301": "\u0300", "\u0309": "\u0303", "\u0303": "\u0309", "\u0323": "\u0309"}
    return unicodedata.normalize("NFC", "".join(swaps.get(c, c) for c in unicodedata.normalize("NFD", ch)))


@pytest.fixture(scope="module")
def letters():
    layout = letter_sheet([(ch, bold) for bold in (False, True) for ch in VIETNAMESE])
    return layout, paint_pdf_raster(layout)


def test_png_paints_every_vietnamese_letter_as_the_pdf(letters):
    layout, reference = letters
    off = letters_off(paint_png(layout), reference, layout)
    assert {letter: n for letter, n in off.items() if n > 3} == {}


@pytest.mark.parametrize("change", [_strip_marks, _swap_tone])
def test_a_lost_or_wrong_accent_is_seen(letters, change):
    layout, reference = letters
    wrong = dataclasses.replace(layout, items=tuple(
        dataclasses.replace(item, text=change(item.text)) for item in layout.items
    ))
    off = letters_off(paint_png(wrong), reference, layout)
    changed = [(item.text, item.bold) for item in layout.items if change(item.text) != item.text]
    assert len(changed) > 100
    assert [letter for letter in changed if off[letter] <= 3] == []


@pytest.mark.parametrize(("width", "height"), [(801, 1199), (1024, 128), (1024, 127), (1024, 129), (3, 1), (70000, 2)])
def test_the_png_writer_keeps_every_pixel_whatever_the_strips(width, height):
    # The writer deflates the pixels in strips of <= 64 KiB; the last one drops the spare column's last byte.
    # Heights that are a multiple of the strip, one less, one more, a strip of one row, a row wider than 64 KiB.
    picture = Image.frombytes("L", (width, height), os.urandom(width * height))
    canvas = Image.new("L", (width + 1, height), 255)  # the painter's image: one spare column on the right
    canvas.paste(picture, (0, 0))
    decoded = Image.open(io.BytesIO(render._encode_png_grey(canvas, 203)))  # the writer itself
    assert decoded.mode == "L" and decoded.size == (width, height)
    assert decoded.tobytes() == picture.tobytes()
