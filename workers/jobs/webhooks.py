"""Webhook jobs: publish an event to its subscribers, and deliver one delivery (claim, POST, record)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from config.db import utcnow
from config.queue import send_lease_seconds
from config.settings import Settings
from logistics.orders.models import Order
from logistics.webhooks.models import DeliveryStatus, WebhookDelivery
from logistics.webhooks.services import RetryPolicy, claim_delivery, create_deliveries, post, record_attempt
from tracking.models import TrackingEvent


def retry_policy(settings: Settings) -> RetryPolicy:
    """Backoff, maximum attempts and pause threshold from the settings."""
    return RetryPolicy(backoff_s=settings.webhook_backoff_seconds, max_attempts=settings.webhook_max_attempts,
                       pause_after=settings.webhook_pause_after)


def event_payload(order: Order, event: TrackingEvent) -> dict[str, Any]:
    """The JSON an agency receives: what happened to which dossier; no personal data of the citizen."""
    dossier = order.dossier
    return {
        "id": str(event.id),
        "type": f"dossier.{event.kind}",
        "occurred_at": event.server_time.isoformat(),
        "data": {
            "item_code": order.item_code,
            "leg": str(order.leg),
            "state": str(event.state_after),
            "event": str(event.kind),
            "upu_code": event.upu_code,
            "reason_code": event.reason_code,
            "device_time": event.device_time.isoformat() if event.device_time else None,
            "agency_code": dossier.agency.code,
            "procedure_code": dossier.procedure.code,
            "external_ref": dossier.external_ref,
            "dossier_code": dossier.dossier_code,
            "appointment_date": dossier.appointment_date.isoformat() if dossier.appointment_date else None,
        },
    }


def publish_event(session: Session, settings: Settings, event_id: int) -> None:
    """Create the event's deliveries (one per matching subscription) and try each once now."""
    event = session.get(TrackingEvent, event_id)
    if event is None:
        return
    order = session.get(Order, event.order_id)
    if order is None:
        return
    lease = timedelta(seconds=send_lease_seconds(settings))
    deliveries = create_deliveries(
        session, event_id=event.id, event_kind=str(event.kind), order_id=order.id,
        agency_id=order.dossier.agency_id, payload=event_payload(order, event),
        # The sweeper leaves them to this job for a lease; it takes over only if this worker dies.
        first_try_at=utcnow() + lease,
    )
    ids = [d.id for d in deliveries if d.status in {DeliveryStatus.PENDING, DeliveryStatus.RETRYING}]
    session.commit()
    for delivery_id in ids:
        deliver_once(session, settings, delivery_id)


def deliver_webhook(session: Session, settings: Settings, delivery_id: int) -> None:
    """Try one delivery (retries and replays come here)."""
    deliver_once(session, settings, delivery_id)


def deliver_once(session: Session, settings: Settings, delivery_id: int) -> DeliveryStatus | None:
    """Claim (commit), POST, record (commit). None when another worker has it or it is done or paused."""
    lease = timedelta(seconds=send_lease_seconds(settings))
    if not claim_delivery(session, delivery_id, lease=lease):
        session.rollback()
        return None
    session.commit()
    delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
    if delivery is None:
        return None
    result = post(delivery, timeout=settings.webhook_timeout_seconds)
    status = record_attempt(session, delivery_id, result, retry_policy(settings))
    session.commit()
    return status
