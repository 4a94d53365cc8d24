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
