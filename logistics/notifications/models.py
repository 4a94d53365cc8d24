"""Notifications sent (or to send), the SMS outbox of the default provider, citizens' e-mail, deadline alerts."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from config.db import Base, UTCDateTime, utcnow
from logistics.agencies.models import enum_column


class NotificationChannel(enum.StrEnum):
    """How a message reaches its recipient."""

    SMS = "sms"
    EMAIL = "email"
    APP = "app"  # shown inside the app to a staff member (dispatcher alerts)


class NotificationStatus(enum.StrEnum):
    """Where a message is: pending → sending (claimed by one worker) → sent, failed or skipped."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # the provider refused it; retried by the job's retries, then left for operators
    SKIPPED = "skipped"  # nothing to send it with (no SMTP configured, no address)


class Notification(Base):
    """One message to one recipient on one channel, sent at most once (``key`` is unique)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_status_lease", "status", "lease_until"),
        Index("ix_notifications_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What makes this message unique: "event:<event id>:<channel>", "alert:<alert id>:<user id>:<channel>"...
    key: Mapped[str] = mapped_column(String(160), unique=True)
    template: Mapped[str] = mapped_column(String(40))
    channel: Mapped[NotificationChannel] = mapped_column(enum_column(NotificationChannel, "notification_channel"))
    status: Mapped[NotificationStatus] = mapped_column(
        enum_column(NotificationStatus, "notification_status"), default=NotificationStatus.PENDING
    )
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    event_id: Mapped[int | None] = mapped_column(Integer)  # the tracking event that caused it, if any
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    recipient: Mapped[str] = mapped_column(String(254))  # phone (84…), e-mail address or user id
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(String(40))
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # app messages: seen by the user


class SmsMessage(Base):
    """An SMS written by the default provider: the app shows them, a gateway may forward them."""

    __tablename__ = "sms_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), unique=True)
    phone: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # set by a gateway, if any


class CitizenContact(Base):
    """Optional e-mail of a dossier's applicant (the phone is on the dossier); e-mail notices go here."""

    __tablename__ = "citizen_contacts"

    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlertLevel(enum.StrEnum):
    """How close an item is to its limit."""

    AT_RISK = "at_risk"  # due today or on the next working day
    LATE = "late"  # past its limit


class DeadlineAlert(Base):
    """An item flagged by the deadline watcher (once per level); resolved when the leg reaches its end."""

    __tablename__ = "deadline_alerts"
    __table_args__ = (UniqueConstraint("order_id", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    level: Mapped[AlertLevel] = mapped_column(enum_column(AlertLevel, "alert_level"))
    due_date: Mapped[date] = mapped_column(Date)
    basis: Mapped[str] = mapped_column(String(200))  # why this date: "J+2 (liên xã)", "ngày hẹn 12/03/2026"
    post_office_id: Mapped[int | None] = mapped_column(ForeignKey("post_offices.id"), index=True)
    flagged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_on_time: Mapped[bool | None] = mapped_column(Boolean)
