"""Attacks tried against the running app (each a regression test; the first three were found by fuzzing)."""

import pytest

from tests.factories import bearer, make_token
from tests.orders.helpers import valid_request


@pytest.fixture
def writer(app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        return bearer(make_token(s, ["orders:write", "scans:write"])), valid_request(s)


def test_nul_and_control_characters_are_refused_not_stored(client, writer):
    auth, body = writer
    resp = client.post("/api/v1/orders", headers=auth, json=body | {"applicant_name": "Lê\x00Văn"})
    assert resp.status_code == 422
    assert "applicant_name" in resp.get_json()["errors"]


def test_scan_with_nul_bytes_is_refused_per_scan(client, writer):
    auth, _body = writer
    resp = client.post("/api/v1/scans", headers=auth, json={"scans": [
        {"item_code": "RA000000014VN", "event": "collected", "idempotency_key": "k\x00" * 5},
    ]})
    assert resp.status_code == 200
    assert resp.get_json()["results"][0]["error"] == "invalid_characters"


def test_huge_ids_in_urls_are_not_found_not_errors(client, writer):
    auth, _body = writer
    assert client.get("/api/v1/handovers/" + "9" * 30 + "/pdf", headers=auth).status_code == 404


@pytest.mark.parametrize("payload", ["' OR '1'='1", "RA000000014VN' OR 1=1 --", "x'; DROP TABLE orders; --"])
def test_sql_injection_in_codes_finds_nothing_and_breaks_nothing(client, writer, payload):
    auth, body = writer
    assert client.get(f"/api/v1/tracking/{payload}").status_code in (400, 404)
    assert client.get("/track", query_string={"code": payload}).status_code == 400
    resp = client.post("/api/v1/orders", headers=auth, json=body | {"procedure_code": payload[:40]})
    assert resp.status_code == 422
    assert client.post("/api/v1/orders", headers=auth, json=body).status_code == 201  # orders still there


@pytest.mark.parametrize("path", ["/vendor/../../etc/passwd", "/vendor/..%2F..%2Fetc%2Fpasswd",
                                  "/labels/..%2F..%2Fetc%2Fpasswd.pdf", "/vendor/%2e%2e/package.json"])
def test_path_traversal_in_file_routes_is_refused(client, path):
    resp = client.get(path)
    assert resp.status_code in (400, 403, 404)
    assert b"root:" not in resp.data
    assert b'"dependencies"' not in resp.data


def test_api_caller_is_rate_limited_with_retry_after(client, monkeypatch):
    from config.ratelimit import Limit
    from web import limits

    monkeypatch.setattr(limits, "API_PER_ADDRESS", Limit("api-address-test", 3, 60))
    codes = [client.get("/api/v1/procedures").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200]
    last = client.get("/api/v1/procedures")
    assert last.status_code == 429
    assert int(last.headers["Retry-After"]) > 0
    assert last.mimetype == "application/problem+json"


def test_control_characters_and_absurd_dates_in_list_filters_are_422(client, app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        reader = bearer(make_token(s, ["orders:read"]))
    for params in ({"agency_code": "©\x00E"}, {"created_to": "9999-12-31"}, {"created_from": "0714-05-15"}):
        assert client.get("/api/v1/orders", query_string=params, headers=reader).status_code == 422, params


def test_unicode_digits_in_addresses_do_not_crash_intake(client, writer):
    auth, body = writer
    resp = client.post("/api/v1/orders", headers=auth, json=body | {"address": "Số ¹² ấp ³", "commune_code": None})
    assert resp.status_code in (200, 201, 422)
