"""``POST /api/v1/orders/batch``: many orders in one request, each answered in its place, safe to resend."""

from sqlalchemy import func, select

from logistics.orders.models import Dossier
from tests.factories import bearer, make_token
from tests.orders.helpers import valid_request


def _setup(app, n=3, **overrides):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        writer = bearer(make_token(s, ["orders:write"]))
        bodies = [valid_request(s, external_ref=f"BATCH-{i}", **overrides) for i in range(n)]
    return app.test_client(), writer, bodies


def _dossiers(app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(Dossier))


def test_a_batch_creates_each_valid_order_and_reports_each_bad_one(app):
    client, writer, bodies = _setup(app, 4)
    bodies[2] = bodies[2] | {"phone": "0000", "procedure_code": "NO-SUCH"}
    resp = client.post("/api/v1/orders/batch", json={"orders": bodies}, headers=writer)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    out = resp.get_json()
    assert (out["created"], out["existing"], out["invalid"]) == (3, 0, 1)
    assert [r["index"] for r in out["results"]] == [0, 1, 2, 3]
    assert [r["status"] for r in out["results"]] == ["created", "created", "invalid", "created"]
    assert set(out["results"][2]["errors"]) == {"phone", "procedure_code"}
    assert out["results"][2]["order"] is None
    codes = [r["order"]["item_code"] for r in out["results"] if r["order"]]
    assert len(set(codes)) == 3
    assert all(r["order"]["dossier"]["external_ref"] == f"BATCH-{r['index']}" for r in out["results"] if r["order"])
    assert _dossiers(app) == 3

    # Resending the same batch (a lost answer) creates nothing and returns the same orders.
    again = client.post("/api/v1/orders/batch", json={"orders": bodies}, headers=writer).get_json()
    assert (again["created"], again["existing"], again["invalid"]) == (0, 3, 1)
    assert [r["order"]["item_code"] for r in again["results"] if r["order"]] == codes
    assert _dossiers(app) == 3


def test_a_malformed_batch_is_refused_whole_naming_the_item_and_field(app):
    client, writer, bodies = _setup(app, 2)
    bodies[1] = bodies[1] | {"envelopes": 99}
    resp = client.post("/api/v1/orders/batch", json={"orders": bodies}, headers=writer)
    assert resp.status_code in (400, 422)
    assert resp.content_type.startswith("application/problem+json")
    assert "orders.1.envelopes" in resp.get_data(as_text=True)
    assert client.post("/api/v1/orders/batch", json={"orders": []}, headers=writer).status_code in (400, 422)
    too_many = {"orders": [bodies[0]] * 501}
    assert client.post("/api/v1/orders/batch", json=too_many, headers=writer).status_code in (400, 422)
    assert _dossiers(app) == 0


def test_the_same_reference_twice_in_a_batch_makes_one_order(app):
    client, writer, bodies = _setup(app, 1)
    out = client.post("/api/v1/orders/batch", json={"orders": [bodies[0], bodies[0]]}, headers=writer).get_json()
    assert [r["status"] for r in out["results"]] == ["created", "existing"]
    assert out["results"][0]["order"]["item_code"] == out["results"][1]["order"]["item_code"]
    assert _dossiers(app) == 1


def test_a_batch_needs_the_orders_write_scope(app):
    from web.context import services

    client, _writer, bodies = _setup(app, 1)
    with app.app_context(), services().db.unit_of_work() as s:
        reader = bearer(make_token(s, ["orders:read"]))
    assert client.post("/api/v1/orders/batch", json={"orders": bodies}).status_code == 401
    assert client.post("/api/v1/orders/batch", json={"orders": bodies}, headers=reader).status_code == 403
    assert _dossiers(app) == 0
