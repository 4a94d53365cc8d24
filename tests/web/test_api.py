import pytest
from sqlalchemy import func, select

from logistics.orders.models import Order
from tests.factories import bearer, make_token
from tests.orders.helpers import valid_request


@pytest.fixture
def auth(app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        return bearer(make_token(s, ["orders:write", "orders:read"]))


def _body(app, **overrides):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        return valid_request(s, **overrides)


def test_create_order_returns_code_labels_and_routing(client, app, auth):
    resp = client.post("/api/v1/orders", headers=auth, json=_body(app))
    assert resp.status_code == 201
    data = resp.get_json()
    assert data["item_code"].endswith("VN")
    assert data["state"] == "created"
    assert data["tracking_url"].startswith(f"https://dossierpost.test/t/{data['item_code']}?s=")
    assert set(data["labels"]) == {"pdf", "png", "svg"}
    assert data["dossier"]["routing"]["rule"]
    assert resp.headers["Location"].endswith(data["item_code"])


def test_field_errors_are_problem_json(client, app, auth):
    resp = client.post("/api/v1/orders", headers=auth, json=_body(app, phone="0000", procedure_code="X"))
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    assert set(resp.get_json()["errors"]) == {"phone", "procedure_code"}


def test_non_json_bodies_are_refused(client, auth):
    assert client.post("/api/v1/orders", headers=auth, data="nope", content_type="text/plain").status_code == 415
    assert client.post("/api/v1/orders", headers=auth, json=[1, 2]).status_code == 400
    resp = client.post("/api/v1/orders", headers=auth, data="{bad json", content_type="application/json")
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"


def test_oversized_body_is_refused(client, auth):
    resp = client.post("/api/v1/orders", headers=auth, data=b"{" + b" " * (3 * 1024 * 1024) + b"}",
                       content_type="application/json")
    assert resp.status_code == 413


def test_external_ref_retry_returns_the_same_order(client, app, auth):
    body = _body(app, external_ref="IGATE-000.00.01.H12-260101-0001")
    first = client.post("/api/v1/orders", headers=auth, json=body)
    second = client.post("/api/v1/orders", headers=auth, json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["item_code"] == second.get_json()["item_code"]
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        assert s.scalar(select(func.count(Order.id))) == 1


def test_public_tracking_json_has_no_personal_data(client, app, auth):
    code = client.post("/api/v1/orders", headers=auth, json=_body(app)).get_json()["item_code"]
    resp = client.get(f"/api/v1/tracking/{code}")
    assert resp.status_code == 200
    raw = resp.get_data(as_text=True)
    assert "0912345678" not in raw and "Lưu Tấn Tài" not in raw and "Hồng Nhung" not in raw
    assert resp.get_json()["legs"][0]["events"][0]["kind"] == "created"
    assert client.get("/api/v1/tracking/RA000000014VN").status_code == 404
    assert client.get("/api/v1/tracking/garbage").status_code == 400


def test_reference_data_endpoints(client):
    procs = client.get("/api/v1/procedures").get_json()
    assert len(procs) >= 80
    assert all(p["documents"] for p in procs)
    communes = client.get("/api/v1/communes").get_json()
    assert len(communes) == 64


def test_healthz_reports_database_and_queue(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["database"]["ok"] is True
    assert data["queue"]["backend"] == "in-process"
    assert "outbox_lag_seconds" in data["queue"]


def test_order_creation_needs_a_token_with_the_scope(client, app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        body = valid_request(s)
        read_only = bearer(make_token(s, ["orders:read"]))
    anonymous = client.post("/api/v1/orders", json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    forged = client.post("/api/v1/orders", json=body, headers={"Authorization": "Bearer dp_abc_def"})
    assert forged.status_code == 401
    assert "invalid_token" in forged.headers["WWW-Authenticate"]
    assert client.post("/api/v1/orders", json=body, headers=read_only).status_code == 403


def test_unknown_fields_and_wrong_types_are_named(client, app, auth):
    resp = client.post("/api/v1/orders", headers=auth, json=_body(app, envelopes="two", colour="blue"))
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {"envelopes", "colour"}


def test_openapi_document_describes_the_operations(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    op = doc["paths"]["/api/v1/orders"]["post"]
    assert op["security"][0] == {"bearer": ["orders:write"]}
    schema = doc["components"]["schemas"]["OrderCreate"]
    assert "applicant_name" in schema["required"]
    assert client.get("/api/v1/docs").status_code == 200
