"""Bare ceiling endpoints for ``bench/bench_http.py``: what this app's HTTP stack and database cost alone.

Registered only when ``DOSSIERPOST_BENCH_ENDPOINTS=1`` (``Settings.bench_endpoints``, refused in
production), so a normal deployment has no such routes and the authorization matrix never sees them. Each
does the database work of the real path with none of its domain logic, through SQLAlchemy Core:

* ``POST /api/bench/write`` ``{"order_id": n, "idempotency_key": "..."}``: one transaction inserting one
  ``tracking_events`` row and bumping the order row (the floor under ``POST /api/v1/scans``);
* ``GET /api/bench/read/<code>``: the order by item code, then its events by ``(order_id, id)`` (the floor
  under the public tracking read).

They sit under ``/api/`` so that they pass the same before-request hooks (rate limit, CSRF exemption) as
the paths they are compared with. No authentication: a bench database only.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import insert, select, update

from config.db import utcnow
from logistics.orders.models import Order, OrderState
from tracking.models import GENESIS_HASH, EventKind, TrackingEvent
from web.context import services
from web.errors import problem

bp = Blueprint("bench", __name__)


@bp.post("/api/bench/write")
def write() -> Response | tuple[Response, int]:
    """One insert and one update in one transaction."""
    body = request.get_json(silent=True)
    order_id = body.get("order_id") if isinstance(body, dict) else None
    key = body.get("idempotency_key") if isinstance(body, dict) else None
    if not isinstance(order_id, int) or isinstance(order_id, bool) or not (key is None or isinstance(key, str)):
        return problem(400, "Bad Request", "order_id (integer) and optional idempotency_key (string) expected")
    now = utcnow()
    with services().db.engine.begin() as conn:
        event_id = conn.execute(insert(TrackingEvent).values(
            order_id=order_id, kind=EventKind.ARRIVED_POST_OFFICE, upu_code="EMB",
            state_after=OrderState.AT_POST_OFFICE, actor_role="courier", lat=9.18, lon=105.15,
            server_time=now, idempotency_key=key, clock_skew_flag=False,
            prev_hash=GENESIS_HASH, hash=GENESIS_HASH,
        ).returning(TrackingEvent.id)).scalar_one()
        updated = conn.execute(update(Order).where(Order.id == order_id)
                               .values(updated_at=now, version=Order.version + 1)).rowcount
    return jsonify({"event_id": event_id, "updated": updated}), 201


@bp.get("/api/bench/read/<code>")
def read(code: str) -> Response | tuple[Response, int]:
    """The two indexed queries of a tracking read, and their rows as JSON."""
    with services().db.engine.connect() as conn:
        order = conn.execute(select(Order.id, Order.item_code, Order.leg, Order.state)
                             .where(Order.item_code == code)).first()
        if order is None:
            return problem(404, "Not Found", "no such item")
        events = conn.execute(
            select(TrackingEvent.kind, TrackingEvent.upu_code, TrackingEvent.server_time,
                   TrackingEvent.post_office_id, TrackingEvent.agency_id)
            .where(TrackingEvent.order_id == order.id).order_by(TrackingEvent.id)).all()
    return jsonify({
        "item_code": order.item_code, "leg": str(order.leg), "state": str(order.state),
        "events": [{"kind": str(e.kind), "upu_code": e.upu_code, "time": e.server_time.isoformat(),
                    "post_office_id": e.post_office_id, "agency_id": e.agency_id} for e in events],
    })
