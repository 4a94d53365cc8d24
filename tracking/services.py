"""Recording tracking events, and the intake use case that opens an order with its first event."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.db import utcnow
from config.queue import enqueue
from logistics.orders.models import Channel, Order, OrderState
from logistics.orders.services import (
    create_pickup_order,
    find_by_external_ref,
    validate_pickup_request,
)
from logistics.routing.services import RoutingPolicy
from tracking.models import GENESIS_HASH, UPU_CODES, EventKind, TrackingEvent
from tracking.reactions import event_recorded


def last_event(session: Session, order_id: int) -> TrackingEvent | None:
    """The most recent event of an order (the head of its hash chain)."""
    return session.scalar(
        select(TrackingEvent).where(TrackingEvent.order_id == order_id).order_by(TrackingEvent.id.desc()).limit(1)
    )


def append_event(
    session: Session,
    order: Order,
    kind: EventKind,
    state_after: OrderState,
    *,
    actor_role: str,
    actor_id: int | None = None,
    actor_name: str | None = None,
    post_office_id: int | None = None,
    agency_id: int | None = None,
    lat: float | None = None,
    lon: float | None = None,
    device_time: datetime | None = None,
    reason_code: str | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
    clock_skew_s: int | None = None,
    clock_skew_flag: bool = False,
    details: dict[str, Any] | None = None,
    first: bool = False,
) -> TrackingEvent:
    """Append an event to the order's chain and move the order to ``state_after``.

    The caller has checked the transition; the order row's version column makes a concurrent second
    writer fail at flush instead of silently forking the chain.
    """
    previous = None if first or order.id is None else last_event(session, order.id)
    ev = TrackingEvent(
        order_id=order.id,
        kind=kind,
        upu_code=UPU_CODES[kind],
        state_after=state_after,
        actor_role=actor_role,
        actor_id=actor_id,
        actor_name=actor_name,
        post_office_id=post_office_id,
        agency_id=agency_id,
        lat=lat,
        lon=lon,
        device_time=device_time,
        reason_code=reason_code,
        note=note,
        idempotency_key=idempotency_key,
        clock_skew_s=clock_skew_s,
        clock_skew_flag=clock_skew_flag,
        details=details,
        prev_hash=previous.hash if previous else GENESIS_HASH,
    )
    ev.server_time = utcnow()
    ev.hash = ev.compute_hash()
    order.state = state_after
    # Touch the row even when the state stays the same (a re-assignment, a result recorded on an accepted
    # leg): the version check then guards every append, so two writers can never fork the chain.
    order.updated_at = ev.server_time
    session.add(ev)
    session.flush()
    event_recorded(session, order, ev)
    return ev


def verify_chain(session: Session, order_id: int) -> list[str]:
    """Recompute an order's hash chain; returns the problems found (empty when intact).

    Catches an edited or deleted event (content or link mismatch) and a re-computed forgery spliced in the
    middle (the next event's link breaks); a truncated tail is caught by comparing with the order's state.
    """
    problems: list[str] = []
    prev = GENESIS_HASH
    last_state: OrderState | None = None
    for ev in session.scalars(
        select(TrackingEvent).where(TrackingEvent.order_id == order_id).order_by(TrackingEvent.id)
    ):
        if ev.prev_hash != prev:
            problems.append(f"event {ev.id}: previous hash does not match event before it")
        if ev.compute_hash() != ev.hash:
            problems.append(f"event {ev.id}: content does not match its hash")
        prev = ev.hash
        last_state = ev.state_after
    order = session.get(Order, order_id)
    if order is not None and last_state is not None and order.state != last_state:
        problems.append(f"order state {order.state} differs from the last event's state {last_state}")
    return problems


def verify_chains(session: Session, item_code: str | None = None) -> tuple[int, dict[str, list[str]]]:
    """Verify one item's chain (by code) or every item's; returns (items checked, problems per item code)."""
    query = select(Order.id, Order.item_code).order_by(Order.id)
    if item_code is not None:
        query = query.where(Order.item_code == item_code)
    checked, problems = 0, {}
    for order_id, code in session.execute(query):
        checked += 1
        found = verify_chain(session, order_id)
        if found:
            problems[code] = found
    return checked, problems


def book_pickup(
    session: Session,
    raw: Mapping[str, Any],
    *,
    indicator: str,
    channel: Channel,
    actor_role: str = "citizen",
    policy: RoutingPolicy | None = None,
) -> tuple[Order, bool]:
    """Validate and create a pickup order with its ``created`` event, and request its label rendering.

    ``policy`` carries the routing settings (Decree 118 reception anywhere in the province, where former
    district-level procedures go); callers pass ``RoutingPolicy.from_settings(settings)``.

    Returns ``(order, created)``: a request repeating an earlier ``external_ref`` returns the earlier
    order and ``False`` (safe retries for systems), writing nothing.
    """
    external_ref = raw.get("external_ref")
    if isinstance(external_ref, str) and external_ref.strip():
        existing = find_by_external_ref(session, " ".join(external_ref.split()))
        if existing is not None:
            return existing, False
    req = validate_pickup_request(session, raw)
    order = create_pickup_order(session, req, indicator=indicator, channel=channel, policy=policy)
    append_event(
        session, order, EventKind.CREATED, order.state,  # CREATED, or NEEDS_REVIEW for an unresolved address
        actor_role=actor_role, post_office_id=order.post_office_id,
        note=f"Đăng ký thu gom qua kênh {channel.value}", first=True,  # a new order: no chain to look up
    )
    enqueue(session, "workers.jobs.labels.render_label", queue="labels",
            dedup_key=f"label:{order.id}", order_id=order.id)
    return order, True
