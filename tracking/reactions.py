"""What the system does when an event is recorded: the consequences requested in the same transaction.

``append_event`` calls ``event_recorded`` after writing each event. Consequences (citizen notifications,
agency webhooks) are requested here as outbox rows, so they commit or roll back with the event itself and are
carried out by the workers after commit — a Redis outage or a killed worker delays them, never loses them.
Jobs take the event id and reload what they need.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from config.queue import enqueue
from logistics.notifications.templates import template_for
from logistics.orders.models import Leg
from logistics.webhooks.services import has_subscribers
from tracking.models import AppendedEvent, TrackingEvent

NOTIFY_JOB = "workers.jobs.notifications.notify_event"
PUBLISH_JOB = "workers.jobs.webhooks.publish_event"


def event_recorded(session: Session, event: TrackingEvent | AppendedEvent, *, leg: Leg,
                   agency_id: int | None) -> None:
    """Request the citizen's notification (events they care about) and the webhooks (when anyone subscribes).

    ``leg`` and ``agency_id`` are the event's order's (its leg, its dossier's agency).
    """
    if template_for(event.kind, leg) is not None:
        enqueue(session, NOTIFY_JOB, queue="notifications", event_id=event.id)
    if has_subscribers(session, agency_id):
        enqueue(session, PUBLISH_JOB, queue="webhooks", event_id=event.id)
