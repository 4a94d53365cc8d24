"""Concurrent scans of one item with real commits: exactly one transition wins, the chain never forks."""

import threading

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from logistics.orders.models import Order, OrderState
from tests.conftest import clean_transactional
from tests.tracking.tracking_helpers import CTX, ID_DIGITS, KEY, book, courier, payload, scan
from tracking.delivery import CodeCheck, check_id_digits
from tracking.models import EventKind, RefusedScan, TrackingEvent
from tracking.scans import record_scan, record_scans
from tracking.services import verify_chain

THREADS = 6
# Each scan in its own savepoint (a batch), or alone in its transaction (the API's single scan: no savepoint,
# a refusal rolls the transaction back): both must keep one winner and an unforked chain.
ALONE = pytest.mark.parametrize("alone", [False, True], ids=["savepoint", "alone"])


def _collected_order(db):
    with db.unit_of_work() as s:
        order = book(s)
        assert scan(s, order, "collected").ok
        return order.id, order.item_code, order.post_office_id


def _moved_before_the_write(db, session: Session, order_id: int, kind: str) -> list[bool]:
    """Let another courier scan the order (``kind``, committed) just before ``session`` writes it.

    By then the scan has read the item and its version: this is the window in which a real race is lost, made
    to happen every time. Returns a list that holds True once the other scan ran.
    """
    fired: list[bool] = []

    def before(_conn, _cursor, statement, parameters, _context, _many):
        if not fired and "UPDATE orders" in statement and isinstance(parameters, dict) \
                and parameters.get("order_id") == order_id:
            fired.append(True)
            with db.unit_of_work() as other:
                assert scan(other, other.get(Order, order_id), kind).ok

    event.listen(session.connection(), "before_cursor_execute", before)
    return fired


def _race(db, payloads, actor, *, alone):
    barrier = threading.Barrier(len(payloads))
    outcomes, errors = [], []

    def run(raw):
        try:
            barrier.wait(timeout=30)
            with db.unit_of_work() as s:
                outcomes.append(record_scan(s, raw, actor=actor, ctx=CTX, alone=alone))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(raw,)) for raw in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return outcomes


@ALONE
def test_of_concurrent_scans_of_one_item_exactly_one_transition_wins(db, alone):
    try:
        order_id, _code, _po = _collected_order(db)
        with db.unit_of_work() as s:
            order = s.get(Order, order_id)
            raws = [payload(order, "arrived_post_office") for _ in range(THREADS)]
            actor = courier(order)
        outcomes = _race(db, raws, actor, alone=alone)
        assert sum(o.ok for o in outcomes) == 1
        assert all(o.error in {"conflict", "invalid_transition"} for o in outcomes if not o.ok)
        with db.unit_of_work() as s:
            arrived = s.scalar(select(func.count(TrackingEvent.id)).where(
                TrackingEvent.order_id == order_id, TrackingEvent.kind == EventKind.ARRIVED_POST_OFFICE))
            assert arrived == 1
            assert s.scalar(select(func.count(RefusedScan.id))) == THREADS - 1
            assert s.get(Order, order_id).state == OrderState.AT_POST_OFFICE
            assert verify_chain(s, order_id) == []
    finally:
        clean_transactional(db)


@ALONE
def test_concurrent_replays_of_one_key_record_one_event(db, alone):
    try:
        order_id, _code, _po = _collected_order(db)
        with db.unit_of_work() as s:
            order = s.get(Order, order_id)
            raw = payload(order, "arrived_post_office")
            actor = courier(order)
        outcomes = _race(db, [raw] * THREADS, actor, alone=alone)
        assert all(o.ok for o in outcomes)
        assert sum(not o.replayed for o in outcomes) == 1
        assert len({o.event_id for o in outcomes}) == 1
        with db.unit_of_work() as s:
            assert s.scalar(select(func.count(TrackingEvent.id)).where(TrackingEvent.order_id == order_id)) == 3
            assert s.scalar(select(func.count(RefusedScan.id))) == 0
    finally:
        clean_transactional(db)


@pytest.mark.parametrize("db", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
@ALONE
def test_a_scan_that_loses_the_race_between_its_read_and_its_write_is_a_conflict(db, alone):
    try:
        order_id, _code, _po = _collected_order(db)
        slow = db.session()
        try:
            stale = slow.get(Order, order_id)  # a copy in the session: the scan reads the row itself anyway
            raw = payload(stale, "arrived_post_office")
            fired = _moved_before_the_write(db, slow, order_id, "arrived_post_office")
            outcome = record_scan(slow, raw, actor=courier(stale), ctx=CTX, alone=alone)
            slow.commit()
        finally:
            slow.close()
        assert fired == [True]
        assert outcome.error == "conflict" and "at_post_office" in outcome.message
        with db.unit_of_work() as s:
            assert verify_chain(s, order_id) == []
            refused = s.scalars(select(RefusedScan)).one()
            assert refused.error == "conflict" and refused.state == "at_post_office"
    finally:
        clean_transactional(db)


@pytest.mark.parametrize("db", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
@ALONE
def test_a_scan_reads_the_item_as_it_is_not_the_sessions_stale_copy(db, alone):
    try:
        order_id, _code, _po = _collected_order(db)
        slow = db.session()
        try:
            stale = slow.get(Order, order_id)  # loaded before the other courier's scan commits
            assert stale.state == OrderState.COLLECTED
            with db.unit_of_work() as fast:
                assert scan(fast, fast.get(Order, order_id), "arrived_post_office").ok
            outcome = record_scan(slow, payload(stale, "arrived_post_office"), actor=courier(stale), ctx=CTX,
                                  alone=alone)
            slow.commit()
        finally:
            slow.close()
        # Refused for what the item is now (already at the post office), not written over a stale state.
        assert outcome.error == "invalid_transition" and outcome.state == "at_post_office"
        with db.unit_of_work() as s:
            assert verify_chain(s, order_id) == []
            assert s.scalar(select(func.count(TrackingEvent.id)).where(TrackingEvent.order_id == order_id)) == 3
    finally:
        clean_transactional(db)


@ALONE
@pytest.mark.parametrize("db", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_collection_that_loses_the_race_leaves_no_trace_of_its_writes(db, alone):
    # The losing collection had already written its ID digits (an upsert) when its version check failed:
    # that write must be undone with it, by the savepoint or, alone, by rolling the transaction back.
    try:
        with db.unit_of_work() as s:
            order_id = book(s).id
        slow = db.session()
        try:
            stale = slow.get(Order, order_id)
            raw = payload(stale, "collected", id_number_last4="9999")
            fired = _moved_before_the_write(db, slow, order_id, "collected")
            outcome = record_scan(slow, raw, actor=courier(stale), ctx=CTX, alone=alone)
            slow.commit()
        finally:
            slow.close()
        assert fired == [True]
        assert outcome.error == "conflict"
        with db.unit_of_work() as s:
            dossier_id = s.get(Order, order_id).dossier_id
            assert check_id_digits(s, KEY, dossier_id, ID_DIGITS) == CodeCheck.OK  # the winner's, not 9999
            assert s.scalar(select(func.count(TrackingEvent.id)).where(TrackingEvent.order_id == order_id)) == 2
            assert verify_chain(s, order_id) == []
    finally:
        clean_transactional(db)


@pytest.mark.parametrize("db", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_batch_with_a_scan_that_loses_a_race_keeps_the_others(db):
    # A batch records its scans without a savepoint each; when one loses the version check, the batch is
    # recorded again with savepoints, so only that scan is refused and nothing is written twice.
    try:
        with db.unit_of_work() as s:
            fresh_id = book(s).id
        contested_id, _code, _po = _collected_order(db)
        slow = db.session()
        try:
            stale = slow.get(Order, contested_id)
            fresh = slow.get(Order, fresh_id)
            raws = [payload(fresh, "collected"), payload(stale, "arrived_post_office")]
            fired = _moved_before_the_write(db, slow, contested_id, "arrived_post_office")
            outcomes = record_scans(slow, raws, actor=courier(stale), ctx=CTX)
            slow.commit()
        finally:
            slow.close()
        assert fired == [True]
        assert [o.ok for o in outcomes] == [True, False]
        # Recorded again, the batch reads the contested item as it now is: refused for its current state.
        assert outcomes[1].error == "invalid_transition" and outcomes[1].state == "at_post_office"
        with db.unit_of_work() as s:
            for order_id in (fresh_id, contested_id):
                assert verify_chain(s, order_id) == []
            kinds = list(s.scalars(select(TrackingEvent.kind).where(TrackingEvent.order_id == fresh_id)
                                   .order_by(TrackingEvent.id)))
            assert kinds == [EventKind.CREATED, EventKind.COLLECTED]
            assert s.scalars(select(RefusedScan.error)).all() == ["invalid_transition"]
    finally:
        clean_transactional(db)
