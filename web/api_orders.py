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

from config.queue import enqueue
from logistics.accounts.models import Role
from logistics.agencies.models import Agency
from logistics.labels.errors import InvalidItemCode
from logistics.labels.s10 import normalize_item_code
from logistics.labels.services import FORMATS, get_label
from logistics.orders.models import Dossier, Leg, Order, OrderState
from logistics.webhooks.models import WebhookSubscription
from logistics.webhooks.services import (
    WebhookError,
    create_subscription,
    pause,
    replay_subscription,
    unsubscribe,
    update_subscription,
)
from tracking.models import EventKind, TrackingEvent
from tracking.operations import cancel_leg
from tracking.states import TransitionRefused
from web.api_auth import Actor, api_require, current_actor
from web.api_scans import tracking_actor
from web.api_v1 import order_json
from web.context import db_session, services
from web.errors import problem
from web.openapi import operation
from web.schemas import LooseObject, OrderOut, Strict

bp = Blueprint("api_orders", __name__)

READERS = (Role.DISPATCHER, Role.AGENCY_OFFICER, Role.MANAGER, Role.ADMIN)
WRITERS = (Role.DISPATCHER, Role.MANAGER, Role.ADMIN)
MANAGERS = (Role.MANAGER, Role.ADMIN)
MAX_PAGE = 200


class OrderListQuery(Strict):
    """Filters and the page cursor (control characters refused: fuzzing sent NUL into a PostgreSQL filter)."""

    state: Literal[tuple(s.value for s in OrderState)] | None = None  # type: ignore[valid-type]
    leg: Literal["pickup", "result"] | None = None
    agency_code: str | None = Field(default=None, max_length=40)
    created_from: date | None = Field(default=None, ge=date(2000, 1, 1), le=date(2100, 12, 31),
                                      description="ISO yyyy-mm-dd")
    created_to: date | None = Field(default=None, ge=date(2000, 1, 1), le=date(2100, 12, 31))
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





class CancelIn(Strict):
    """Why the order is cancelled."""

    reason: str | None = Field(default=None, max_length=300, description="Lý do hủy")


@operation(bp, "/api/v1/orders/<code>/cancel", method="POST", tags=("orders",), scope="orders:write",
           roles=tuple(r.value for r in WRITERS), body=CancelIn, responses={200: OrderOut, 409: None},
           summary="Hủy đơn (trước khi thu gom) / Cancel an order (before collection)")
@api_require("orders:write", *WRITERS)
def cancel_order(code: str, body: CancelIn) -> Response | tuple[Response, int]:
    """Cancel a leg that has not been collected yet; refused (409, naming the state) once it is moving."""
    actor = current_actor()
    assert actor is not None  # noqa: S101 - api_require ran
    try:
        normalized = normalize_item_code(code)
    except InvalidItemCode as exc:
        return problem(400, "Bad Request", str(exc))
    session = db_session()
    order = session.scalar(scoped(select(Order).where(Order.item_code == normalized), actor))
    if order is None:
        return problem(404, "Not Found", "Không có bưu gửi này trong phạm vi của bạn. / No such item in your scope.")
    try:
        cancel_leg(session, order, actor=tracking_actor(actor), reason=body.reason)
    except TransitionRefused:
        return problem(409, "Conflict", f"Không thể hủy ở trạng thái '{order.state.value}'. / "
                       f"Cannot cancel in state '{order.state.value}'.", state=order.state.value)
    return jsonify(order_json(order))


class SubscriptionIn(Strict):
    """A webhook subscription: the URL receives signed POSTs for the dossier events it asks for."""

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=8, max_length=500, description="http(s) URL of the receiver")
    event_kinds: list[str] = Field(default_factory=list, description="Empty: every event")
    agency_code: str | None = Field(default=None, max_length=40,
                                    description="Only for unbound tokens and managers; a bound token "
                                                "always subscribes to its own agency")


class SubscriptionOut(BaseModel):
    """A subscription; ``secret`` (the HMAC key) is only returned when it is created."""

    id: int
    name: str
    url: str
    agency_code: str | None
    event_kinds: list[str]
    paused: bool
    secret: str | None = None


def _subscription_json(sub: WebhookSubscription, *, secret: bool = False) -> dict[str, Any]:
    return {"id": sub.id, "name": sub.name, "url": sub.url, "agency_code": sub.agency.code if sub.agency else None,
            "event_kinds": list(sub.event_kinds), "paused": sub.paused_at is not None,
            "secret": sub.secret if secret else None}


@operation(bp, "/api/v1/webhooks", method="POST", tags=("webhooks",), scope="webhooks:manage",
           roles=tuple(r.value for r in MANAGERS), body=SubscriptionIn, responses={201: SubscriptionOut},
           summary="Đăng ký webhook / Subscribe a URL to dossier events",
           description="Deliveries carry X-DossierPost-Signature: t=<unix>,v1=<hex HMAC-SHA256 of 't.body'>.")
@api_require("webhooks:manage", *MANAGERS)
def create_webhook(body: SubscriptionIn) -> Response | tuple[Response, int]:
    """Create a subscription; a token bound to an agency can only subscribe to that agency's dossiers."""
    actor = current_actor()
    assert actor is not None  # noqa: S101 - api_require ran
    session = db_session()
    agency_id = actor.agency_id
    if agency_id is None and body.agency_code:
        agency_id = session.scalar(select(Agency.id).where(Agency.code == body.agency_code))
        if agency_id is None:
            return problem(422, "Unprocessable Content", "Không có cơ quan này. / Unknown agency.",
                           errors={"agency_code": "unknown"})
    unknown = sorted(set(body.event_kinds) - {k.value for k in EventKind})
    if unknown:
        return problem(422, "Unprocessable Content", "Loại sự kiện không hợp lệ. / Unknown event kinds.",
                       errors={"event_kinds": ", ".join(unknown)})
    try:
        sub = create_subscription(session, name=body.name, url=body.url, agency_id=agency_id,
                                  event_kinds=body.event_kinds)
    except WebhookError as exc:
        return problem(422, "Unprocessable Content", str(exc), errors={"url": str(exc)})
    return jsonify(_subscription_json(sub, secret=True)), 201


@operation(bp, "/api/v1/webhooks", method="GET", tags=("webhooks",), scope="webhooks:manage",
           roles=tuple(r.value for r in MANAGERS), responses={200: LooseObject},
           summary="Danh sách webhook / List subscriptions (without secrets)")
@api_require("webhooks:manage", *MANAGERS)
def list_webhooks() -> Response:
    """The caller's subscriptions (a bound token sees its agency's only)."""
    actor = current_actor()
    assert actor is not None  # noqa: S101 - api_require ran
    stmt = select(WebhookSubscription).where(WebhookSubscription.active.is_(True)).order_by(WebhookSubscription.id)
    if actor.agency_id is not None:
        stmt = stmt.where(WebhookSubscription.agency_id == actor.agency_id)
    return jsonify({"items": [_subscription_json(s) for s in db_session().scalars(stmt)]})


# --- labels ------------------------------------------------------------------------------------------------
# The label carries the sender's name, phone and address: over the API it is read with ``labels:read`` and
# only for an order the caller may read (``scoped``); anyone else's item answers 404 like a missing one.

LABEL_READERS = READERS


def _label(code: str, fmt: str) -> Response:
    actor = current_actor()
    assert actor is not None  # noqa: S101 - api_require ran
    try:
        normalized = normalize_item_code(code)
    except InvalidItemCode as exc:
        return problem(400, "Bad Request", str(exc), errors={"code": str(exc)})
    session = db_session()
    order = session.scalar(scoped(select(Order).where(Order.item_code == normalized), actor))
    if order is None:
        return problem(404, "Not Found", "Không có bưu gửi này trong phạm vi của bạn. / No such item in your scope.")
    svc = services()
    content = get_label(session, order, fmt, signer=svc.signer, base_url=svc.settings.public_base_url,
                        tz_name=svc.settings.timezone)
    resp = Response(content, mimetype=FORMATS[fmt])
    resp.headers["Content-Disposition"] = f'inline; filename="{order.item_code}.{fmt}"'
    resp.headers["Cache-Control"] = "private, no-store"  # personal data, fetched with a credential
    return resp


_LABEL_DOC = ("Nhãn A6 (100×150 mm) có mã QR ký số của đơn; chỉ đơn thuộc phạm vi của mã truy cập. / "
              "The order's A6 label with its signed QR code; only orders within the caller's scope.")


@operation(bp, "/api/v1/orders/<code>/label.pdf", method="GET", tags=("orders",), scope="labels:read",
           roles=tuple(r.value for r in LABEL_READERS), responses={200: None}, produces=(FORMATS["pdf"],),
           summary="Tải nhãn (PDF) / Download the label as PDF", description=_LABEL_DOC)
@api_require("labels:read", *LABEL_READERS)
def label_pdf(code: str) -> Response:
    """The label as PDF (A6, for thermal and office printers)."""
    return _label(code, "pdf")


@operation(bp, "/api/v1/orders/<code>/label.png", method="GET", tags=("orders",), scope="labels:read",
           roles=tuple(r.value for r in LABEL_READERS), responses={200: None}, produces=(FORMATS["png"],),
           summary="Tải nhãn (PNG) / Download the label as PNG", description=_LABEL_DOC)
@api_require("labels:read", *LABEL_READERS)
def label_png(code: str) -> Response:
    """The label as PNG (203 dpi)."""
    return _label(code, "png")


@operation(bp, "/api/v1/orders/<code>/label.svg", method="GET", tags=("orders",), scope="labels:read",
           roles=tuple(r.value for r in LABEL_READERS), responses={200: None}, produces=(FORMATS["svg"],),
           summary="Tải nhãn (SVG) / Download the label as SVG", description=_LABEL_DOC)
@api_require("labels:read", *LABEL_READERS)
def label_svg(code: str) -> Response:
    """The label as SVG."""
    return _label(code, "svg")


# --- one webhook subscription: change, pause/resume, delete -------------------------------------------------


class SubscriptionPatch(Strict):
    """What to change in a subscription; fields left out stay as they are."""

    paused: bool | None = Field(default=None, description="true: tạm dừng (sự kiện được giữ lại); false: gửi "
                                "tiếp, kể cả các sự kiện đã lỡ / true pauses (events are kept), false resumes "
                                "and re-sends what was missed, oldest first")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: str | None = Field(default=None, min_length=8, max_length=500, description="http(s) URL of the receiver")
    event_kinds: list[str] | None = Field(default=None, description="Empty: every event")


def _own_subscription(subscription_id: int, actor: Actor) -> WebhookSubscription | None:
    """A live subscription the caller may manage: a token bound to an agency, that agency's only."""
    sub = db_session().get(WebhookSubscription, subscription_id)
    if sub is None or not sub.active:
        return None
    if actor.agency_id is not None and sub.agency_id != actor.agency_id:
        return None
    return sub


def _no_subscription() -> Response:
    return problem(404, "Not Found", "Không có đăng ký webhook này trong phạm vi của bạn. / "
                   "No such subscription in your scope.")


@operation(bp, "/api/v1/webhooks/<int:subscription_id>", method="PATCH", tags=("webhooks",),
           scope="webhooks:manage", roles=tuple(r.value for r in MANAGERS), body=SubscriptionPatch,
           responses={200: SubscriptionOut},
           summary="Sửa, tạm dừng hoặc tiếp tục webhook / Change, pause or resume a subscription",
           description='{"paused": true} holds deliveries; {"paused": false} resumes and re-sends what the '
                       "subscription missed (also after the automatic pause that follows 5 failures in a row).")
@api_require("webhooks:manage", *MANAGERS)
def update_webhook(subscription_id: int, body: SubscriptionPatch) -> Response | tuple[Response, int]:
    """Change a subscription of the caller's agency; resuming hands what it missed to the workers."""
    actor = current_actor()
    assert actor is not None  # noqa: S101 - api_require ran
    sub = _own_subscription(subscription_id, actor)
    if sub is None:
        return _no_subscription()
    changes = body.model_dump(exclude_unset=True)
    if not changes or all(v is None for v in changes.values()):
        return problem(422, "Unprocessable Content", "Không có gì để thay đổi. / Nothing to change.",
                       errors={"body": "paused, name, url or event_kinds"})
    unknown = sorted(set(body.event_kinds or []) - {k.value for k in EventKind})
    if unknown:
        return problem(422, "Unprocessable Content", "Loại sự kiện không hợp lệ. / Unknown event kinds.",
                       errors={"event_kinds": ", ".join(unknown)})
    session = db_session()
    try:
        update_subscription(session, sub, name=body.name, url=body.url, event_kinds=body.event_kinds)
    except WebhookError as exc:
        return problem(422, "Unprocessable Content", str(exc), errors={"url": str(exc)})
    if body.paused is True:
        pause(session, sub.id, f"tạm dừng qua API bởi {actor.name} / paused through the API")
    elif body.paused is False and sub.paused_at is not None:
        for delivery_id in replay_subscription(session, sub.id):
            enqueue(session, "workers.jobs.webhooks.deliver_webhook", queue="webhooks", delivery_id=delivery_id)
    session.flush()
    return jsonify(_subscription_json(sub))


@operation(bp, "/api/v1/webhooks/<int:subscription_id>", method="DELETE", tags=("webhooks",),
           scope="webhooks:manage", roles=tuple(r.value for r in MANAGERS), responses={204: None},
           summary="Hủy đăng ký webhook / Delete a subscription",
           description="Nothing more is sent, not even deliveries still waiting; the delivery log is kept.")
@api_require("webhooks:manage", *MANAGERS)
def delete_webhook(subscription_id: int) -> Response | tuple[Response, int]:
    """Unsubscribe: the row stays (inactive) so the delivery log keeps its subscription."""
    actor = current_actor()
    assert actor is not None  # noqa: S101 - api_require ran
    sub = _own_subscription(subscription_id, actor)
    if sub is None:
        return _no_subscription()
    unsubscribe(db_session(), sub)
    return Response(status=204)
