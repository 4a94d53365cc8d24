"""What one scan over the API costs the database: statements per request, so a regression fails.

The bench (``bench/bench_http.py``) measures the time; this counts the round trips that most of it is. Without
Redis the rate limiter is a database upsert, so it is one of the statements counted here.
"""

import uuid

import pytest
from sqlalchemy import event

from logistics.accounts.models import Role
from tests.factories import login, make_user
from tests.tracking.tracking_helpers import ID_DIGITS, book, checklist
from web.context import services

# Per request: rate limit, the logged-in user, one read of the item (with its dossier, version, chain head, key
# check, webhook subscribers and, for a collection, the checklist), the order's version-checked update and the
# event (one statement on PostgreSQL, two on SQLite), the audit row; a collection adds the ID digits (one
# upsert) and the citizen's notification (outbox). SQLite's explicit ``BEGIN IMMEDIATE`` is counted too.
LIMITS = {
    "postgresql": {"collected": 7, "arrived_post_office": 5, "left_post_office": 5},
    "sqlite": {"collected": 10, "arrived_post_office": 8, "left_post_office": 8},
}


@pytest.mark.parametrize("event_kind", ["collected", "arrived_post_office", "left_post_office"])
def test_a_single_scan_costs_a_handful_of_statements(app, client, db, event_kind):
    with app.app_context():
        svc = services()
        with svc.db.unit_of_work() as s:
            order = book(s)
            courier = make_user(s, Role.COURIER, post_office_code=order.post_office.code)
            qr = svc.signer.tracking_url("https://x", order.item_code)
            docs = checklist(order)
            username = courier.username
    login(client, username)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement.split("\n")[0][:100])

    engine = db.engine
    for kind in ["collected", "arrived_post_office", "left_post_office"]:
        raw = {"qr": qr, "event": kind, "idempotency_key": str(uuid.uuid4()), "lat": 9.18, "lon": 105.15}
        if kind == "collected":
            raw.update(seal_number="NP-0001", documents=docs, id_number_last4=ID_DIGITS)
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            resp = client.post("/api/v1/scans", json=raw)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert resp.status_code == 201, resp.get_json()
        if kind == event_kind:
            assert len(statements) <= LIMITS[db.dialect][kind], statements
            return


def test_a_batch_costs_a_few_statements_per_scan(app, client, db):
    # Each collection in a batch: the order's update and the event (one statement on PostgreSQL), the ID digits;
    # the citizens' notifications go out in one INSERT on PostgreSQL (one per row on SQLite). No savepoint per
    # scan.
    n = 10
    with app.app_context():
        svc = services()
        with svc.db.unit_of_work() as s:
            orders = [book(s) for _ in range(n)]
            courier = make_user(s, Role.COURIER, post_office_code=orders[0].post_office.code)
            raws = [{"qr": svc.signer.tracking_url("https://x", o.item_code), "event": "collected",
                     "idempotency_key": str(uuid.uuid4()), "seal_number": "NP-0001", "documents": checklist(o),
                     "id_number_last4": ID_DIGITS} for o in orders]
            username = courier.username
    login(client, username)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement.split("\n")[0][:100])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        resp = client.post("/api/v1/scans", json={"scans": raws})
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert resp.status_code == 200 and resp.get_json()["accepted"] == n, resp.get_json()
    per_scan = 2 if db.dialect == "postgresql" else 4
    assert len(statements) <= per_scan * n + 15, "\n".join(statements)


@pytest.mark.parametrize("path", ["/api/v1/tracking/{code}", "/t/{code}"])
def test_a_public_tracking_read_is_one_statement(app, client, db, path):
    # The dossier with its procedure and agency, and every leg with its events and places: one statement
    # (tracking.public), besides the rate limiter's upsert of the JSON API (no Redis here) and SQLite's BEGIN.
    with app.app_context():
        svc = services()
        with svc.db.unit_of_work() as s:
            order = book(s)
            code = order.item_code
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if "rate_limit" not in statement and not statement.startswith("BEGIN"):
            statements.append(statement.split("\n")[0][:100])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        resp = client.get(path.format(code=code))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert resp.status_code == 200
    assert code in resp.get_data(as_text=True)
    assert len(statements) == 1, statements
