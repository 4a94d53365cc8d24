import re
from urllib.parse import parse_qs, urlparse

from sqlalchemy import func, select

from logistics.orders.models import Order
from tests.orders.helpers import valid_request
from tests.web.helpers import book_via_form


def _form(app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        return valid_request(s)


def test_home_has_search_and_booking(client):
    html = client.get("/").get_data(as_text=True)
    assert 'name="code"' in html
    assert "Đặt lịch thu gom hồ sơ" in html
    assert client.get("/").headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_booking_form_lists_communes_and_postable_procedures(client):
    html = client.get("/book").get_data(as_text=True)
    assert "Phường Tân Thành" in html
    assert "<optgroup" in html


def test_booking_through_the_form_then_tracking_through_the_qr_url(client, app):
    resp = book_via_form(client, _form(app))
    assert resp.status_code == 302
    booked = client.get(resp.headers["Location"])
    html = booked.get_data(as_text=True)
    code = re.search(r'id="item-code">([A-Z]{2}\d{9}VN)<', html).group(1)
    track_link = re.search(r'href="(/t/' + code + r'\?s=[^"]+)"', html).group(1)
    page = client.get(track_link.replace("&amp;", "&"))
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Nguyễn T** H*** N****" in text  # masked
    assert "0912" not in text and "Lưu Tấn Tài" not in text  # no phone, no address
    assert "Đăng ký" in text


def test_form_errors_are_shown_per_field_and_nothing_is_created(client, app):
    form = _form(app) | {"phone": "123", "applicant_name": ""}
    resp = book_via_form(client, form)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'id="err-phone"' in html and 'id="err-applicant_name"' in html
    assert 'value="Số 3 Lưu Tấn Tài"' in html  # what the citizen typed is kept
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        assert s.scalar(select(func.count(Order.id))) == 0


def test_form_without_csrf_token_is_refused(client, app):
    resp = client.post("/book", data=_form(app))
    assert resp.status_code == 400
    assert "Phiên làm việc đã hết hạn" in resp.get_data(as_text=True)


def test_markup_in_names_is_escaped(client, app):
    resp = book_via_form(client, _form(app) | {"applicant_name": "<script>alert(1)</script> An"})
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"])
    code = re.search(r'id="item-code">(\w+)<', page.get_data(as_text=True)).group(1)
    html = client.get(f"/t/{code}").get_data(as_text=True)
    assert "<script>alert" not in html


def test_forged_signature_is_refused(client, app):
    resp = book_via_form(client, _form(app))
    q = parse_qs(urlparse(resp.headers["Location"]).query)
    code = urlparse(resp.headers["Location"]).path.rsplit("/", 1)[1]
    sig = q["s"][0]
    forged = ("A" if sig[0] != "A" else "B") + sig[1:]
    page = client.get(f"/t/{code}?s={forged}")
    assert page.status_code == 403
    assert "Nhãn không hợp lệ" in page.get_data(as_text=True)
    assert client.get(f"/t/{code}?s=").status_code == 403


def test_unknown_and_malformed_codes_get_helpful_pages(client):
    unknown = client.get("/t/RA000000014VN")
    assert unknown.status_code == 404
    assert "Không tìm thấy bưu gửi" in unknown.get_data(as_text=True)
    bad = client.get("/t/RA000000015VN")  # wrong check digit
    assert bad.status_code == 400
    assert "Mã bưu gửi không hợp lệ" in bad.get_data(as_text=True)
    assert client.get("/t/%3Cscript%3E").status_code == 400


def test_search_box_normalises_typed_codes(client):
    resp = client.get("/track?code=ra 000 000 014 vn")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/t/RA000000014VN")


def test_english_is_switchable_and_remembered(client):
    html = client.get("/?lang=en").get_data(as_text=True)
    assert "Track a shipment" in html
    assert "Track a shipment" in client.get("/").get_data(as_text=True)  # cookie kept
    assert "Tra cứu bưu gửi" in client.get("/?lang=vi").get_data(as_text=True)


def test_unknown_page_is_a_friendly_404(client):
    resp = client.get("/no/such/page")
    assert resp.status_code == 404
    assert "Trang không tồn tại" in resp.get_data(as_text=True)
