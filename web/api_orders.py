"""Reading orders through API v1: one order with its events, and cursor-paginated lists, scoped to the caller.

A token bound to an agency sees only that agency's dossiers, one bound to a post office only that office's
orders; staff see what their role covers (an officer their agency, a dispatcher their office, managers all).
Someone else's item answers 404, exactly like an item that does not exist, so codes cannot be probed.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, Field
from sqlalchemy import Select, select

from logistics.accounts.models import Role
from logistics.labels.errors import InvalidItemCode
from logistics.labels.s10 import normalize_item_code
from logistics.orders.models import Dossier, Leg, Order, OrderState
from tracking.models import TrackingEvent
from web.api_auth import Actor, api_require, current_actor
from web.api_v1 import order_json
from web.context import db_session, services
from web.errors import problem
from web.openapi import operation
from web.schemas import OrderOut

bp = Blueprint("api_orders", __name__)

READERS = (Role.DISPATCHER, Role.AGENCY_OFFICER, Role.MANAGER, Role.ADMIN)
MAX_PAGE = 200


class OrderListQuery(BaseModel):
    """Filters and the page cursor."""

    state: Literal[tuple(s.value for s in OrderState)] | None = None  # type: ignore[valid-type]
    leg: Literal["pickup", "result"] | None = None
    agency_code: str | None = Field(default=None, max_length=40)
    created_from: date | None = Field(default=None, description="dd/mm is not accepted: ISO yyyy-mm-dd")
    created_to: date | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=40, description="next_cursor of the previous page")


class EventOut(BaseModel):
    """One event of the order's custody record."""

    kind: str
    upu_code: str | None
    state_after: str
    server_time: str
    device_time: str | None
    actor_role: str
    reason_code: str | None
    note: str | None


class OrderDetailOut(OrderOut):
    """An order with its events."""

    events: list[EventOut]


class OrderPage(BaseModel):
    """One page of orders; pass ``next_cursor`` back to get the next one (null at the end)."""

    items: list[OrderOut]
    next_cursor: str | None


def scoped(query: Select[Any], actor: Actor) -> Select[Any]:
    """Restrict an order query to what the caller may see."""
    if actor.kind == "staff" and actor.role in {Role.MANAGER.value, Role.ADMIN.value}:
        return query
    if actor.agency_id is not None:
        return query.where(Order.dossier.has(Dossier.agency_id == actor.agency_id))
    if actor.post_office_id is not None:
        return query.where(Order.post_office_id == actor.post_office_id)
    if actor.kind == "token":
        return query  # an unbound token with orders:read: the province's own systems
    return query.where(Order.id.is_(None))  # staff without a scope see nothing


def _cursor(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(base64.urlsafe_b64decode(value.encode() + b"==").decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return -1


@operation(bp, "/api/v1/orders/<code>", method="GET", tags=("orders",), scope="orders:read",
           roles=tuple(r.value for r in READERS), responses={200: OrderDetailOut},
           summary="Đọc một đơn và hành trình / Read an order with its events")
@api_require("orders:read", *READERS)
def read_order(code: str) -> Response | tuple[Response, int]:
    """One order (leg) with its full event list."""
    actor = current_actor()
    assert actor is not None  # noqa: S101 - api_require ran
    try:
        normalized = normalize_item_code(code)
    except InvalidItemCode as exc:
        return problem(400, "Bad Request", str(exc))
    order = db_session().scalar(scoped(select(Order).where(Order.item_code == normalized), actor))
    if order is None:
        return problem(404, "Not Found", "Không có bưu gửi này trong phạm vi của bạn. / No such item in your scope.")
    events = db_session().scalars(
        select(TrackingEvent).where(TrackingEvent.order_id == order.id).order_by(TrackingEvent.id)).all()
    body = order_json(order)
    body["events"] = [
        {"kind": e.kind.value, "upu_code": e.upu_code, "state_after": e.state_after.value,
         "server_time": e.server_time.isoformat(), "device_time": e.device_time.isoformat() if e.device_time else None,
         "actor_role": e.actor_role, "reason_code": e.reason_code, "note": e.note}
        for e in events
    ]
    return jsonify(body)


@operation(bp, "/api/v1/orders", method="GET", tags=("orders",), scope="orders:read",
           roles=tuple(r.value for r in READERS), query=OrderListQuery, responses={200: OrderPage},
           summary="Danh sách đơn (phân trang bằng con trỏ) / List orders (cursor pagination)")
@api_require("orders:read", *READERS)
def list_orders(query: OrderListQuery) -> Response | tuple[Response, int]:
    """Orders newest first, filtered, in pages linked by an opaque cursor (stable under inserts)."""
    actor = current_actor()
    assert actor is not None  # noqa: S101 - api_require ran
    after = _cursor(query.cursor)
    if after == -1:
        return problem(422, "Unprocessable Content", "Con trỏ không hợp lệ. / Invalid cursor.",
                       errors={"cursor": "invalid"})
    tz = services().settings.tz
    stmt = scoped(select(Order), actor).order_by(Order.id.desc()).limit(query.limit + 1)
    if after is not None:
        stmt = stmt.where(Order.id < after)
    if query.state:
        stmt = stmt.where(Order.state == OrderState(query.state))
    if query.leg:
        stmt = stmt.where(Order.leg == Leg(query.leg))
    if query.agency_code:
        stmt = stmt.where(Order.dossier.has(Dossier.agency.has(code=query.agency_code)))
    if query.created_from:
        stmt = stmt.where(Order.created_at >= datetime.combine(query.created_from, time.min, tz))
    if query.created_to:
        stmt = stmt.where(Order.created_at < datetime.combine(query.created_to + timedelta(days=1), time.min, tz))
    rows = db_session().scalars(stmt).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = (
        base64.urlsafe_b64encode(str(rows[-1].id).encode()).decode().rstrip("=") if more and rows else None
    )
    return jsonify({"items": [order_json(o) for o in rows], "next_cursor": next_cursor})



