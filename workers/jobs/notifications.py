"""Notification jobs: tell the citizen about an event (SMS, and e-mail when given), send one planned message.

Each job is one edge of the system: it commits between claiming a message and sending it, so a worker that
dies mid-send leaves a claim that expires (and the reconciler re-sends), never a message sent twice by two
workers at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Load, Session, joinedload

from config.queue import send_lease_seconds
from config.settings import Settings
from logistics.labels.signing import LabelSigner
from logistics.notifications.models import CitizenContact, Notification, NotificationChannel
from logistics.notifications.providers import Providers, SendError, load_providers
from logistics.notifications.services import claim, deliver, is_external, mark_failed, plan
from logistics.notifications.templates import MessageContext, pickup_window, render, template_for
from logistics.orders.models import Dossier, Order
from logistics.text import mask_pii
from tracking.models import TrackingEvent

log = logging.getLogger(__name__)


class NotificationNotSentError(RuntimeError):
    """A provider refused a message; the job fails so that it is retried (with backoff)."""


def _tracking_url(settings: Settings, item_code: str) -> str:
    sig = LabelSigner(settings.label_keys).sign(item_code)
    return f"{settings.public_base_url}/t/{item_code}?s={sig}"


def _delivery_code(session: Session, settings: Settings, dossier_id: int) -> str | None:
    """The one-time code in force for the dossier (issued by tracking when the result goes out)."""
    from tracking.delivery import current_delivery_code, tracking_key  # noqa: PLC0415 - only this template needs it

    return current_delivery_code(session, tracking_key(settings.secret_key), dossier_id)


def _reason_text(reason_code: str | None, note: str | None) -> str | None:
    if reason_code:
        from tracking.delivery import FAILURE_TEXT, FailureReason  # noqa: PLC0415

        try:
            return FAILURE_TEXT[FailureReason(reason_code)]
        except ValueError:
            return note or reason_code
    return note


def build_context(session: Session, settings: Settings, order: Order, event: TrackingEvent) -> MessageContext:
    """What the templates may say about this event."""
    dossier = order.dossier
    kind = str(event.kind)
    return MessageContext(
        item_code=order.item_code,
        applicant_name=dossier.applicant_name,
        leg=str(order.leg),
        procedure_name=dossier.procedure.name,
        agency_name=dossier.agency.name,
        occurred_at=event.server_time,
        tz=settings.timezone,
        appointment_date=dossier.appointment_date,
        pickup_window=pickup_window(order.created_at, settings.timezone) if kind == "created" else None,
        delivery_code=_delivery_code(session, settings, dossier.id) if kind == "out_for_delivery" else None,
        reason_text=_reason_text(event.reason_code, event.note) if kind in {
            "delivery_failed", "refused", "supplement_requested"} else None,
        tracking_url=_tracking_url(settings, order.item_code),
    )


# What a message needs of an order: its dossier with the procedure's and the agency's names, in one query. The
# mappings eager-load much more for the pages (the procedure's document list, the communes and their parents,
# the post office), which cost a notification job ~1 ms of its ~7 ms of CPU (measured, bench/bench_workers.py).
_ORDER_FOR_MESSAGE = (
    Load(Order).lazyload("*"),
    joinedload(Order.dossier).lazyload("*"),
    joinedload(Order.dossier).joinedload(Dossier.procedure).lazyload("*"),
    joinedload(Order.dossier).joinedload(Dossier.agency).lazyload("*"),
)


def notify_event(session: Session, settings: Settings, event_id: int) -> None:
    """Plan and send the citizen's messages about one tracking event (idempotent)."""
    # The event, its order (with what the message names) and the citizen's e-mail: one query, not four.
    row = session.execute(
        select(TrackingEvent, Order, CitizenContact.email)
        .join(Order, Order.id == TrackingEvent.order_id)
        .outerjoin(CitizenContact, CitizenContact.dossier_id == Order.dossier_id)
        .where(TrackingEvent.id == event_id)
        .options(*_ORDER_FOR_MESSAGE)
    ).one_or_none()
    if row is None:
        return
    event, order, email = row
    template = template_for(event.kind, order.leg)
    if template is None:
        return
    subject, body = render(template, build_context(session, settings, order, event))
    dossier = order.dossier
    # The planned rows stay referenced until they are sent: the session's identity map holds clean objects
    # weakly, and send_planned would otherwise load each one again (one SELECT per message).
    notes = [plan(session, key=f"event:{event_id}:sms", template=template, channel=NotificationChannel.SMS,
                  recipient=dossier.applicant_phone, subject=subject, body=body, order_id=order.id,
                  event_id=event_id)]
    if email:
        notes.append(plan(session, key=f"event:{event_id}:email", template=template,
                          channel=NotificationChannel.EMAIL, recipient=email, subject=subject, body=body,
                          order_id=order.id, event_id=event_id))
    send_planned(session, settings, [n.id for n in notes])


def send_notification(session: Session, settings: Settings, notification_id: int) -> None:
    """Send one planned message (the reconciler's re-send of a message whose worker died)."""
    send_planned(session, settings, [notification_id])


def send_planned(session: Session, settings: Settings, ids: list[int], providers: Providers | None = None) -> int:
    """Claim and send each message; returns how many were sent now.

    A message whose provider writes in the database (the SMS outbox, in-app messages) is sent in the job's
    transaction: the message and its status commit together, once. One that calls the outside world (SMTP,
    an SMS gateway) is claimed and committed first, then sent, then recorded in a second commit.
    """
    providers = providers or load_providers(settings)
    lease = timedelta(seconds=send_lease_seconds(settings))
    sent, failed = 0, []
    for nid in ids:
        if not claim(session, nid, lease=lease):
            continue
        note = session.get(Notification, nid)
        if note is not None and not is_external(note, providers):
            deliver(session, nid, providers)
            sent += 1
            continue
        session.commit()
        try:
            deliver(session, nid, providers)
        except SendError as exc:
            session.rollback()
            mark_failed(session, nid, str(exc))
            failed.append(nid)
            log.warning("notification %s not sent: %s", nid, mask_pii(str(exc)))  # gateways quote the number
        else:
            sent += 1
        session.commit()
    if failed:
        raise NotificationNotSentError(f"notifications {failed} not sent; retried with backoff")
    return sent
