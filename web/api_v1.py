"""JSON API v1 for systems (the province's one-stop software, the national portal), and ``/healthz``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from logistics.accounts.models import Role
from logistics.agencies.models import AdminUnit, Procedure, Scheme, UnitLevel
from logistics.labels.errors import InvalidItemCode
from logistics.labels.s10 import normalize_item_code
from logistics.orders.errors import OrderNotFound, RoutingError, ValidationError
from logistics.orders.models import Channel, Order, OrderState
from logistics.routing.services import RoutingPolicy
from tracking.public import public_tracking
from tracking.services import book_pickup, book_pickups
from web.api_auth import api_require
from web.context import db_session, services
from web.errors import problem
from web.limits import client_key, hit, too_many_requests
from web.openapi import operation
from web.public import TRACK_LOOKUPS
from web.schemas import (
    CommuneList,
    HealthOut,
    OrderBatchCreate,
    OrderBatchOut,
    OrderCreate,
    OrderOut,
    ProcedureList,
    PublicTrackingOut,
)

bp = Blueprint("api_v1", __name__)


def order_json(order: Order) -> dict[str, Any]:
    """An order as the creating system sees it (it supplied the personal data itself)."""
    svc = services()
    base = svc.settings.public_base_url
    sig = svc.signer.sign(order.item_code)
    d = order.dossier
    return {
        "item_code": order.item_code,
        "leg": order.leg.value,
        "state": order.state.value,
        "created_at": order.created_at.isoformat(),
        "postage_vnd": order.postage_vnd,
        "tracking_url": svc.signer.tracking_url(base, order.item_code),
        "labels": {fmt: f"{base}/labels/{order.item_code}.{fmt}?s={sig}" for fmt in ("pdf", "png", "svg")},
        "dossier": {
            "procedure_code": d.procedure.code,
            "procedure_name": d.procedure.name,
            "service_form": d.service_form.value,
            "envelopes": d.envelopes,
            "external_ref": d.external_ref,
            "agency": {"code": d.agency.code, "name": d.agency.name, "address": d.agency.address},
            "commune": {"code": d.admin_unit.code, "name": d.admin_unit.full_name},
            "routing": d.routing,
        },
        "post_office": (
            {"code": order.post_office.code, "name": order.post_office.name} if order.post_office else None
        ),
        # Routing issue #3: an address that did not resolve to one commune holds the order for a dispatcher.
        "needs_address_review": order.state == OrderState.NEEDS_REVIEW,
        "address_review": (
            {"status": (d.routing or {}).get("address", {}).get("status"),
             "explanation": (d.routing or {}).get("address", {}).get("explanation"),
             "candidates": (d.routing or {}).get("address", {}).get("candidates", [])}
            if order.state == OrderState.NEEDS_REVIEW else None
        ),
    }


@operation(bp, "/api/v1/orders", method="POST", summary="Tạo đơn thu gom hồ sơ / Create a pickup order",
           body=OrderCreate, responses={201: OrderOut, 200: OrderOut}, tags=("orders",),
           scope="orders:write", roles=("dispatcher", "manager", "admin"),
           description="Repeating an external_ref returns the first order (200) instead of a duplicate.")
@api_require("orders:write", Role.DISPATCHER, Role.MANAGER, Role.ADMIN)
def create_order(body: OrderCreate) -> Response | tuple[Response, int]:
    """Create a pickup order. Repeating an ``external_ref`` returns the first order (200), not a duplicate."""
    raw = body.model_dump(exclude_none=True)
    svc = services()
    session = db_session()
    try:
        order, created = book_pickup(session, raw, indicator=svc.settings.s10_service_indicator,
                                     policy=RoutingPolicy.from_settings(svc.settings),
                                     channel=Channel.API, actor_role="api")
    except ValidationError as exc:
        return problem(422, "Unprocessable Content", "Dữ liệu không hợp lệ. / Invalid fields.",
                       errors=exc.errors)
    except RoutingError as exc:
        return problem(422, "Unprocessable Content", str(exc))
    except IntegrityError:
        # A concurrent request with the same external_ref won the race: answer with its order.
        session.rollback()
        found = (
            session.scalar(select(Order).where(Order.dossier.has(external_ref=body.external_ref)))
            if body.external_ref else None
        )
        if found is None:
            raise
        order, created = found, False
    resp = jsonify(order_json(order))
    if created:
        resp.headers["Location"] = f"{svc.settings.public_base_url}/t/{order.item_code}"
    return resp, 201 if created else 200


@operation(bp, "/api/v1/orders/batch", method="POST",
           summary="Tạo nhiều đơn thu gom một lần / Create pickup orders in a batch",
           body=OrderBatchCreate, responses={200: OrderBatchOut}, tags=("orders",),
           scope="orders:write", roles=("dispatcher", "manager", "admin"),
           description="At most 500 orders. Each gets its outcome in its place: created, existing (its "
                       "external_ref was booked before: the first order, nothing written) or invalid (with "
                       "each bad field; nothing written for it). Resending a batch is safe when every order "
                       "carries an external_ref.")
@api_require("orders:write", Role.DISPATCHER, Role.MANAGER, Role.ADMIN)
def create_orders_batch(body: OrderBatchCreate) -> Response | tuple[Response, int]:
    """Book several pickups in one transaction through the bulk intake path (one batched write per table)."""
    svc = services()
    session = db_session()
    try:
        bookings = book_pickups(session, [o.model_dump(exclude_none=True) for o in body.orders],
                                indicator=svc.settings.s10_service_indicator,
                                policy=RoutingPolicy.from_settings(svc.settings),
                                channel=Channel.API, actor_role="api")
    except IntegrityError:
        # A concurrent request booked one of these external references first: nothing of this batch was
        # written, and resending it answers those orders as existing.
        session.rollback()
        return problem(409, "Conflict", "Một mã tham chiếu vừa được gửi đồng thời; vui lòng gửi lại lô này. / "
                       "An external_ref was booked concurrently; resend the batch.")
    results: list[dict[str, Any]] = []
    for index, booking in enumerate(bookings):
        if booking.error is not None or booking.order is None:
            results.append({"index": index, "status": "invalid", "order": None, "errors": booking.errors})
        else:
            results.append({"index": index, "status": "created" if booking.created else "existing",
                            "order": order_json(booking.order), "errors": None})
    counts = {status: sum(1 for r in results if r["status"] == status)
              for status in ("created", "existing", "invalid")}
    return jsonify({**counts, "results": results}), 200


@operation(bp, "/api/v1/tracking/<code>", method="GET", public=True, tags=("tracking",),
           summary="Hành trình công khai / Public timeline", responses={200: PublicTrackingOut})
def tracking(code: str) -> Response | tuple[Response, int]:
    """The public timeline as JSON (no personal data); lookups share the public page's anti-enumeration limit."""
    decision = hit(TRACK_LOOKUPS, client_key())
    if not decision.allowed:
        return too_many_requests(decision)
    try:
        view = public_tracking(db_session(), normalize_item_code(code))
    except InvalidItemCode as exc:
        return problem(400, "Bad Request", str(exc))
    except OrderNotFound:
        return problem(404, "Not Found", "Không có bưu gửi mang mã này. / No shipment has this code.")
    return jsonify({
        "item_code": view.item_code,
        "applicant": view.applicant,
        "procedure": view.procedure,
        "agency": view.agency,
        "legs": [
            {
                "item_code": leg.item_code, "leg": leg.leg.value, "state": leg.state.value,
                "state_text": leg.state_text,
                "events": [
                    {"kind": e.kind.value, "text": e.text, "upu_code": e.upu_code,
                     "time": e.time.isoformat(), "place": e.place}
                    for e in leg.events
                ],
            }
            for leg in view.legs
        ],
    })


@operation(bp, "/api/v1/procedures", method="GET", public=True, tags=("reference",),
           summary="Danh mục thủ tục / Procedure catalogue", responses={200: ProcedureList})
def procedures() -> Response:
    """The procedure catalogue (read-only reference data)."""
    rows = db_session().scalars(select(Procedure).order_by(Procedure.code)).all()
    return jsonify([
        {"code": p.code, "name": p.name, "field": p.field, "level": p.level.value, "by_post": p.by_post,
         "processing_days": p.processing_days, "gov_fee_vnd": p.gov_fee_vnd,
         "documents": [{"name": doc.name, "form": doc.form.value, "quantity": doc.quantity}
                       for doc in p.documents]}
        for p in rows
    ])


@operation(bp, "/api/v1/communes", method="GET", public=True, tags=("reference",),
           summary="Xã/phường (2025) / Communes", responses={200: CommuneList})
def communes() -> Response:
    """The 2025 communes/wards with their GSO codes (what ``commune_code`` takes)."""
    rows = db_session().scalars(
        select(AdminUnit).where(AdminUnit.scheme == Scheme.V2025, AdminUnit.level == UnitLevel.COMMUNE)
        .order_by(AdminUnit.code)
    ).all()
    return jsonify([{"code": u.code, "name": u.name, "lat": u.lat, "lon": u.lon} for u in rows])


@operation(bp, "/healthz", method="GET", public=True, tags=("operations",),
           summary="Tình trạng hệ thống / Health", responses={200: HealthOut, 503: HealthOut})
def healthz() -> tuple[Response, int]:
    """Liveness and readiness: database reachable, queue reachable, outbox lag."""
    svc = services()
    status: dict[str, Any] = {"status": "ok"}
    try:
        with svc.db.unit_of_work() as session:
            session.execute(text("SELECT 1"))
        status["database"] = {"ok": True, "dialect": svc.db.dialect}
    except Exception as exc:  # noqa: BLE001 - health reports failures rather than raising them
        status["database"] = {"ok": False, "error": exc.__class__.__name__}
    try:
        status["queue"] = svc.relay.status()
    except Exception as exc:  # noqa: BLE001 - same
        status["queue"] = {"ok": False, "error": exc.__class__.__name__}
    healthy = status["database"]["ok"] and status["queue"]["ok"]
    status["status"] = "ok" if healthy else "degraded"
    return jsonify(status), 200 if healthy else 503
