"""The custody record is tamper-evident: an edited row breaks its item's hash chain, and the CLI says so."""

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from logistics.orders.models import Order, OrderState
from tests.conftest import clean_transactional
from tests.tracking.tracking_helpers import book, scan
from tracking.models import AppendOnlyError, EventKind, TrackingEvent, event_hash
from tracking.services import verify_chain, verify_chains


def test_an_intact_chain_verifies_and_links_each_event_to_the_previous(db_session):
    s = db_session
    order = book(s)
    for event in ("collected", "arrived_post_office", "left_post_office"):
        assert scan(s, order, event).ok
    events = s.scalars(select(TrackingEvent).where(TrackingEvent.order_id == order.id)
                       .order_by(TrackingEvent.id)).all()
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert verify_chain(s, order.id) == []


def test_the_hash_of_an_event_is_fixed_by_its_content():
    # Stored chains are verified years later: the hash's recipe must never drift. This event's hash was
    # computed when the recipe moved out of the ORM class into ``event_hash`` (scans write rows of values).
    values = {
        "order_id": 5, "kind": EventKind.COLLECTED, "upu_code": "EMA", "state_after": OrderState.COLLECTED,
        "actor_role": "courier", "actor_id": 3, "actor_name": "Nguyễn Văn Tới", "post_office_id": None,
        "agency_id": 2, "lat": 9.1, "lon": 105.2, "device_time": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "server_time": datetime(2026, 1, 2, 3, 4, 6, 123456, tzinfo=UTC), "reason_code": None, "note": "ghi chú",
        "idempotency_key": "k" * 10, "clock_skew_s": -1, "clock_skew_flag": False,
        "details": {"seal_number": "NP-1", "documents": [{"id": 1}]}, "prev_hash": "a" * 64,
    }
    expected = "e787f2c1f4f499e91c87c4b47f83192a7801f5abe7e6155927e068c46323f473"
    assert event_hash(values) == expected
    assert TrackingEvent(**values).compute_hash() == expected
    assert event_hash({**values, "note": "ghi chu"}) != expected


@pytest.mark.parametrize("column", ["note", "reason_code", "details", "clock_skew_flag"])
def test_a_row_changed_with_raw_sql_is_reported(db_session, column):
    s = db_session
    order = book(s)
    assert scan(s, order, "collected").ok
    victim = scan(s, order, "arrived_post_office")
    assert scan(s, order, "left_post_office").ok
    values = {"note": "'sửa lén'", "reason_code": "'absent'", "details": "'{}'", "clock_skew_flag": "true"}
    s.execute(text(f"UPDATE tracking_events SET {column} = {values[column]} WHERE id = :id"),  # noqa: S608
              {"id": victim.event_id})
    s.expire_all()
    problems = verify_chain(s, order.id)
    assert problems == [f"event {victim.event_id}: content does not match its hash"]


def test_a_deleted_event_and_a_recomputed_forgery_are_both_caught(db_session):
    s = db_session
    order = book(s)
    outcomes = [scan(s, order, e) for e in ("collected", "arrived_post_office", "left_post_office")]
    s.execute(text("DELETE FROM tracking_events WHERE id = :id"), {"id": outcomes[1].event_id})
    s.expire_all()
    assert any("previous hash" in p for p in verify_chain(s, order.id))
    # A forger who recomputes the edited row's own hash still breaks the link of the next event.
    first = s.get(TrackingEvent, outcomes[0].event_id)
    forged = first.compute_hash.__func__(type("F", (), {**{c.key: getattr(first, c.key) for c in
                                                            TrackingEvent.__table__.columns}, "note": "giả"})())
    s.execute(text("UPDATE tracking_events SET note = 'giả', hash = :h WHERE id = :id"),
              {"h": forged, "id": first.id})
    s.expire_all()
    assert any(f"event {outcomes[2].event_id}: previous hash" in p for p in verify_chain(s, order.id))


def test_the_orm_refuses_to_change_a_recorded_event(db_session):
    s = db_session
    order = book(s)
    ev = s.get(TrackingEvent, scan(s, order, "collected").event_id)
    ev.note = "sửa"
    with pytest.raises(AppendOnlyError):
        s.flush()


def test_verify_chain_command_reports_a_tampered_item_and_exits_nonzero(db, monkeypatch):
    from web.cli import main

    try:
        with db.unit_of_work() as s:
            order = book(s)
            assert scan(s, order, "collected").ok
            code = order.item_code
            other = book(s).item_code
        monkeypatch.setenv("DATABASE_URL", db.url)
        runner = CliRunner()
        ok = runner.invoke(main, ["verify-chain", code.lower()])
        assert ok.exit_code == 0, ok.output
        assert "1 chain(s) checked, 0 broken" in ok.output
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE tracking_events SET note = 'x' WHERE order_id = "
                              "(SELECT id FROM orders WHERE item_code = :c)"), {"c": code})
        bad = runner.invoke(main, ["verify-chain"])
        assert bad.exit_code == 1
        assert f"{code}: event" in bad.output and other not in bad.output
        with db.unit_of_work() as s:
            checked, problems = verify_chains(s)
            assert checked == s.query(Order).count() and set(problems) == {code}
    finally:
        clean_transactional(db)
