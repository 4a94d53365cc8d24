"""Planning and sending notifications: each message is planned once (unique key) and sent once.

Sending is two steps, each in its own transaction (the job commits between them):

1. ``claim`` marks the message ``sending`` with a lease (a conditional UPDATE: one worker wins);
2. ``deliver`` calls the provider and marks it ``sent`` — for the default SMS provider the SMS row and the
   status commit together; a worker that dies in between leaves a ``sending`` row whose lease expires, and
   the retry sends it then.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from config.db import utcnow
from logistics.notifications.models import (
    CitizenContact,
    Notification,
    NotificationChannel,
    NotificationStatus,
    SmsMessage,
)
from logistics.notifications.providers import Providers, SendError
from logistics.text import mask_pii

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MESSAGE_ID_DOMAIN = "dossierpost.vn"


class InvalidEmailError(ValueError):
    """The e-mail address is not one we can send to."""


def set_citizen_email(session: Session, dossier_id: int, email: str) -> CitizenContact:
    """Remember the applicant's e-mail (optional; e-mail notices go to it in addition to the SMS)."""
    email = email.strip()
    if len(email) > 254 or not EMAIL_RE.match(email):  # noqa: PLR2004 - RFC 5321 path limit
        raise InvalidEmailError(f"Địa chỉ e-mail không hợp lệ: {email!r}")
    contact = session.get(CitizenContact, dossier_id)
    if contact is None:
        contact = CitizenContact(dossier_id=dossier_id, email=email)
        session.add(contact)
    else:
        contact.email = email
    session.flush()
    return contact


def citizen_email(session: Session, dossier_id: int) -> str | None:
    """The applicant's e-mail, if given."""
    contact = session.get(CitizenContact, dossier_id)
    return contact.email if contact else None


def plan(
    session: Session,
    *,
    key: str,
    template: str,
    channel: NotificationChannel,
    recipient: str,
    body: str,
    subject: str | None = None,
    order_id: int | None = None,
    event_id: int | None = None,
    user_id: int | None = None,
) -> Notification:
    """The message with this ``key``, created when it does not exist yet (planning twice plans once)."""
    existing = session.scalar(select(Notification).where(Notification.key == key))
    if existing is not None:
        return existing
    note = Notification(
        key=key, template=template, channel=channel, recipient=recipient, subject=subject, body=body,
        order_id=order_id, event_id=event_id, user_id=user_id, status=NotificationStatus.PENDING, attempts=0,
    )
    session.add(note)
    session.flush()
    return note


def claim(session: Session, notification_id: int, *, lease: timedelta, now: datetime | None = None) -> bool:
    """Reserve a message for sending; False when it is sent, skipped, or being sent by another worker."""
    now = now or utcnow()
    result = session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            or_(
                Notification.status.in_([NotificationStatus.PENDING, NotificationStatus.FAILED]),
                (Notification.status == NotificationStatus.SENDING) & (Notification.lease_until < now),
            ),
        )
        .values(status=NotificationStatus.SENDING, lease_until=now + lease, attempts=Notification.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    # Keep a copy already in this session in step (saves ``deliver`` a reload).
    loaded = session.identity_map.get(identity_key(Notification, notification_id))
    if isinstance(loaded, Notification):
        set_committed_value(loaded, "status", NotificationStatus.SENDING)
        set_committed_value(loaded, "lease_until", now + lease)
    return True


def deliver(session: Session, notification_id: int, providers: Providers, *, now: datetime | None = None) -> None:
    """Send a claimed message and record it as sent (or skipped); raises ``SendError`` when the provider fails."""
    note = session.get(Notification, notification_id)
    if note is None or note.status != NotificationStatus.SENDING:
        return
    if note.channel == NotificationChannel.SMS:
        # The provider may flush (the SMS outbox row needs its id): the message's own columns are set after,
        # so they go out in one UPDATE with the status instead of two.
        ref = providers.sms.send_sms(session, notification_id=note.id, phone=note.recipient, text=note.body)
        note.provider, note.provider_ref = providers.sms.name, ref
    elif note.channel == NotificationChannel.EMAIL:
        if providers.email is None:
            _finish(note, NotificationStatus.SKIPPED, now, error="SMTP_URL chưa cấu hình")
            return
        note.provider = providers.email.name
        note.provider_ref = providers.email.send_email(
            to=note.recipient, subject=note.subject or "DossierPost", text=note.body,
            message_id=f"<n{note.id}.{note.key.replace(':', '.')}@{MESSAGE_ID_DOMAIN}>",
        )
    else:  # APP: the row itself is the message the user sees
        note.provider = "app"
    _finish(note, NotificationStatus.SENT, now)


def _finish(note: Notification, status: NotificationStatus, now: datetime | None, *, error: str | None = None) -> None:
    note.status = status
    note.sent_at = (now or utcnow()) if status == NotificationStatus.SENT else None
    note.lease_until = None
    note.last_error = mask_pii(error) if error else error


def is_external(note: Notification, providers: Providers) -> bool:
    """Whether sending ``note`` calls the outside world (so it must be claimed and committed first)."""
    if note.channel == NotificationChannel.SMS:
        return not providers.sms.transactional
    return note.channel == NotificationChannel.EMAIL and providers.email is not None


def mark_failed(session: Session, notification_id: int, error: str) -> None:
    """Record a provider failure; the message can be claimed again by the retry."""
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == NotificationStatus.SENDING)
        .values(status=NotificationStatus.FAILED, lease_until=None, last_error=mask_pii(error)[:2000])
    )


def send(session: Session, notification_id: int, providers: Providers, *, lease: timedelta) -> bool | None:
    """Claim and send one message inside ``session`` (callers that need the two commits use the parts).

    Returns True when sent now, None when there was nothing to do, False when the provider failed.
    """
    if not claim(session, notification_id, lease=lease):
        return None
    try:
        deliver(session, notification_id, providers)
    except SendError as exc:
        mark_failed(session, notification_id, str(exc))
        return False
    return True


def recent_sms(session: Session, *, limit: int = 50) -> list[SmsMessage]:
    """The latest SMS of the default provider (operator page)."""
    return list(session.scalars(select(SmsMessage).order_by(SmsMessage.id.desc()).limit(limit)))


def app_messages(session: Session, user_id: int, *, unread_only: bool = False, limit: int = 50) -> list[Notification]:
    """In-app messages of a staff member (dispatcher alerts), newest first."""
    query = select(Notification).where(
        Notification.user_id == user_id, Notification.channel == NotificationChannel.APP
    )
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))
