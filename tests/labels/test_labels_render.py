"""Label rendering: scannable codes, exact Vietnamese text, no overflow, all three outputs and A4 sheets."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import unicodedata
import xml.etree.ElementTree as ET

import pypdfium2
import pytest
import zxingcpp
from PIL import Image

from logistics.labels.errors import InvalidItemCode
from logistics.labels.render import (
    LABEL_HEIGHT_MM,
    LABEL_WIDTH_MM,
    MARGIN_MM,
    Fill,
    LabelData,
    Text,
    build_layout,
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


def test_png_qr_decodes_to_the_signed_url(data):
    image = Image.open(io.BytesIO(render_png(data)))
    found = decode(image)
    assert found[zxingcpp.BarcodeFormat.QRCode] == data.qr_url
    code, sig = parse_tracking_url(found[zxingcpp.BarcodeFormat.QRCode])
    assert code == CODE
    assert SIGNER.verify(code, sig)


def test_png_is_label_sized_at_the_thermal_resolution(data):
    image = Image.open(io.BytesIO(render_png(data)))
    width, height = image.size
    assert abs(width - 100 / 25.4 * 203) <= 2
    assert abs(height - 150 / 25.4 * 203) <= 2
    assert image.mode == "L"


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


def test_png_pixels_are_the_pdf_rasterised(data, pdf):
    # The PNG has its own small encoder (faster than Pillow's on labels): the picture must still be exactly
    # the PDF's, pixel for pixel, with the printer resolution recorded.
    image = Image.open(io.BytesIO(render_png(data)))
    assert image.tobytes() == rasterise(pdf, dpi=203).tobytes()
    assert image.info["dpi"] == pytest.approx((203, 203), abs=0.01)
