"""Periodic jobs: slots run once, locked against overlap; the deadline watcher, re-invitations, daily report."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from config.db import utcnow
from config.queue import PeriodicRun, rq_queue
from logistics.accounts.models import Role
from logistics.notifications.deadlines import alert_level, leg_deadline
from logistics.notifications.models import AlertLevel, DeadlineAlert, Notification, NotificationChannel, SmsMessage
from logistics.orders.models import Order, OrderState
from tests.conftest import clean_transactional
from tests.factories import make_user
from tests.workers.helpers import book, drain, record
from tracking.models import EventKind, TrackingEvent
from workers.jobs.periodic import daily_report, send_reinvitations, watch_deadlines
from workers.schedule import PERIODIC, run_due_inprocess, run_locked, run_periodic, slot_for, tick_rq


@pytest.fixture
def clean(db):
    yield
    clean_transactional(db)


def test_limits_follow_circular_17():
    thursday_morning = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)  # 09:00 in Cà Mau
    same = leg_deadline(collected_at=thursday_morning, same_commune=True)
    other = leg_deadline(collected_at=thursday_morning, same_commune=False)
    assert same.due.isoformat() == "2026-03-06" and "J+1" in same.basis
    assert other.due.isoformat() == "2026-03-09" and "J+2" in other.basis  # over the weekend
    late_friday = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)  # 17:00: after the cut-off, J is Monday
    assert leg_deadline(collected_at=late_friday, same_commune=True).due.isoformat() == "2026-03-10"
    assert leg_deadline(collected_at=None, same_commune=True) is None
    due = same.due
    assert alert_level(due, due - timedelta(days=3)) is None
    assert alert_level(due, due - timedelta(days=1)) == AlertLevel.AT_RISK
    assert alert_level(due, due) == AlertLevel.AT_RISK
    assert alert_level(due, due + timedelta(days=1)) == AlertLevel.LATE


def test_deadline_watcher_flags_once_tells_dispatchers_and_resolves(db, settings, clean):  # noqa: ARG001
    (order_id,) = book(db)
    record(db, order_id, EventKind.COLLECTED, OrderState.COLLECTED)
    with db.unit_of_work() as s:
        order = s.get(Order, order_id)
        dispatcher = make_user(s, Role.DISPATCHER, post_office_code=order.post_office.code)
        dispatcher.phone = "0911222333"
        other = make_user(s, Role.DISPATCHER)  # another office, or the same: only the order's office counts
        other_is_same_office = other.post_office_id == order.post_office_id
        collected_at = s.scalars(select(TrackingEvent.server_time).where(
            TrackingEvent.order_id == order_id, TrackingEvent.kind == EventKind.COLLECTED)).one()
        same = order.dossier.admin_unit_id == order.dossier.agency.admin_unit_id
        dispatcher_id = dispatcher.id
    deadline = leg_deadline(collected_at=collected_at, same_commune=same, tz=settings.timezone)
    late_now = datetime.combine(deadline.due + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=3)

    with db.unit_of_work() as s:
        summary = watch_deadlines(s, settings, late_now)
    assert summary["late"] == 1
    with db.unit_of_work() as s:
        summary = watch_deadlines(s, settings, late_now + timedelta(minutes=5))
    assert summary["late"] == 0  # flagged once
    with db.unit_of_work() as s:
        alert = s.scalars(select(DeadlineAlert)).one()
        assert alert.level == AlertLevel.LATE and alert.due_date == deadline.due and alert.resolved_at is None
        notes = s.scalars(select(Notification).where(Notification.user_id == dispatcher_id)).all()
        assert sorted(n.channel for n in notes) == [NotificationChannel.APP, NotificationChannel.SMS]
        assert all("quá hạn" in n.body for n in notes)
        assert s.scalars(select(SmsMessage.phone).where(SmsMessage.phone == "0911222333")).one()
        if not other_is_same_office:
            assert s.scalars(select(Notification).where(Notification.user_id == other.id)).all() == []

    record(db, order_id, EventKind.HANDED_TO_AGENCY, OrderState.HANDED_TO_AGENCY)
    with db.unit_of_work() as s:
        assert watch_deadlines(s, settings, late_now)["resolved"] == 1
    with db.unit_of_work() as s:
        alert = s.scalars(select(DeadlineAlert)).one()
        assert alert.resolved_at is not None and alert.resolved_on_time is False


def test_reinvitations_are_sent_once_on_their_day(db, settings, clean):  # noqa: ARG001
    from tracking.delivery import schedule_after_failure

    (order_id,) = book(db)
    drain(db, settings)  # the booking SMS
    record(db, order_id, EventKind.DELIVERY_FAILED, OrderState.DELIVERY_FAILED, reason_code="absent")
    with db.unit_of_work() as s:
        steps = schedule_after_failure(s, order_id, utcnow(), settings.timezone)
        first_due = min(st.due_date for st in steps)
    before = datetime.combine(first_due - timedelta(days=1), datetime.min.time(), UTC)
    on_day = datetime.combine(first_due, datetime.min.time(), UTC) + timedelta(hours=2)
    with db.unit_of_work() as s:
        assert send_reinvitations(s, settings, before)["steps"] == 0
    with db.unit_of_work() as s:
        assert send_reinvitations(s, settings, on_day)["steps"] == 1
    with db.unit_of_work() as s:
        assert send_reinvitations(s, settings, on_day)["steps"] == 0
        bodies = [m.body for m in s.scalars(select(SmsMessage).order_by(SmsMessage.id))]
    assert len(bodies) == 2 and "mời bạn nhận kết quả" in bodies[1] and "(lần 2)" in bodies[1]


def test_daily_report_counts_yesterday_and_the_on_time_rate(db, settings, clean):  # noqa: ARG001
    ids = book(db, 2)
    for order_id in ids:
        record(db, order_id, EventKind.COLLECTED, OrderState.COLLECTED)
        record(db, order_id, EventKind.HANDED_TO_AGENCY, OrderState.HANDED_TO_AGENCY)
    with db.unit_of_work() as s:
        report = daily_report(s, settings, utcnow() + timedelta(days=1))
    assert report["orders_created"] == 2 and report["handed_to_agency"] == 2
    assert report["legs_completed"] == 2 and report["on_time_rate"] == 1.0


def test_a_slot_runs_once(db, settings, clean):  # noqa: ARG001
    assert run_periodic(db, settings, "watch_deadlines", "s1") is not None
    assert run_periodic(db, settings, "watch_deadlines", "s1") is None  # another machine, same slot
    with db.unit_of_work() as s:
        run = s.get(PeriodicRun, ("watch_deadlines", "s1"))
        assert run.status == "done" and "watched" in run.summary


def test_slots_of_interval_and_daily_jobs():
    reconcile = next(p for p in PERIODIC if p.name == "reconcile")
    report = next(p for p in PERIODIC if p.name == "daily_report")
    t = datetime(2026, 3, 5, 3, 0, 10, tzinfo=UTC)
    assert slot_for(reconcile, t, "Asia/Ho_Chi_Minh") == slot_for(reconcile, t + timedelta(seconds=15), "UTC")
    assert slot_for(reconcile, t, "UTC") != slot_for(reconcile, t + timedelta(seconds=30), "UTC")
    assert slot_for(report, datetime(2026, 3, 4, 17, 0, tzinfo=UTC), "Asia/Ho_Chi_Minh") is None  # 00:00 local
    assert slot_for(report, t, "Asia/Ho_Chi_Minh") == "2026-03-05"


@pytest.mark.redis
def test_several_schedulers_enqueue_each_slot_once(settings, redis_conn):
    now = datetime(2026, 3, 5, 3, 0, tzinfo=UTC)  # 10:00 local: the daily report is due too
    first = tick_rq(redis_conn, settings, now)
    second = tick_rq(redis_conn, settings, now)  # another worker's scheduler, same instant
    assert len(first) == len(PERIODIC) and second == []
    queue = rq_queue("periodic", redis_conn)
    assert sorted(queue.job_ids) == sorted(first)
    assert tick_rq(redis_conn, settings, now + timedelta(seconds=30)) == ["periodic-reconcile-" + str(
        int((now + timedelta(seconds=30)).timestamp()) // 30)]


@pytest.mark.redis
def test_a_running_periodic_job_is_not_overlapped(db, settings, redis_conn, clean):  # noqa: ARG001
    lock = redis_conn.lock("dossierpost:lock:periodic:watch_deadlines", timeout=30)
    assert lock.acquire(blocking=False)  # a slow run on another machine
    try:
        assert run_locked(db, settings, "watch_deadlines", "x1", redis_conn) is None
    finally:
        lock.release()
    assert run_locked(db, settings, "watch_deadlines", "x2", redis_conn) is not None


def test_inprocess_runner_runs_due_periodic_jobs_once_per_slot(db, settings, clean):  # noqa: ARG001
    now = datetime(2026, 3, 5, 3, 0, tzinfo=UTC)
    assert sorted(run_due_inprocess(db, settings, now)) == sorted(p.name for p in PERIODIC)
    assert run_due_inprocess(db, settings, now + timedelta(seconds=1)) == []
    assert run_due_inprocess(db, settings, now + timedelta(seconds=31)) == ["reconcile"]
