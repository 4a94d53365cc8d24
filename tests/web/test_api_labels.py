"""Labels and hand-over records through API v1: ``labels:read`` / ``agency:confirm``, owner's scope only."""

from sqlalchemy import select

from logistics.accounts.models import Role
from logistics.agencies.models import Agency, PostOffice
from tests.factories import bearer, login, make_token, make_user
from tests.tracking.tracking_helpers import SIGNER, book, courier, qr, to_out_for_agency
from tracking.agency import open_handover
from web.context import services


def _order(app):
    """A booked order and tokens: its agency's, its post office's, another agency's and office's, unbound."""
    with app.app_context(), services().db.unit_of_work() as s:
        order = book(s, applicant_name="Nguyễn Thị Hồng Nhung")
        agency, office = order.dossier.agency.code, order.post_office.code
        other_agency = s.scalars(select(Agency.code).where(Agency.code != agency)).first()
        other_office = s.scalars(select(PostOffice.code).where(PostOffice.code != office)).first()
        return order.item_code, {
            "agency": bearer(make_token(s, ["labels:read"], agency_code=agency)),
            "office": bearer(make_token(s, ["labels:read"], post_office_code=office)),
            "other_agency": bearer(make_token(s, ["labels:read"], agency_code=other_agency)),
            "other_office": bearer(make_token(s, ["labels:read"], post_office_code=other_office)),
            "unbound": bearer(make_token(s, ["labels:read"])),
            "reader_only": bearer(make_token(s, ["orders:read"], agency_code=agency)),
        }


def test_the_owners_download_the_label_in_each_format(app, client):
    code, tokens = _order(app)
    expected = {"pdf": ("application/pdf", b"%PDF"), "png": ("image/png", b"\x89PNG"),
                "svg": ("image/svg+xml", b"<svg")}
    for who in ("agency", "office", "unbound"):
        for fmt, (mimetype, magic) in expected.items():
            resp = client.get(f"/api/v1/orders/{code}/label.{fmt}", headers=tokens[who])
            assert resp.status_code == 200, (who, fmt, resp.get_data(as_text=True)[:200])
            assert resp.mimetype == mimetype
            assert magic in resp.data[:200]
            assert resp.headers["Cache-Control"] == "private, no-store"
    svg = client.get(f"/api/v1/orders/{code}/label.svg", headers=tokens["agency"]).get_data(as_text=True)
    assert code in svg and "Nguyễn Thị Hồng Nhung" in svg


def test_another_agency_or_office_gets_404_like_a_missing_item(app, client):
    code, tokens = _order(app)
    for who in ("other_agency", "other_office"):
        resp = client.get(f"/api/v1/orders/{code}/label.pdf", headers=tokens[who])
        assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    missing = client.get("/api/v1/orders/RA999999908VN/label.pdf", headers=tokens["agency"])
    assert missing.status_code == 404
    assert missing.get_json()["detail"] == client.get(
        f"/api/v1/orders/{code}/label.pdf", headers=tokens["other_agency"]).get_json()["detail"]
    bad = client.get("/api/v1/orders/not-a-code/label.png", headers=tokens["agency"])
    assert bad.status_code == 400 and "code" in bad.get_json()["errors"]


def test_labels_need_the_labels_scope(app, client):
    code, tokens = _order(app)
    assert client.get(f"/api/v1/orders/{code}/label.pdf").status_code == 401
    denied = client.get(f"/api/v1/orders/{code}/label.pdf", headers=tokens["reader_only"])
    assert denied.status_code == 403 and denied.get_json()["required_scope"] == "labels:read"


def test_staff_sessions_read_labels_of_their_own_unit(app, client):
    code, _tokens = _order(app)
    with app.app_context(), services().db.unit_of_work() as s:
        order = book(s)  # the same agency and office as the first one
        other = s.scalars(select(Agency.code).where(Agency.code != order.dossier.agency.code)).first()
        mine = make_user(s, Role.AGENCY_OFFICER, agency_code=order.dossier.agency.code).username
        theirs = make_user(s, Role.AGENCY_OFFICER, agency_code=other).username
    login(client, mine)
    assert client.get(f"/api/v1/orders/{code}/label.png").status_code == 200
    stranger = app.test_client()
    login(stranger, theirs)
    assert stranger.get(f"/api/v1/orders/{code}/label.png").status_code == 404


def _record(app):
    """A hand-over record at the order's agency, and agency tokens: its own and another agency's."""
    with app.app_context(), services().db.unit_of_work() as s:
        order = book(s)
        to_out_for_agency(s, order)
        record = open_handover(s, agency_code=order.dossier.agency.code, items=[qr(order)], actor=courier(order),
                               signer=SIGNER)
        other = s.scalars(select(Agency.code).where(Agency.code != order.dossier.agency.code)).first()
        return record.id, order.item_code, {
            "mine": bearer(make_token(s, ["agency:confirm"], agency_code=order.dossier.agency.code)),
            "theirs": bearer(make_token(s, ["agency:confirm"], agency_code=other)),
            "labels": bearer(make_token(s, ["labels:read"], agency_code=order.dossier.agency.code)),
        }


def test_the_agency_downloads_its_hand_over_record_as_pdf(app, client):
    import io

    import pypdfium2

    record_id, code, tokens = _record(app)
    resp = client.get(f"/api/v1/agency/handovers/{record_id}/pdf", headers=tokens["mine"])
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.headers["Content-Disposition"].startswith("inline; filename=")
    pdf = pypdfium2.PdfDocument(io.BytesIO(resp.data))
    text = "".join(page.get_textpage().get_text_range() for page in pdf)
    assert "BIÊN BẢN GIAO NHẬN" in text.upper() and code in text


def test_another_agencys_record_is_404_and_other_scopes_are_refused(app, client):
    record_id, _code, tokens = _record(app)
    theirs = client.get(f"/api/v1/agency/handovers/{record_id}/pdf", headers=tokens["theirs"])
    missing = client.get("/api/v1/agency/handovers/999999/pdf", headers=tokens["mine"])
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json()["detail"] == missing.get_json()["detail"]
    assert client.get(f"/api/v1/agency/handovers/{record_id}/pdf", headers=tokens["labels"]).status_code == 403
    assert client.get(f"/api/v1/agency/handovers/{record_id}/pdf").status_code == 401


def test_new_operations_are_in_the_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    label = doc["paths"]["/api/v1/orders/{code}/label.pdf"]["get"]
    assert label["security"][0] == {"bearer": ["labels:read"]}
    assert "application/pdf" in label["responses"]["200"]["content"]
    assert "image/png" in doc["paths"]["/api/v1/orders/{code}/label.png"]["get"]["responses"]["200"]["content"]
    record = doc["paths"]["/api/v1/agency/handovers/{record_id}/pdf"]["get"]
    assert record["security"][0] == {"bearer": ["agency:confirm"]}
