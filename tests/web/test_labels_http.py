import io

import pypdfium2 as pdfium
import zxingcpp
from PIL import Image

from logistics.labels.signing import parse_tracking_url
from tests.factories import bearer, make_token
from tests.orders.helpers import valid_request


def _create(client, app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        body = valid_request(s)
        auth = bearer(make_token(s, ["orders:write"]))
    return client.post("/api/v1/orders", json=body, headers=auth).get_json()


def _qr_texts(image):
    return [r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]


def test_png_label_carries_a_verifiable_qr(client, app):
    order = _create(client, app)
    resp = client.get(order["labels"]["png"].removeprefix("https://dossierpost.test"))
    assert resp.status_code == 200
    assert resp.mimetype == "image/png"
    texts = _qr_texts(Image.open(io.BytesIO(resp.data)))
    assert texts == [order["tracking_url"]]
    code, sig = parse_tracking_url(texts[0])
    assert code == order["item_code"]
    from web.context import services

    with app.app_context():
        assert services().signer.verify(code, sig)


def test_pdf_label_is_a6_and_its_qr_decodes(client, app):
    order = _create(client, app)
    resp = client.get(order["labels"]["pdf"].removeprefix("https://dossierpost.test"))
    assert resp.status_code == 200
    assert resp.mimetype == "application/pdf"
    pdf = pdfium.PdfDocument(resp.data)
    width_pt, height_pt = pdf[0].get_size()
    assert (round(width_pt / 72 * 25.4), round(height_pt / 72 * 25.4)) == (100, 150)
    image = pdf[0].render(scale=300 / 72).to_pil()
    assert _qr_texts(image) == [order["tracking_url"]]
    text = pdf[0].get_textpage().get_text_range()
    assert "Nguyễn Thị Hồng Nhung" in text


def test_svg_label_and_cached_rendering_are_identical(client, app):
    order = _create(client, app)
    url = order["labels"]["svg"].removeprefix("https://dossierpost.test")
    first, second = client.get(url), client.get(url)
    assert first.status_code == 200
    assert first.mimetype == "image/svg+xml"
    assert first.data == second.data
    assert order["item_code"].encode() in first.data


def test_labels_need_the_labels_signature(client, app):
    order = _create(client, app)
    code = order["item_code"]
    assert client.get(f"/labels/{code}.pdf").status_code == 403
    assert client.get(f"/labels/{code}.pdf?s=AAAAAAAAAAAA").status_code == 403
    assert client.get(f"/labels/{code}.exe").status_code == 404
    assert client.get("/labels/..%2F..%2Fetc%2Fpasswd.pdf").status_code == 404
