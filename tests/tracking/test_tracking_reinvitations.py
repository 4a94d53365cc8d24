"""After a failed delivery: two more invitations two working days apart, then back to the agency."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from config.db import utcnow
from logistics.orders.models import OrderState
from tests.tracking.tracking_helpers import book, result_out_for_delivery, scan
from tracking.delivery import (
    due_reinvitations,
    mark_reinvitation_done,
    plan_reinvitations,
    schedule_after_failure,
)
from tracking.models import Reinvitation, ReinvitationAction

R, INV = ReinvitationAction.RETURN, ReinvitationAction.REINVITE


def test_the_plan_skips_weekends_and_tet():
    # Failed on Thursday 12/02/2026; Tết 2026 closes offices Mon 16 – Fri 20 February.
    assert plan_reinvitations(date(2026, 2, 12)) == [
        (1, INV, date(2026, 2, 23)),  # Fri 13 is the 1st working day after, Mon 23 the 2nd
        (2, INV, date(2026, 2, 25)),
        (3, R, date(2026, 2, 27)),
    ]


def test_the_substituted_saturday_is_worked_and_national_day_is_skipped():
    # 2026: Saturday 22/08 is worked in exchange for Monday 31/08; 01–02/09 are National Day.
    assert [d for _s, _a, d in plan_reinvitations(date(2026, 8, 20))] == [
        date(2026, 8, 22), date(2026, 8, 25), date(2026, 8, 27)]
    assert [d for _s, _a, d in plan_reinvitations(date(2026, 8, 27))] == [
        date(2026, 9, 3), date(2026, 9, 7), date(2026, 9, 9)]


def test_a_failed_scan_stores_the_plan_once_and_the_periodic_job_sees_due_steps(db_session):
    s = db_session
    result, code = result_out_for_delivery(s, book(s))
    assert scan(s, result, "delivery_failed", reason_code="absent").ok
    today = utcnow().astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    rows = s.scalars(select(Reinvitation).where(Reinvitation.order_id == result.id).order_by(Reinvitation.seq)).all()
    assert [(r.seq, r.action, r.due_date) for r in rows] == plan_reinvitations(today)
    assert due_reinvitations(s, utcnow()) == []
    first_due = datetime.combine(rows[0].due_date, datetime.min.time(), tzinfo=UTC) + timedelta(hours=5)
    due = due_reinvitations(s, first_due)
    assert [(d.order_id, d.seq, d.action, d.item_code) for d in due] == [(result.id, 1, INV, result.item_code)]
    assert mark_reinvitation_done(s, due[0].id, "sms_sent") is True
    assert mark_reinvitation_done(s, due[0].id, "sms_sent") is False  # idempotent
    # Second attempt fails too: the plan is kept, not re-made.
    assert scan(s, result, "out_for_delivery").ok and scan(s, result, "delivery_failed", reason_code="absent").ok
    assert len(s.scalars(select(Reinvitation).where(Reinvitation.order_id == result.id)).all()) == 3
    at_the_end = datetime.combine(rows[2].due_date, datetime.min.time(), tzinfo=UTC) + timedelta(hours=5)
    assert [d.action for d in due_reinvitations(s, at_the_end)] == [INV, R]
    # Delivered at the third attempt: nothing left to do.
    assert scan(s, result, "out_for_delivery").ok
    assert scan(s, result, "delivered", delivery_code=code).ok
    assert due_reinvitations(s, at_the_end) == []
    assert all(r.done_at is not None for r in rows)


def test_after_the_invitations_the_result_goes_back_to_the_agency(db_session):
    s = db_session
    result, _code = result_out_for_delivery(s, book(s))
    for _ in range(3):
        if result.state == OrderState.DELIVERY_FAILED:
            assert scan(s, result, "out_for_delivery").ok
        assert scan(s, result, "delivery_failed", reason_code="absent").ok
    assert scan(s, result, "returned").ok
    assert result.state == OrderState.RETURNED
    assert s.scalars(select(Reinvitation).where(Reinvitation.order_id == result.id,
                                                Reinvitation.done_at.is_(None))).all() == []


def test_schedule_uses_the_local_date_of_the_failure(db_session):
    s = db_session
    result, _code = result_out_for_delivery(s, book(s))
    late_evening = datetime(2026, 2, 11, 17, 30, tzinfo=UTC)  # 00:30 on Thursday 12/02 in Cà Mau
    rows = schedule_after_failure(s, result.id, late_evening, "Asia/Ho_Chi_Minh")
    assert [r.due_date for r in rows] == [d for _s, _a, d in plan_reinvitations(date(2026, 2, 12))]
