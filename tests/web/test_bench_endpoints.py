import pytest
from sqlalchemy import func, select

from config.settings import Settings, SettingsError
from logistics.orders.models import Channel, Order
from tests.orders.helpers import valid_request
from tracking.models import TrackingEvent


def _book(app):
    from tracking.services import book_pickup
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        order, _created = book_pickup(s, valid_request(s), indicator="RA", channel=Channel.API)
        return order.id, order.item_code, order.version


def test_bench_routes_are_absent_by_default(app, client):
    assert not [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/bench")]
    assert client.post("/api/bench/write", json={"order_id": 1}).status_code == 404
    assert client.get("/api/bench/read/RA000000015VN").status_code == 404


def test_bench_routes_work_when_enabled(settings, db):
    from tests.conftest import clean_transactional
    from web import create_app

    app = create_app(settings.with_(bench_endpoints=True), db=db, start_jobs=False)
    client = app.test_client()
    try:
        order_id, code, version = _book(app)
        resp = client.post("/api/bench/write", json={"order_id": order_id, "idempotency_key": "bench-key-0001"})
        assert resp.status_code == 201 and resp.get_json()["updated"] == 1
        assert client.post("/api/bench/write", json={"order_id": "x"}).status_code == 400
        body = client.get(f"/api/bench/read/{code}").get_json()
        assert body["item_code"] == code
        assert [e["kind"] for e in body["events"]] == ["created", "arrived_post_office"]
        assert client.get("/api/bench/read/RA000000015VN").status_code == 404
        with db.unit_of_work() as s:
            assert s.scalar(select(func.count(TrackingEvent.id)).where(TrackingEvent.order_id == order_id)) == 2
            assert s.get(Order, order_id).version == version + 1
    finally:
        clean_transactional(db)


def test_bench_endpoints_are_read_from_the_environment_and_refused_in_production():
    assert Settings.from_env({"DOSSIERPOST_BENCH_ENDPOINTS": "1"}).bench_endpoints
    assert not Settings.from_env({}).bench_endpoints
    with pytest.raises(SettingsError, match="BENCH_ENDPOINTS"):
        Settings.from_env({"DOSSIERPOST_ENV": "production", "SECRET_KEY": "s" * 64,
                           "LABEL_SIGNING_KEY": "l" * 64, "DOSSIERPOST_BENCH_ENDPOINTS": "1"})
