"""What the system does when an event is recorded: the consequences requested in the same transaction.

``append_event`` calls ``event_recorded`` after writing each event. Consequences (citizen notifications,
agency webhooks, label rendering of a new leg, ...) are requested here as outbox rows, so they commit or roll
back with the event itself and are carried out by the workers after commit.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from logistics.orders.models import Order
from tracking.models import TrackingEvent


def event_recorded(session: Session, order: Order, event: TrackingEvent) -> None:
    """Request the consequences of ``event``; none yet beyond the label job of intake (workers issue #5)."""
    del session, order, event
