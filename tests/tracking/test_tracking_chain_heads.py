"""The chain head a transaction remembers (``tracking.services.chain_head``) never links an event to a wrong one."""

import contextlib

from sqlalchemy import select, update

from logistics.agencies.models import PostOffice
from logistics.orders.models import Order, OrderState
from tests.tracking.tracking_helpers import CTX, book, courier, payload
from tracking.models import EventKind, TrackingEvent
from tracking.scans import record_scans
from tracking.services import append_event, verify_chain


def test_a_batch_scanning_each_item_three_times_keeps_every_chain_intact(db_session):
    s = db_session
    orders = [book(s) for _ in range(3)]
    raws = [payload(o, e) for e in ("collected", "arrived_post_office", "left_post_office") for o in orders]
    raws.insert(4, payload(orders[0], "collected"))  # refused (already collected): a savepoint rolled back
    outcomes = record_scans(s, raws, actor=courier(orders[0]), ctx=CTX)
    assert [o.ok for o in outcomes].count(False) == 1
    for order in orders:
        assert order.state == OrderState.OUT_FOR_DELIVERY
        assert verify_chain(s, order.id) == []


def test_an_append_rolled_back_with_its_savepoint_is_not_linked_to(db_session):
    s = db_session
    order = book(s)
    with contextlib.suppress(RuntimeError), s.begin_nested():
        append_event(s, order, EventKind.ASSIGNED, OrderState.ASSIGNED, actor_role="dispatcher")
        raise RuntimeError
    append_event(s, order, EventKind.ASSIGNED, OrderState.ASSIGNED, actor_role="dispatcher")
    assert verify_chain(s, order.id) == []


def test_a_write_by_another_path_changes_the_version_and_the_head_is_read_again(db_session):
    s = db_session
    order = book(s)
    append_event(s, order, EventKind.ASSIGNED, OrderState.ASSIGNED, actor_role="dispatcher")
    s.execute(update(Order).where(Order.id == order.id).values(version=Order.version + 1))
    s.refresh(order)
    append_event(s, order, EventKind.ASSIGNED, OrderState.ASSIGNED, actor_role="dispatcher")
    assert verify_chain(s, order.id) == []


def test_an_append_changes_only_the_orders_state_and_version(db_session):
    # The event's own columns (its post office, agency, times) must never leak into the order's row: the
    # append writes the order and the event in one statement on PostgreSQL, with disjoint parameter names.
    s = db_session
    order = book(s)
    office, updated = order.post_office_id, order.version
    other = s.scalar(select(PostOffice.id).where(PostOffice.id != office).limit(1))
    ev = append_event(s, order, EventKind.ASSIGNED, OrderState.ASSIGNED, actor_role="dispatcher",
                      post_office_id=other, agency_id=order.dossier.agency_id, note="x")
    s.expire_all()
    stored = s.get(Order, order.id)
    assert (stored.post_office_id, stored.state, stored.version) == (office, OrderState.ASSIGNED, updated + 1)
    assert s.get(TrackingEvent, ev.id).post_office_id == other
