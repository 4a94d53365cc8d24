"""Dossiers and their legs (orders), each leg carrying one S10 item code."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from config.db import Base, UTCDateTime, utcnow
from logistics.accounts.models import User
from logistics.agencies.models import AdminUnit, Agency, PostOffice, Procedure, enum_column

# PostgreSQL hands out S10 serials from a sequence (no lock held by the order's transaction, safe across
# machines); SQLite, whose writers are serialised anyway, uses the ``serial_counters`` row instead.
S10_SERIAL_SEQUENCE = Sequence("s10_serial", start=1, metadata=Base.metadata)


class ServiceForm(enum.StrEnum):
    """The three service forms of Decision 45/2016."""

    SEND_ONLY = "send_only"  # gửi hồ sơ
    RECEIVE_ONLY = "receive_only"  # nhận kết quả
    BOTH = "both"  # gửi hồ sơ và nhận kết quả


class Leg(enum.StrEnum):
    """Direction of an order."""

    PICKUP = "pickup"  # citizen -> agency
    RESULT = "result"  # agency -> citizen


class Channel(enum.StrEnum):
    """Where an order came from."""

    WEB = "web"
    API = "api"
    IMPORT = "import"
    COUNTER = "counter"


class OrderState(enum.StrEnum):
    """Where a leg is in its lifecycle; the allowed moves live in ``tracking.states``."""

    CREATED = "created"
    NEEDS_REVIEW = "needs_review"  # address could not be resolved with confidence
    ASSIGNED = "assigned"  # a courier is assigned
    COLLECTED = "collected"  # from the citizen (pickup) or from the agency (result)
    AT_POST_OFFICE = "at_post_office"
    OUT_FOR_DELIVERY = "out_for_delivery"  # to the agency desk (pickup) or the citizen (result)
    HANDED_TO_AGENCY = "handed_to_agency"  # hand-over record signed: the legal submission time
    ACCEPTED = "accepted"  # agency confirmed receipt
    SUPPLEMENT_REQUESTED = "supplement_requested"
    REFUSED = "refused"  # agency refused the dossier
    DELIVERY_FAILED = "delivery_failed"
    DELIVERED = "delivered"
    RETURNED = "returned"  # result back to the agency after failed attempts / refused dossier to citizen
    CANCELLED = "cancelled"
    LOST = "lost"


class Dossier(Base):
    """One citizen's dossier for one procedure; carried by one or two legs."""

    __tablename__ = "dossiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    service_form: Mapped[ServiceForm] = mapped_column(enum_column(ServiceForm, "service_form"))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "channel"))
    external_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_phone: Mapped[str] = mapped_column(String(20))  # E.164 without '+', e.g. 84912345678
    address_text: Mapped[str] = mapped_column(String(400))
    admin_unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), index=True)  # 2025 commune
    envelopes: Mapped[int] = mapped_column(Integer, default=1)
    notes: Mapped[str | None] = mapped_column(Text)
    # Why this agency: which rule, which inputs (shown to dispatchers and in the API).
    routing: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dossier_code: Mapped[str | None] = mapped_column(String(60), unique=True)  # the agency's, on receipt
    appointment_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    procedure: Mapped[Procedure] = relationship(lazy="joined")
    agency: Mapped[Agency] = relationship(lazy="joined")
    admin_unit: Mapped[AdminUnit] = relationship(lazy="joined")
    orders: Mapped[list[Order]] = relationship(back_populates="dossier", order_by="Order.id")

    __table_args__ = (CheckConstraint("envelopes BETWEEN 1 AND 20", name="envelopes_range"),)


class Order(Base):
    """One leg of a dossier's journey, identified by its S10 item code."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("dossier_id", "leg"),
        Index("ix_orders_state_post_office", "state", "post_office_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"))
    leg: Mapped[Leg] = mapped_column(enum_column(Leg, "leg"))
    item_code: Mapped[str] = mapped_column(String(13), unique=True)
    state: Mapped[OrderState] = mapped_column(enum_column(OrderState, "order_state"))
    post_office_id: Mapped[int | None] = mapped_column(ForeignKey("post_offices.id"), index=True)
    courier_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    postage_vnd: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # Optimistic concurrency: two couriers scanning at once cannot both move the same leg.
    version: Mapped[int] = mapped_column(Integer, default=1)

    dossier: Mapped[Dossier] = relationship(back_populates="orders", lazy="joined")
    post_office: Mapped[PostOffice | None] = relationship(lazy="joined")
    courier: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API


class SerialCounter(Base):
    """The S10 serial counter on SQLite (see ``S10_SERIAL_SEQUENCE``)."""

    __tablename__ = "serial_counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class LabelRendering(Base):
    """A rendered label: labels are deterministic per item, so render once and serve the bytes."""

    __tablename__ = "label_renderings"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    fmt: Mapped[str] = mapped_column(String(8), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    rendered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
