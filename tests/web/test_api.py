from sqlalchemy import func, select

from logistics.orders.models import Order
from tests.orders.helpers import valid_request


def _body(app, **overrides):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        return valid_request(s, **overrides)


def test_create_order_returns_code_labels_and_routing(client, app):
    resp = client.post("/api/v1/orders", json=_body(app))
    assert resp.status_code == 201
    data = resp.get_json()
    assert data["item_code"].endswith("VN")
    assert data["state"] == "created"
    assert data["tracking_url"].startswith(f"https://dossierpost.test/t/{data['item_code']}?s=")
    assert set(data["labels"]) == {"pdf", "png", "svg"}
    assert data["dossier"]["routing"]["rule"]
    assert resp.headers["Location"].endswith(data["item_code"])


def test_field_errors_are_problem_json(client, app):
    resp = client.post("/api/v1/orders", json=_body(app, phone="0000", procedure_code="X"))
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    assert set(resp.get_json()["errors"]) == {"phone", "procedure_code"}


def test_non_json_bodies_are_refused(client):
    assert client.post("/api/v1/orders", data="nope", content_type="text/plain").status_code == 400
    assert client.post("/api/v1/orders", json=[1, 2]).status_code == 400
    resp = client.post("/api/v1/orders", data="{bad json", content_type="application/json")
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"


def test_oversized_body_is_refused(client):
    resp = client.post("/api/v1/orders", data=b"{" + b" " * (3 * 1024 * 1024) + b"}",
                       content_type="application/json")
    assert resp.status_code == 413


def test_external_ref_retry_returns_the_same_order(client, app):
    body = _body(app, external_ref="IGATE-000.00.01.H12-260101-0001")
    first = client.post("/api/v1/orders", json=body)
    second = client.post("/api/v1/orders", json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["item_code"] == second.get_json()["item_code"]
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        assert s.scalar(select(func.count(Order.id))) == 1


def test_public_tracking_json_has_no_personal_data(client, app):
    code = client.post("/api/v1/orders", json=_body(app)).get_json()["item_code"]
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
