"""The append-only custody record: one row per handover or status change of an order."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from config.db import Base, UTCDateTime, utcnow
from logistics.agencies.models import enum_column
from logistics.orders.models import Order, OrderState


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
# The columns an event's hash covers (with ``prev_hash``, which chains it).
_HASHED: Final = ("order_id", "kind", "state_after", "actor_role", "actor_id", "post_office_id", "agency_id", "lat",
                  "lon", "device_time", "server_time", "reason_code", "note", "idempotency_key", "actor_name",
                  "upu_code", "clock_skew_s", "clock_skew_flag", "details")


def event_hash(values: Mapping[str, Any]) -> str:
    """The hash of an event's column ``values`` chained to their ``prev_hash`` (tamper evidence).

    One function for an ORM event (``TrackingEvent.compute_hash``) and for an event written as a row of values
    (``tracking.services.append_to_stored``), so both give the same hash for the same content.
    """
    body: dict[str, Any] = {key: values.get(key) for key in _HASHED}
    body["kind"], body["state_after"] = str(body["kind"]), str(body["state_after"])
    device_time: datetime | None = body["device_time"]
    server_time: datetime = values["server_time"]
    body["device_time"] = device_time.isoformat() if device_time else None
    body["server_time"] = server_time.isoformat()
    body["clock_skew_flag"] = bool(body["clock_skew_flag"])
    blob = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((values["prev_hash"] + blob).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AppendedEvent:
    """An event written as a row of values (``append_to_stored``): what its callers and reactions read of it."""

    id: int
    kind: EventKind
    state_after: OrderState
    server_time: datetime
    hash: str


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
    # device_time - server_time in seconds; flagged when beyond the tolerance (kept, never corrected).
    clock_skew_s: Mapped[int | None] = mapped_column(Integer)
    clock_skew_flag: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the event's requirements recorded: checklist, seal number, identity check method, missing
    # documents... never a secret (codes and ID digits are kept only as keyed hashes elsewhere).
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def compute_hash(self) -> str:
        """Hash of this event's content chained to the previous event's hash (``event_hash``)."""
        return event_hash({key: getattr(self, key) for key in (*_HASHED, "prev_hash")})


class RefusedScan(Base):
    """A scan that was refused (impossible transition, bad signature, missing requirement...).

    Logged so that supervisors see what couriers tried, and so that a replay of the same idempotency key
    returns the same refusal; it never changes the order.
    """

    __tablename__ = "refused_scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    scanned_code: Mapped[str | None] = mapped_column(String(200))  # what was scanned or typed (truncated)
    kind: Mapped[str | None] = mapped_column(String(40))  # the requested event, as sent
    state: Mapped[str | None] = mapped_column(String(32))  # the order's state at the time
    error: Mapped[str] = mapped_column(String(40))  # machine-readable: invalid_transition, bad_signature, ...
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor_role: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    server_time: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)


class HandoverDecision(enum.StrEnum):
    """The officer's decision on one item of a hand-over record."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REFUSED = "refused"
    SUPPLEMENT_REQUESTED = "supplement_requested"


class HandoverRecord(Base):
    """Biên bản giao nhận: the items a courier hands to an agency desk at once."""

    __tablename__ = "handover_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    post_office_id: Mapped[int | None] = mapped_column(ForeignKey("post_offices.id"))
    courier_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    courier_name: Mapped[str] = mapped_column(String(200))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    officer_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # every item decided

    items: Mapped[list[HandoverItem]] = relationship(
        back_populates="record", order_by="HandoverItem.id", lazy="selectin"
    )


class HandoverItem(Base):
    """One item of a hand-over record and the officer's decision on it."""

    __tablename__ = "handover_items"
    __table_args__ = (UniqueConstraint("record_id", "order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("handover_records.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    decision: Mapped[HandoverDecision] = mapped_column(
        enum_column(HandoverDecision, "handover_decision"), default=HandoverDecision.PENDING
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)

    record: Mapped[HandoverRecord] = relationship(back_populates="items")
    order: Mapped[Order] = relationship(lazy="joined")


class AgencyReceipt(Base):
    """An agency's receipt of a dossier (Form 01): the legal submission time, dossier code, appointment.

    One row per confirmation: a dossier completed after a supplement request gets a new row (the
    processing clock restarts); the latest row is the one in force.
    """

    __tablename__ = "agency_receipts"
    __table_args__ = (Index("ix_agency_receipts_dossier_id_id", "dossier_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    handover_item_id: Mapped[int | None] = mapped_column(ForeignKey("handover_items.id"))
    dossier_code: Mapped[str] = mapped_column(String(60))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the legal submission time
    acceptance_date: Mapped[date] = mapped_column(Date)  # J
    appointment_date: Mapped[date] = mapped_column(Date)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    officer_name: Mapped[str | None] = mapped_column(String(200))


class DossierCodeCounter(Base):
    """The NNNN of ``<agency code>-YYMMDD-NNNN``: one counter per agency and day (atomic upsert)."""

    __tablename__ = "dossier_code_counters"

    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(6), primary_key=True)  # YYMMDD, local date
    value: Mapped[int] = mapped_column(Integer)


class DeliverySecret(Base):
    """What the courier checks at delivery, as keyed hashes only (never the code or the ID digits)."""

    __tablename__ = "delivery_secrets"

    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), primary_key=True)
    # The one-time code for the result leg's delivery: derived from the server key and this nonce, so the
    # notifier can recompute it to send it; only its keyed hash is stored.
    code_nonce: Mapped[str | None] = mapped_column(String(32))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    id_digits_hash: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    failed_checks: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReinvitationAction(enum.StrEnum):
    """What a scheduled step after a failed delivery asks for."""

    REINVITE = "reinvite"  # invite the citizen again / attempt delivery again
    RETURN = "return"  # take the result back to the agency


class Reinvitation(Base):
    """One planned step after a failed delivery, on a working day; a periodic job acts on due steps."""

    __tablename__ = "reinvitations"
    __table_args__ = (
        UniqueConstraint("order_id", "seq"),
        Index("ix_reinvitations_due", "done_at", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2 = invitations; 3 = return
    action: Mapped[ReinvitationAction] = mapped_column(enum_column(ReinvitationAction, "reinvitation_action"))
    due_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # acted on, or made moot
    outcome: Mapped[str | None] = mapped_column(String(40))  # sent, delivered, cancelled, ...


class AppendOnlyError(RuntimeError):
    """Someone tried to change or delete a recorded tracking event."""


@event.listens_for(Session, "before_flush")
def _refuse_event_changes(session: Session, _ctx: object, _instances: object) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, TrackingEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyError("tracking events are append-only")
