"""The append-only custody record: one row per handover or status change of an order."""

from __future__ import annotations

import enum
import hashlib
import json
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from config.db import Base, UTCDateTime, utcnow
from logistics.agencies.models import enum_column
from logistics.orders.models import OrderState


class EventKind(enum.StrEnum):
    """Domestic tracking events; ``UPU_CODES`` maps each to the nearest UPU EDI event."""

    CREATED = "created"
    ASSIGNED = "assigned"
    COLLECTED = "collected"
    ARRIVED_POST_OFFICE = "arrived_post_office"
    LEFT_POST_OFFICE = "left_post_office"
    OUT_FOR_DELIVERY = "out_for_delivery"
    HANDED_TO_AGENCY = "handed_to_agency"
    RECEIPT_CONFIRMED = "receipt_confirmed"
    REFUSED = "refused"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    RESULT_READY = "result_ready"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERED = "delivered"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    LOST = "lost"


# Nearest UPU EDI event codes (EMA posting, EMB/EMC office in/out, EMG arrival at delivery office, EDG out
# for delivery, EMH unsuccessful delivery, EMI final delivery). Events with no UPU counterpart map to None.
UPU_CODES: dict[EventKind, str | None] = {
    EventKind.CREATED: None,
    EventKind.ASSIGNED: None,
    EventKind.COLLECTED: "EMA",
    EventKind.ARRIVED_POST_OFFICE: "EMB",
    EventKind.LEFT_POST_OFFICE: "EMC",
    EventKind.OUT_FOR_DELIVERY: "EDG",
    EventKind.HANDED_TO_AGENCY: "EMI",
    EventKind.RECEIPT_CONFIRMED: "EMI",
    EventKind.REFUSED: "EMH",
    EventKind.SUPPLEMENT_REQUESTED: "EMH",
    EventKind.RESULT_READY: None,
    EventKind.DELIVERY_FAILED: "EMH",
    EventKind.DELIVERED: "EMI",
    EventKind.RETURNED: "EMH",
    EventKind.CANCELLED: None,
    EventKind.LOST: None,
}

GENESIS_HASH = "0" * 64


class TrackingEvent(Base):
    """One event of one order; never updated or deleted (enforced by a flush guard)."""

    __tablename__ = "tracking_events"
    __table_args__ = (Index("ix_tracking_events_order_id_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind, "event_kind"))
    upu_code: Mapped[str | None] = mapped_column(String(3))
    state_after: Mapped[OrderState] = mapped_column(enum_column(OrderState, "order_state"))
    actor_role: Mapped[str] = mapped_column(String(32))  # citizen, courier, agency_officer, system, api
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    post_office_id: Mapped[int | None] = mapped_column(ForeignKey("post_offices.id"))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    server_time: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def compute_hash(self) -> str:
        """Hash of this event's content chained to the previous event's hash (tamper evidence)."""
        body = {
            "order_id": self.order_id,
            "kind": str(self.kind),
            "state_after": str(self.state_after),
            "actor_role": self.actor_role,
            "actor_id": self.actor_id,
            "post_office_id": self.post_office_id,
            "agency_id": self.agency_id,
            "lat": self.lat,
            "lon": self.lon,
            "device_time": self.device_time.isoformat() if self.device_time else None,
            "server_time": self.server_time.isoformat(),
            "reason_code": self.reason_code,
            "note": self.note,
            "idempotency_key": self.idempotency_key,
        }
        blob = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256((self.prev_hash + blob).encode()).hexdigest()


class AppendOnlyError(RuntimeError):
    """Someone tried to change or delete a recorded tracking event."""


@event.listens_for(Session, "before_flush")
def _refuse_event_changes(session: Session, _ctx: object, _instances: object) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, TrackingEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyError("tracking events are append-only")
