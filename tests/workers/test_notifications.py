"""Citizen notifications: Vietnamese texts, SMS outbox and real SMTP, each message sent once."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from config.db import utcnow
from config.queue import OutboxMessage, run_message
from logistics.labels.s10 import make_item_code
from logistics.notifications.models import Notification, NotificationChannel, NotificationStatus, SmsMessage
from logistics.notifications.services import claim, plan, set_citizen_email
from logistics.notifications.templates import MessageContext, pickup_window, render, template_for
from logistics.orders.models import Leg, Order, OrderState
from tests.conftest import clean_transactional
from tests.workers.helpers import book, drain, record
from tests.workers.servers import SmtpSink, free_port
from tracking.models import EventKind
from workers.jobs.notifications import send_planned
from workers.jobs.periodic import reconcile


@pytest.fixture
def clean(db):
    yield
    clean_transactional(db)


def _sms(db):
    with db.unit_of_work() as s:
        return [(m.phone, m.body) for m in s.scalars(select(SmsMessage).order_by(SmsMessage.id))]


CITIZEN_EVENTS = [
    ("created", "pickup", "booked"), ("collected", "pickup", "collected"),
    ("handed_to_agency", "pickup", "handed_to_agency"), ("supplement_requested", "pickup", "supplement_requested"),
    ("out_for_delivery", "result", "out_for_delivery"), ("delivered", "result", "delivered"),
    ("delivery_failed", "result", "delivery_failed"), ("returned", "result", "returned_to_agency"),
    ("returned", "pickup", "returned_to_citizen"),
]


@pytest.mark.parametrize(("kind", "leg", "template"), CITIZEN_EVENTS)
def test_each_event_the_citizen_cares_about_has_a_vietnamese_text(kind, leg, template):
    assert template_for(kind, leg) == template
    ctx = MessageContext(
        item_code="RA123456785VN", applicant_name="Nguyễn Thị Hồng Nhung", leg=leg,
        procedure_name="Đăng ký khai sinh", agency_name="UBND phường Tân Thành",
        occurred_at=datetime(2026, 3, 5, 2, 30, tzinfo=UTC), appointment_date=date(2026, 3, 12),
        delivery_code="482913", reason_text="Người nhận vắng nhà",
    )
    subject, body = render(template, ctx)
    assert "RA123456785VN" in subject and "RA123456785VN" in body
    assert any(ch in body for ch in "ãạảấầđơưệồ"), body  # Vietnamese with its diacritics
    if template == "handed_to_agency":
        assert "12/03/2026" in body  # the appointment date, dd/mm/yyyy
    if template == "out_for_delivery":
        assert "482913" in body
    if template == "delivery_failed":
        assert "vắng nhà" in body


def test_scans_the_citizen_does_not_care_about_send_nothing():
    for kind in ("assigned", "arrived_post_office", "left_post_office"):
        assert template_for(kind, "pickup") is None


def test_pickup_window_follows_the_collection_rounds():
    # Thursday 05/03/2026 09:00 local: this afternoon; 16:00: tomorrow morning; Saturday: Monday morning.
    assert pickup_window(datetime(2026, 3, 5, 2, 0, tzinfo=UTC)) == "13:30–17:00 ngày 05/03/2026"
    assert pickup_window(datetime(2026, 3, 5, 9, 0, tzinfo=UTC)) == "07:30–11:30 ngày 06/03/2026"
    assert pickup_window(datetime(2026, 3, 7, 2, 0, tzinfo=UTC)) == "07:30–11:30 ngày 09/03/2026"


def test_booking_sends_one_sms_with_the_pickup_window(db, settings, clean):  # noqa: ARG001
    (order_id,) = book(db)
    drain(db, settings)
    sms = _sms(db)
    assert len(sms) == 1
    phone, body = sms[0]
    assert "khung giờ" in body and "ngày" in body
    with db.unit_of_work() as s:
        order = s.get(Order, order_id)
        assert phone == order.dossier.applicant_phone
        assert order.item_code in body
        note = s.scalars(select(Notification)).one()
        assert note.status == NotificationStatus.SENT and note.attempts == 1
        assert note.provider == "sms_outbox"
        msg_id = s.scalars(select(OutboxMessage.id).where(OutboxMessage.job.endswith("notify_event"))).one()
    # The same job again (a redelivery from RQ, a reconciler re-send): nothing more is sent.
    with db.unit_of_work() as s:
        s.get(OutboxMessage, msg_id).done_at = None
    assert run_message(db, settings, msg_id)
    assert len(_sms(db)) == 1


def test_collected_and_handed_over_tell_the_citizen_with_the_appointment(db, settings, clean):  # noqa: ARG001
    (order_id,) = book(db)
    record(db, order_id, EventKind.ASSIGNED, OrderState.ASSIGNED)
    record(db, order_id, EventKind.COLLECTED, OrderState.COLLECTED)
    record(db, order_id, EventKind.ARRIVED_POST_OFFICE, OrderState.AT_POST_OFFICE)
    with db.unit_of_work() as s:
        s.get(Order, order_id).dossier.appointment_date = date(2026, 4, 2)
    record(db, order_id, EventKind.HANDED_TO_AGENCY, OrderState.HANDED_TO_AGENCY)
    drain(db, settings)
    bodies = [b for _p, b in _sms(db)]
    assert len(bodies) == 3  # booked, collected, handed over — not the assignment or the sorting scan
    assert "đã nhận hồ sơ" in bodies[1]
    assert "02/04/2026" in bodies[2]


def test_out_for_delivery_sms_carries_the_one_time_code(db, settings, clean):  # noqa: ARG001
    from tracking.delivery import issue_delivery_code, tracking_key

    (pickup_id,) = book(db)
    with db.unit_of_work() as s:
        pickup = s.get(Order, pickup_id)
        result = Order(dossier_id=pickup.dossier_id, leg=Leg.RESULT, state=OrderState.AT_POST_OFFICE,
                       item_code=make_item_code("RA", 90_000_000 + pickup_id), post_office_id=pickup.post_office_id)
        s.add(result)
        s.flush()
        result_id = result.id
        code = issue_delivery_code(s, tracking_key(settings.secret_key), pickup.dossier_id)
    record(db, result_id, EventKind.OUT_FOR_DELIVERY, OrderState.OUT_FOR_DELIVERY)
    drain(db, settings)
    body = _sms(db)[-1][1]
    assert f"Mã nhận: {code}" in body


def test_email_goes_through_a_real_smtp_server_once(db, settings, clean):  # noqa: ARG001
    sink = SmtpSink()
    try:
        settings = settings.with_(smtp_url=sink.url)
        (order_id,) = book(db)
        drain(db, settings)  # the booking SMS goes out before the citizen gives an e-mail address
        with db.unit_of_work() as s:
            set_citizen_email(s, s.get(Order, order_id).dossier_id, "nhung.nguyen@example.vn")
        record(db, order_id, EventKind.COLLECTED, OrderState.COLLECTED)
        drain(db, settings)
        assert len(sink.messages) == 1
        msg = sink.messages[0]
        assert msg["To"] == "nhung.nguyen@example.vn"
        assert msg["Subject"].startswith("Bưu điện đã nhận hồ sơ")
        assert "đã nhận hồ sơ" in msg.get_content()
        assert msg["Message-ID"].endswith("@dossierpost.vn>")
        with db.unit_of_work() as s:
            email = s.scalars(select(Notification).where(Notification.channel == NotificationChannel.EMAIL)).one()
            assert email.status == NotificationStatus.SENT
            send_planned(s, settings, [email.id])  # asked again: already sent, not sent again
        assert len(sink.messages) == 1
    finally:
        sink.close()


def test_smtp_down_fails_the_job_then_the_retry_sends_once(db, settings, clean):  # noqa: ARG001
    port = free_port()
    (order_id,) = book(db)
    with db.unit_of_work() as s:
        set_citizen_email(s, s.get(Order, order_id).dossier_id, "a@example.vn")
    drain(db, settings.with_(smtp_url=f"smtp://127.0.0.1:{port}"))  # nothing listens there
    with db.unit_of_work() as s:
        email = s.scalars(select(Notification).where(Notification.channel == NotificationChannel.EMAIL)).one()
        assert email.status == NotificationStatus.FAILED and "SMTP" in email.last_error
        msg = s.scalars(select(OutboxMessage).where(OutboxMessage.job.endswith("notify_event"))).one()
        assert msg.done_at is None and msg.attempts == 1
        msg.dispatched_at = None  # what the reconciler does once the claim is stale
    assert len(_sms(db)) == 1  # the SMS went out regardless
    sink = SmtpSink()
    try:
        drain(db, settings.with_(smtp_url=sink.url))
        assert len(sink.messages) == 1
        assert len(_sms(db)) == 1  # the retry did not send the SMS again
    finally:
        sink.close()


def test_two_workers_cannot_claim_the_same_message(db, settings, clean):  # noqa: ARG001
    with db.unit_of_work() as s:
        nid = plan(s, key="x:1", template="booked", channel=NotificationChannel.SMS, recipient="84900000000",
                   body="Thử").id
    with db.unit_of_work() as s:
        assert claim(s, nid, lease=timedelta(seconds=60))
    with db.unit_of_work() as s:
        assert not claim(s, nid, lease=timedelta(seconds=60))  # the other worker holds it
    with db.unit_of_work() as s:
        assert send_planned(s, settings, [nid]) == 0
    assert _sms(db) == []


def test_a_send_whose_worker_died_is_resent_by_the_reconciler(db, settings, clean):  # noqa: ARG001
    with db.unit_of_work() as s:
        nid = plan(s, key="x:2", template="booked", channel=NotificationChannel.SMS, recipient="84900000001",
                   body="Thử lại").id
    with db.unit_of_work() as s:
        assert claim(s, nid, lease=timedelta(seconds=60))  # ... and the worker is killed here
    with db.unit_of_work() as s:
        assert reconcile(s, settings, utcnow())["notifications_resent"] == 0  # lease still running
    with db.unit_of_work() as s:  # a minute later
        s.get(Notification, nid).lease_until = utcnow() - timedelta(seconds=1)
    with db.unit_of_work() as s:
        assert reconcile(s, settings, utcnow())["notifications_resent"] == 1
    drain(db, settings)
    assert [b for _p, b in _sms(db) if b == "Thử lại"] == ["Thử lại"]
    with db.unit_of_work() as s:
        assert s.get(Notification, nid).attempts == 2
