from sqlalchemy import select

from logistics.agencies.models import Agency
from tests.factories import bearer, make_token
from tests.orders.helpers import valid_request


def _setup(app, n=3):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        writer = bearer(make_token(s, ["orders:write"]))
        bodies = [valid_request(s, external_ref=f"REF-{i}") for i in range(n)]
    client = app.test_client()
    orders = [client.post("/api/v1/orders", json=b, headers=writer).get_json() for b in bodies]
    agency = orders[0]["dossier"]["agency"]["code"]
    with app.app_context(), services().db.unit_of_work() as s:
        other = s.scalars(select(Agency.code).where(Agency.code != agency)).first()
        mine = bearer(make_token(s, ["orders:read"], agency_code=agency))
        theirs = bearer(make_token(s, ["orders:read"], agency_code=other))
    return client, orders, mine, theirs


def test_read_an_order_with_its_events_within_scope_only(app):
    client, orders, mine, theirs = _setup(app, 1)
    code = orders[0]["item_code"]
    resp = client.get(f"/api/v1/orders/{code}", headers=mine)
    assert resp.status_code == 200
    assert [e["kind"] for e in resp.get_json()["events"]] == ["created"]
    assert client.get(f"/api/v1/orders/{code}", headers=theirs).status_code == 404
    assert client.get("/api/v1/orders/RA999999908VN", headers=mine).status_code == 404


def test_list_pages_with_a_cursor_and_filters(app):
    client, orders, mine, theirs = _setup(app, 5)
    seen, cursor = [], None
    for _ in range(5):
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/orders", query_string=params, headers=mine).get_json()
        seen += [o["item_code"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(o["item_code"] for o in orders)
    assert len(seen) == len(set(seen))
    assert client.get("/api/v1/orders", headers=theirs).get_json()["items"] == []
    created = client.get("/api/v1/orders", query_string={"state": "created"}, headers=mine).get_json()
    assert len(created["items"]) == 5
    assert client.get("/api/v1/orders", query_string={"state": "bogus"}, headers=mine).status_code == 422
    assert client.get("/api/v1/orders", query_string={"cursor": "!!"}, headers=mine).status_code == 422


def test_cancel_before_collection_and_refuse_after(app):
    from sqlalchemy import update

    from logistics.orders.models import Order, OrderState
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        writer = bearer(make_token(s, ["orders:write", "orders:read"]))
        bodies = [valid_request(s, external_ref=f"CX-{i}") for i in range(2)]
    client = app.test_client()
    first, second = (client.post("/api/v1/orders", json=b, headers=writer).get_json() for b in bodies)
    resp = client.post(f"/api/v1/orders/{first['item_code']}/cancel", json={"reason": "Người dân tự nộp"},
                       headers=writer)
    assert resp.status_code == 200
    assert resp.get_json()["state"] == "cancelled"
    events = client.get(f"/api/v1/orders/{first['item_code']}", headers=writer).get_json()["events"]
    assert [e["kind"] for e in events] == ["created", "cancelled"]
    with app.app_context(), services().db.unit_of_work() as s:
        s.execute(update(Order).where(Order.item_code == second["item_code"]).values(state=OrderState.AT_POST_OFFICE))
    refused = client.post(f"/api/v1/orders/{second['item_code']}/cancel", json={}, headers=writer)
    assert refused.status_code == 409
    assert refused.get_json()["state"] == "at_post_office"


def test_webhook_subscription_is_bound_to_the_tokens_agency(app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        agency, other = s.scalars(select(Agency.code).order_by(Agency.id).limit(2)).all()
        bound = bearer(make_token(s, ["webhooks:manage"], agency_code=agency))
    client = app.test_client()
    resp = client.post("/api/v1/webhooks", headers=bound, json={
        "name": "iGate", "url": "https://igate.example/hooks", "agency_code": other, "event_kinds": ["delivered"]})
    assert resp.status_code == 201
    created = resp.get_json()
    assert created["agency_code"] == agency  # the binding wins over what was asked
    assert len(created["secret"]) >= 32
    listed = client.get("/api/v1/webhooks", headers=bound).get_json()["items"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert listed[0]["secret"] is None
    bad = client.post("/api/v1/webhooks", headers=bound, json={"name": "x", "url": "ftp://nope/x"})
    assert bad.status_code == 422
    bad_kind = client.post("/api/v1/webhooks", headers=bound,
                           json={"name": "x", "url": "https://a.example/h", "event_kinds": ["exploded"]})
    assert bad_kind.status_code == 422
