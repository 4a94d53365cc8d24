"""Recording tracking events, and the intake use case that opens an order with its first event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, event, insert, inspect, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from config.db import utcnow
from config.queue import enqueue_many
from logistics.orders.errors import OrderError, ValidationError
from logistics.orders.models import Channel, Leg, Order, OrderState
from logistics.orders.services import (
    Booking,
    PickupRequest,
    create_pickup_orders,
    orders_by_external_ref,
    validate_pickup_request,
)
from logistics.routing.gazetteer import load_gazetteer
from logistics.routing.services import RoutingPolicy
from tracking.models import GENESIS_HASH, UPU_CODES, AppendedEvent, EventKind, TrackingEvent, event_hash
from tracking.reactions import event_recorded


def last_event(session: Session, order_id: int) -> TrackingEvent | None:
    """The most recent event of an order (the head of its hash chain)."""
    return session.scalar(
        select(TrackingEvent).where(TrackingEvent.order_id == order_id).order_by(TrackingEvent.id.desc()).limit(1)
    )


# Chain heads this transaction knows, by (order id, order version): the hash an order's next event links to.
# Keyed by the version the row had when the head was read or written, so an entry is only used while the order
# is at exactly that version (a concurrent append bumps the version and fails our flush anyway); forgotten on
# any rollback, savepoints included, and at commit. Saves the head lookup for every event after the first of an
# order in a transaction. (The scan path reads the head with its item and passes it to ``append_to_stored``.)
_HEADS: Final = "tracking.chain_heads"


def remember_head(session: Session, order_id: int, version: int, head_hash: str | None) -> None:
    """Record that at ``version`` the order's chain ends with ``head_hash`` (None: no event yet)."""
    session.info.setdefault(_HEADS, {})[(order_id, version)] = head_hash or GENESIS_HASH


def chain_head(session: Session, order: Order) -> str:
    """The hash the order's next event links to: known to this transaction for the order's version, else read."""
    known: str | None = session.info.get(_HEADS, {}).get((order.id, order.version))
    if known is not None:
        return known
    previous = last_event(session, order.id)
    return previous.hash if previous else GENESIS_HASH


# Orders moved and events inserted on the tables (``_write_row``) in this transaction: the session's copies of
# those orders, and the ORM events it was told about (pairs with None on the other side). The ORM did not see
# those writes, so a rollback (a savepoint's included) cannot undo them in the session by itself: the orders'
# moved attributes are expired (read again on use) and the events expunged.
_WRITTEN: Final = "tracking.written"


@event.listens_for(Session, "after_soft_rollback")
def _forget_heads_on_rollback(session: Session, _previous: object) -> None:
    session.info.pop(_HEADS, None)
    for order, ev in session.info.pop(_WRITTEN, ()):
        if ev is not None and ev in session:
            session.expunge(ev)
        if order is not None and order in session:
            session.expire(order, ["state", "updated_at", "version"])


@event.listens_for(Session, "after_commit")
def _forget_heads_on_commit(session: Session) -> None:
    session.info.pop(_HEADS, None)
    session.info.pop(_WRITTEN, None)


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
    writer fail (``StaleDataError``) instead of silently forking the chain.
    """
    fields: dict[str, Any] = {
        "actor_role": actor_role, "actor_id": actor_id, "actor_name": actor_name, "post_office_id": post_office_id,
        "agency_id": agency_id, "lat": lat, "lon": lon, "device_time": device_time, "reason_code": reason_code,
        "note": note, "idempotency_key": idempotency_key, "clock_skew_s": clock_skew_s,
        "clock_skew_flag": clock_skew_flag, "details": details,
    }
    if first or order.id is None:
        if order.id is None:
            session.flush()  # the new order's id, for its first event
        ev = _chained(order.id, kind, state_after, prev_hash=GENESIS_HASH, server_time=utcnow(), **fields)
        order.state, order.updated_at = state_after, ev.server_time
        session.add(ev)
        session.flush()
    else:
        if inspect(order).modified:
            session.flush()  # the order's own pending changes first: the version checked below is then current
        ev = _chained(order.id, kind, state_after, prev_hash=chain_head(session, order), server_time=utcnow(),
                      **fields)
        _write_appended(session, order.version, ev)
    remember_head(session, order.id, order.version, ev.hash)  # the write bumped the version
    event_recorded(session, ev, leg=order.leg, agency_id=order.dossier.agency_id)
    return ev


def append_to_stored(
    session: Session,
    *,
    order_id: int,
    version: int,
    head: str,
    leg: Leg,
    dossier_agency_id: int | None,
    kind: EventKind,
    state_after: OrderState,
    **fields: Any,
) -> AppendedEvent:
    """``append_event`` for a stored order that the caller read as plain values, not as an ORM object.

    The scan path reads its item with one Core statement (``tracking.scans``): its id, the row ``version`` and
    chain ``head`` it read, its ``leg`` and its dossier's agency (``dossier_agency_id``) are all an append needs.
    The same version check applies (``StaleDataError`` when another writer moved the order first); an ORM copy
    of the order in this session, if any, learns the new state and version. ``fields`` are ``append_event``'s.
    The event is written as a row of values and no ORM object is made of it: the caller gets what it reads.
    """
    row: dict[str, Any] = dict.fromkeys(_EVENT_COLUMNS)
    row.update(fields, order_id=order_id, kind=kind, upu_code=UPU_CODES[kind], state_after=state_after,
               prev_hash=head, server_time=utcnow())
    row["clock_skew_flag"] = bool(row["clock_skew_flag"])
    row["hash"] = event_hash(row)
    ev = AppendedEvent(_write_row(session, version, row), kind, state_after, row["server_time"], row["hash"])
    remember_head(session, order_id, version + 1, ev.hash)
    event_recorded(session, ev, leg=leg, agency_id=dossier_agency_id)
    return ev


_ORDERS: Final = cast("Table", Order.__table__)
_EVENTS: Final = cast("Table", TrackingEvent.__table__)
_EVENT_COLUMNS: Final = tuple(c.key for c in _EVENTS.columns if c.key != "id")
# Built once: SQLAlchemy keeps a statement's cache key, so reusing it skips rebuilding and re-keying it per call.
_MOVE: Final = (update(_ORDERS).where(_ORDERS.c.id == bindparam("order_id"), _ORDERS.c.version == bindparam("seen"))
                .values(state=bindparam("state"), updated_at=bindparam("at"), version=bindparam("next")))
_INSERT_EVENT: Final = insert(_EVENTS).returning(_EVENTS.c.id)
# PostgreSQL does both in one round trip: the INSERT takes its order id from the UPDATE's RETURNING, so a lost
# version check inserts nothing and returns no id. (SQLite has no data-modifying WITH: two statements there.)
_MOVED: Final = _MOVE.returning(_ORDERS.c.id).cte("moved")
_MOVE_AND_INSERT: Final = insert(_EVENTS).from_select(
    list(_EVENT_COLUMNS),
    # The event's values are named ``e_<column>``: a parameter named like a column of ``orders`` (post_office_id)
    # would otherwise become one more SET of the UPDATE.
    select(*[_MOVED.c.id if key == "order_id" else bindparam(f"e_{key}", type_=_EVENTS.c[key].type)
             for key in _EVENT_COLUMNS]),
).add_cte(_MOVED).returning(_EVENTS.c.id)


def _write_row(session: Session, version: int, row: Mapping[str, Any]) -> int:
    """Write an event (its column values) of a stored order, and move the order; returns the event's id.

    This is what the ORM's flush would send (a version-checked UPDATE of the order, then the INSERT), without its
    unit-of-work bookkeeping, which cost more than both statements on the scan path. An ORM copy of the order in
    the session, if any, is told the new state and version as committed values. Touching the row even when the
    state stays the same (a re-assignment, a result recorded on an accepted leg) makes the version check guard
    every append, so two writers can never fork the chain.
    """
    # The event refers only to stored rows (its order, people, places), so what else is pending (a batch's
    # notifications) need not be flushed first: it goes out in one statement later.
    order_id = row["order_id"]
    move = {"order_id": order_id, "seen": version, "state": row["state_after"], "at": row["server_time"],
            "next": version + 1}
    stale = StaleDataError(f"order {order_id}: another writer moved it from version {version}")
    with session.no_autoflush:
        if session.get_bind().dialect.name == "postgresql":
            values = {f"e_{key}": value for key, value in row.items() if key != "order_id"}
            event_id: int | None = session.execute(_MOVE_AND_INSERT, {**values, **move}).scalar_one_or_none()
            if event_id is None:
                raise stale
        else:
            if session.execute(_MOVE, move).rowcount != 1:  # type: ignore[attr-defined]
                raise stale
            event_id = session.execute(_INSERT_EVENT, row).scalar_one()
    order = session.identity_map.get(identity_key(Order, order_id))
    if order is not None:
        for key, value in (("state", row["state_after"]), ("updated_at", row["server_time"]),
                           ("version", version + 1)):
            set_committed_value(order, key, value)
        session.info.setdefault(_WRITTEN, []).append((order, None))
    return event_id


def _write_appended(session: Session, version: int, ev: TrackingEvent) -> None:
    """``_write_row`` for an ORM event, which the session then holds as stored."""
    ev.id = _write_row(session, version, {key: getattr(ev, key) for key in _EVENT_COLUMNS})
    make_transient_to_detached(ev)
    session.add(ev)
    session.info.setdefault(_WRITTEN, []).append((None, ev))


def _chained(order_id: int, kind: EventKind, state_after: OrderState, *, prev_hash: str, server_time: datetime,
             **fields: Any) -> TrackingEvent:
    """A new event of the order linked to ``prev_hash`` and hashed (not yet added; the order is not touched)."""
    ev = TrackingEvent(order_id=order_id, kind=kind, upu_code=UPU_CODES[kind], state_after=state_after,
                       prev_hash=prev_hash, **fields)
    ev.clock_skew_flag = bool(ev.clock_skew_flag)
    ev.server_time = server_time
    ev.hash = ev.compute_hash()
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


LABEL_JOB = "workers.jobs.labels.render_label"


def _external_ref(raw: Mapping[str, Any]) -> str | None:
    ref = raw.get("external_ref")
    return " ".join(ref.split()) or None if isinstance(ref, str) else None


def book_pickups(
    session: Session,
    requests: Sequence[Mapping[str, Any]],
    *,
    indicator: str,
    channel: Channel,
    actor_role: str = "citizen",
    policy: RoutingPolicy | None = None,
) -> list[Booking]:
    """Validate and create pickup orders with their ``created`` events, and request their labels.

    The one intake path: a single booking (web form, API) is a list of one, an import chunk or an API batch a
    list of many. Each request gets a ``Booking`` in its place:

    * a new order (``created``);
    * the earlier order when its ``external_ref`` was booked before, or earlier in the same list (safe
      retries for systems; nothing written);
    * or the error that refused it (all its bad fields at once), nothing written for it.

    The work is done per stage for the whole list — one query for the known references, one batched INSERT
    each for dossiers, orders, events and outbox messages — so a 1,000-row chunk costs a handful of round
    trips rather than a dozen per row. ``policy`` carries the routing settings (Decree 118 reception anywhere
    in the province, where former district-level procedures go): ``RoutingPolicy.from_settings(settings)``.
    """
    refs = [_external_ref(raw) for raw in requests]
    known = orders_by_external_ref(session, [ref for ref in refs if ref])
    gazetteer = load_gazetteer(session)
    results: list[Booking | None] = [None] * len(requests)
    first_of_ref: dict[str, int] = {}
    valid: list[tuple[int, PickupRequest]] = []
    with session.no_autoflush:
        for i, (raw, ref) in enumerate(zip(requests, refs, strict=True)):
            if ref is not None and ref in known:
                results[i] = Booking(known[ref])
                continue
            if ref is not None and ref in first_of_ref:
                continue  # answered with the first request's order below
            try:
                valid.append((i, validate_pickup_request(session, raw, gazetteer=gazetteer)))
            except ValidationError as exc:
                results[i] = Booking(None, error=exc)
                continue
            if ref is not None:
                first_of_ref[ref] = i
    created = create_pickup_orders(session, [req for _, req in valid], indicator=indicator, channel=channel,
                                   policy=policy, gazetteer=gazetteer)
    orders: list[Order] = []
    for (i, _req), outcome in zip(valid, created, strict=True):
        if isinstance(outcome, OrderError):
            results[i] = Booking(None, error=outcome)
        else:
            results[i] = Booking(outcome, created=True)
            orders.append(outcome)
    _record_created(session, orders, channel=channel, actor_role=actor_role)
    for i, ref in enumerate(refs):
        if results[i] is None and ref is not None:  # a repeat of a reference first seen in this list
            first = results[first_of_ref[ref]]
            results[i] = Booking(first.order if first else None, error=first.error if first else None)
    return [booking for booking in results if booking is not None]


def _record_created(session: Session, orders: Sequence[Order], *, channel: Channel, actor_role: str) -> None:
    """The first event of each new order, its reactions, and its label rendering.

    A new order has no chain to look up, and its row already holds the event's state: the orders are not
    touched again, so no UPDATE per order follows their INSERT.
    """
    if not orders:
        return
    now = utcnow()
    note = f"Đăng ký thu gom qua kênh {channel.value}"
    events = [
        _chained(order.id, EventKind.CREATED, order.state, prev_hash=GENESIS_HASH, server_time=now,  # or NEEDS_REVIEW
                 actor_role=actor_role, post_office_id=order.post_office_id, note=note)
        for order in orders
    ]
    session.add_all(events)
    session.flush()
    for order, ev in zip(orders, events, strict=True):
        event_recorded(session, ev, leg=order.leg, agency_id=order.dossier.agency_id)
    enqueue_many(session, LABEL_JOB, queue="labels",
                 messages=[(f"label:{order.id}", {"order_id": order.id}) for order in orders])


def book_pickup(
    session: Session,
    raw: Mapping[str, Any],
    *,
    indicator: str,
    channel: Channel,
    actor_role: str = "citizen",
    policy: RoutingPolicy | None = None,
) -> tuple[Order, bool]:
    """Book one pickup (``book_pickups`` of one): ``(order, created)``, or the refusal raised.

    ``ValidationError`` lists every bad field; ``RoutingError`` says why no agency or tariff applies. A
    request repeating an earlier ``external_ref`` returns the earlier order and ``False``, writing nothing.
    """
    booking = book_pickups(session, [raw], indicator=indicator, channel=channel, actor_role=actor_role,
                           policy=policy)[0]
    if booking.error is not None:
        raise booking.error
    assert booking.order is not None  # noqa: S101 - a booking without an error has its order
    return booking.order, booking.created
