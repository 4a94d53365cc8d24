"""Bulk intake (``book_pickups``): the same rows as single bookings, each request answered in its place."""

from sqlalchemy import event, func, select

from config.queue import OutboxMessage
from logistics.labels.s10 import parse_item_code
from logistics.orders.errors import ValidationError
from logistics.orders.models import Channel, Dossier, Order, OrderState
from tests.orders.helpers import valid_request
from tracking.models import EventKind, TrackingEvent
from tracking.services import book_pickup, book_pickups, verify_chain


def _count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def test_each_request_gets_its_outcome_in_its_place(db_session):
    earlier, _ = book_pickup(db_session, valid_request(db_session, external_ref="BULK-0"), indicator="RA",
                             channel=Channel.API)
    requests = [
        valid_request(db_session, external_ref="BULK-1"),
        valid_request(db_session, external_ref="BULK-2", phone="12"),  # invalid phone
        valid_request(db_session, external_ref="BULK-0"),  # booked before
        valid_request(db_session, external_ref=" BULK-1 "),  # repeats the first request of this list
        valid_request(db_session, external_ref="BULK-3", address="xyz không rõ", commune_code=None),
        valid_request(db_session, external_ref=None, applicant_name="", envelopes=99),
    ]
    bookings = book_pickups(db_session, requests, indicator="RA", channel=Channel.IMPORT, actor_role="import")
    assert len(bookings) == len(requests)
    first, bad_phone, known, repeat, review, bad = bookings
    assert first.created and first.order is not None and first.error is None
    assert not bad_phone.created and bad_phone.order is None
    assert isinstance(bad_phone.error, ValidationError) and set(bad_phone.errors) == {"phone"}
    assert known.order is not None and known.order.id == earlier.id and not known.created
    assert repeat.order is first.order and not repeat.created
    assert review.created and review.order is not None and review.order.state == OrderState.NEEDS_REVIEW
    assert set(bad.errors) == {"applicant_name", "envelopes"}
    # Exactly two new dossiers, each with one pickup order, one `created` event and its jobs.
    assert _count(db_session, Dossier) == 3
    for booking in (first, review):
        order = booking.order
        events = db_session.scalars(select(TrackingEvent).where(TrackingEvent.order_id == order.id)).all()
        assert [(e.kind, e.state_after) for e in events] == [(EventKind.CREATED, order.state)]
        assert events[0].actor_role == "import"
        assert verify_chain(db_session, order.id) == []
        jobs = db_session.scalars(select(OutboxMessage.job).where(OutboxMessage.args["order_id"].as_integer()
                                                                  == order.id)).all()
        assert jobs == ["workers.jobs.labels.render_label"]
    notified = db_session.scalars(select(OutboxMessage.args).where(
        OutboxMessage.job == "workers.jobs.notifications.notify_event")).all()
    event_ids = {e.id for e in db_session.scalars(select(TrackingEvent).where(
        TrackingEvent.order_id.in_([first.order.id, review.order.id])))}
    assert event_ids <= {args["event_id"] for args in notified}


def test_serials_are_unique_and_follow_the_request_order(db_session):
    requests = [valid_request(db_session, external_ref=f"SER-{i}") for i in range(25)]
    bookings = book_pickups(db_session, requests, indicator="RA", channel=Channel.IMPORT)
    serials = [parse_item_code(b.order.item_code).serial for b in bookings]
    assert serials == sorted(serials)
    assert len(set(serials)) == 25
    single, _ = book_pickup(db_session, valid_request(db_session, external_ref="SER-after"), indicator="RA",
                            channel=Channel.API)
    assert parse_item_code(single.item_code).serial > serials[-1]


def test_a_bulk_booking_costs_a_few_statements_not_a_dozen_per_row(db_session):
    requests = [valid_request(db_session, external_ref=f"STMT-{i}") for i in range(200)]
    book_pickups(db_session, requests[:1], indicator="RA", channel=Channel.IMPORT)  # warm the reference caches
    statements = []
    engine = db_session.get_bind().engine

    def count(*_args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        bookings = book_pickups(db_session, requests[1:], indicator="RA", channel=Channel.IMPORT)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert all(b.created for b in bookings)
    # Single bookings took ~16 statements each (3,200 here). PostgreSQL batches each table into one INSERT
    # (8 statements were seen); SQLite, with no batching sentinel, sends one INSERT per row and table (800 seen).
    if engine.dialect.name == "postgresql":
        assert len(statements) <= 20
    else:
        assert len(statements) <= 4 * len(bookings) + 10
    assert _count(db_session, Order) == 200


def test_nothing_is_written_for_a_list_of_refusals(db_session):
    before = (_count(db_session, Dossier), _count(db_session, TrackingEvent), _count(db_session, OutboxMessage))
    bookings = book_pickups(db_session, [valid_request(db_session, phone="x"), {}], indicator="RA",
                            channel=Channel.IMPORT)
    assert [b.created for b in bookings] == [False, False]
    assert all(b.errors for b in bookings)
    assert (_count(db_session, Dossier), _count(db_session, TrackingEvent),
            _count(db_session, OutboxMessage)) == before
