"""Signed agency webhooks against a real HTTP receiver on 127.0.0.1: delivery, backoff, pause, replay."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from config.db import utcnow
from logistics.agencies.models import Agency
from logistics.orders.models import Order, OrderState
from logistics.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription
from logistics.webhooks.services import RetryPolicy, create_subscription, replay_subscription
from logistics.webhooks.signing import signature_header, verify
from tests.conftest import clean_transactional
from tests.workers.helpers import book, drain, record
from tests.workers.servers import WebhookReceiver, free_port
from tracking.models import EventKind
from workers.jobs.periodic import reconcile


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


@pytest.fixture
def clean(db):
    yield
    clean_transactional(db)


def _subscribe(db, url, *, agency_id=None, key="bi-mat-cua-so-noi-vu", **kw):
    with db.unit_of_work() as s:
        return create_subscription(s, name="Hệ thống một cửa tỉnh", url=url, agency_id=agency_id, secret=key,
                                   **kw).id


def _deliveries(db):
    with db.unit_of_work() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_signature_is_hmac_over_timestamp_dot_body():
    body = b'{"id":"1"}'
    header = signature_header("k", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    assert verify("k", header, body, now=1_700_000_100)
    assert not verify("k", header, body + b" ", now=1_700_000_100)  # tampered body
    assert not verify("other", header, body, now=1_700_000_100)  # wrong secret
    assert not verify("k", header, body, now=1_700_000_000 + 301)  # replayed too late


def test_backoff_doubles_each_attempt_and_is_capped():
    policy = RetryPolicy(backoff_s=30)
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert policy.delay(30) == timedelta(hours=6)


def test_events_are_delivered_signed_without_personal_data(db, settings, receiver, clean):  # noqa: ARG001
    receiver.secret = "bi-mat-cua-so-noi-vu"
    _subscribe(db, receiver.url)
    (order_id,) = book(db, external_ref="MC-2026-0001")
    record(db, order_id, EventKind.COLLECTED, OrderState.COLLECTED)
    drain(db, settings)
    assert len(receiver.received) == 2
    created, collected = receiver.received
    assert created.signature_ok and collected.signature_ok
    assert collected.body["type"] == "dossier.collected"
    assert collected.body["id"] == collected.event_id
    assert collected.body["data"]["external_ref"] == "MC-2026-0001"
    raw = json.dumps(collected.body, ensure_ascii=False)
    assert "0912" not in raw and "Nhung" not in raw  # no phone, no name
    assert [d.status for d in _deliveries(db)] == [DeliveryStatus.SUCCEEDED] * 2


def test_an_agency_subscription_gets_only_its_own_dossiers(db, settings, receiver, clean):  # noqa: ARG001
    (order_id,) = book(db)
    with db.unit_of_work() as s:
        own = s.get(Order, order_id).dossier.agency_id
        other = s.scalars(select(Agency.id).where(Agency.id != own)).first()
    _subscribe(db, receiver.url, agency_id=other)
    record(db, order_id, EventKind.COLLECTED, OrderState.COLLECTED)
    drain(db, settings)
    assert receiver.received == []
    _subscribe(db, receiver.url, agency_id=own, event_kinds=["handed_to_agency"])
    record(db, order_id, EventKind.ARRIVED_POST_OFFICE, OrderState.AT_POST_OFFICE)
    record(db, order_id, EventKind.HANDED_TO_AGENCY, OrderState.HANDED_TO_AGENCY)
    drain(db, settings)
    assert [r.body["type"] for r in receiver.received] == ["dossier.handed_to_agency"]


def _sweep(db, settings, *, after: float = 0.0):
    with db.unit_of_work() as s:
        n = reconcile(s, settings, utcnow() + timedelta(seconds=after))["webhooks_due"]
    drain(db, settings)
    return n


@pytest.mark.faults
def test_failing_receiver_is_retried_then_paused_then_replayed(db, settings, receiver, clean):  # noqa: ARG001
    settings = settings.with_(webhook_backoff_seconds=60, webhook_pause_after=4, webhook_max_attempts=20,
                              webhook_timeout_seconds=0.5)
    later = 10**6  # the sweeps below look this many seconds ahead: every retry is due, no sleeping
    sub_id = _subscribe(db, receiver.url)
    receiver.status = 500
    (order_id,) = book(db)
    drain(db, settings)  # attempt 1: 500
    (delivery,) = _deliveries(db)
    assert delivery.status == DeliveryStatus.RETRYING and delivery.attempts == 1
    assert timedelta(seconds=55) < delivery.next_attempt_at - utcnow() <= timedelta(seconds=60)
    assert _sweep(db, settings) == 0  # not due yet: backoff
    assert _sweep(db, settings, after=later) == 1  # attempt 2: 500
    (delivery,) = _deliveries(db)
    assert timedelta(seconds=115) < delivery.next_attempt_at - utcnow() <= timedelta(seconds=120)  # doubled
    receiver.status, receiver.delay = 200, 1.0  # now it hangs longer than our timeout
    assert _sweep(db, settings, after=later) == 1  # attempt 3: timeout
    receiver.delay = 0.0
    with db.unit_of_work() as s:  # attempt 4: the receiver moved away (connection refused)
        s.get(WebhookSubscription, sub_id).url = f"http://127.0.0.1:{free_port()}/gone"
    assert _sweep(db, settings, after=later) == 1
    with db.unit_of_work() as s:
        sub = s.get(WebhookSubscription, sub_id)
        assert sub.paused_at is not None and "4 lần" in sub.pause_reason
        errors = [a.error for a in s.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id))]
        sub.url = receiver.url
    assert errors[0] == "HTTP 500" and errors[1] == "HTTP 500"
    assert "timed out" in errors[2].lower()
    assert "refused" in errors[3].lower()
    # Paused: more events are recorded but not sent, even when due.
    record(db, order_id, EventKind.COLLECTED, OrderState.COLLECTED)
    drain(db, settings)
    assert _sweep(db, settings, after=later) == 0
    assert len([d for d in _deliveries(db) if d.status == DeliveryStatus.SUCCEEDED]) == 0
    # Replay: everything missed goes out, oldest first, once.
    before = len(receiver.ok_event_ids())
    with db.unit_of_work() as s:
        ids = replay_subscription(s, sub_id)
        from config.queue import enqueue

        for delivery_id in ids:
            enqueue(s, "workers.jobs.webhooks.deliver_webhook", queue="webhooks", delivery_id=delivery_id)
    drain(db, settings)
    ok = receiver.ok_event_ids()[before:]
    assert len(ok) == 2 and ok == sorted(ok, key=int)
    assert all(d.status == DeliveryStatus.SUCCEEDED for d in _deliveries(db))
    assert _sweep(db, settings, after=later) == 0


def test_gives_up_after_the_maximum_attempts_and_stays_replayable(db, settings, receiver, clean):  # noqa: ARG001
    settings = settings.with_(webhook_backoff_seconds=0.01, webhook_pause_after=99, webhook_max_attempts=3)
    sub_id = _subscribe(db, receiver.url)
    receiver.status = 503
    book(db)
    drain(db, settings)
    assert [_sweep(db, settings, after=10**6) for _ in range(3)] == [1, 1, 0]  # attempts 2, 3; then given up
    (delivery,) = _deliveries(db)
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3
    assert len(receiver.received) == 3
    receiver.status = 200
    with db.unit_of_work() as s:
        assert replay_subscription(s, sub_id) == [delivery.id]
    _sweep(db, settings)
    assert _deliveries(db)[0].status == DeliveryStatus.SUCCEEDED


def test_a_subscription_made_after_a_check_in_the_same_session_is_seen(db, receiver, clean):  # noqa: ARG001
    from logistics.webhooks.services import has_subscribers

    with db.session() as s:
        assert not has_subscribers(s, None)
        assert not has_subscribers(s, None)  # asked again in the same transaction: from the cache
        s.commit()
        create_subscription(s, name="Hệ thống một cửa tỉnh", url=receiver.url)
        s.commit()
        assert has_subscribers(s, None)
