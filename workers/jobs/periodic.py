"""Periodic jobs (run by ``workers.schedule``): reconciler, deadline watcher, re-invitations, daily report.

Each is ``def job(session, settings, now) -> dict`` (its summary is kept in ``periodic_runs``), idempotent: a
second run finds nothing new to do. None of them calls the outside world while holding the schedule's lock
longer than needed: what must be sent is planned here and sent by ``send_planned`` around its own commits.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from config.queue import PeriodicRun, enqueue, outbox_backlog, send_lease_seconds
from config.settings import Settings
from logistics.accounts.models import Role, User
from logistics.agencies.models import Agency
from logistics.notifications.deadlines import WATCHED_STATES, alert_level, leg_deadline
from logistics.notifications.models import (
    AlertLevel,
    DeadlineAlert,
    Notification,
    NotificationChannel,
    NotificationStatus,
)
from logistics.notifications.services import citizen_email, plan
from logistics.notifications.templates import MessageContext, render
from logistics.orders.models import Dossier, Leg, Order, OrderState
from logistics.webhooks.models import DeliveryStatus, WebhookDelivery
from logistics.webhooks.services import due_deliveries
from tracking.models import EventKind, ReinvitationAction, TrackingEvent
from workers.jobs.notifications import send_planned

RUNS_KEPT = timedelta(days=14)


def reconcile(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """Hand back to the workers what was not done in time: due webhook retries, sends whose worker died.

    (The outbox messages themselves are re-dispatched by the relay that runs right after this job.)
    """
    hold = timedelta(seconds=send_lease_seconds(settings))
    webhook_ids = due_deliveries(session, hold=hold, now=now)
    for delivery_id in webhook_ids:
        enqueue(session, "workers.jobs.webhooks.deliver_webhook", queue="webhooks", delivery_id=delivery_id)
    stale = session.execute(
        select(Notification.id, Notification.attempts)
        .where(Notification.status == NotificationStatus.SENDING, Notification.lease_until < now)
        .limit(500)
    ).all()
    for nid, attempts in stale:
        enqueue(session, "workers.jobs.notifications.send_notification", queue="notifications",
                dedup_key=f"resend:{nid}:{attempts}", notification_id=nid)
    return {"webhooks_due": len(webhook_ids), "notifications_resent": len(stale)}


def _dispatchers(session: Session, post_office_id: int | None) -> list[User]:
    if post_office_id is None:
        return []
    return list(session.scalars(
        select(User).where(User.role == Role.DISPATCHER, User.active.is_(True), User.post_office_id == post_office_id)
    ))


def _staff_messages(
    session: Session, users: list[User], *, key: str, template: str, subject: str, body: str, order_id: int
) -> list[int]:
    ids: list[int] = []
    for user in users:
        ids.append(plan(session, key=f"{key}:{user.id}:app", template=template, channel=NotificationChannel.APP,
                        recipient=f"user:{user.id}", subject=subject, body=body, order_id=order_id,
                        user_id=user.id).id)
        if user.phone:
            ids.append(plan(session, key=f"{key}:{user.id}:sms", template=template, channel=NotificationChannel.SMS,
                            recipient=user.phone, subject=subject, body=body, order_id=order_id,
                            user_id=user.id).id)
    return ids


def watch_deadlines(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """Flag legs at risk or late (once per level), tell their post office's dispatchers, resolve finished ones."""
    tz = settings.timezone
    today = now.astimezone(ZoneInfo(tz)).date()
    collected = (
        select(TrackingEvent.order_id, func.max(TrackingEvent.server_time).label("at"))
        .where(TrackingEvent.kind == EventKind.COLLECTED)
        .group_by(TrackingEvent.order_id)
        .subquery()
    )
    watched = sorted(WATCHED_STATES["pickup"] | WATCHED_STATES["result"])
    rows = session.execute(
        select(Order, collected.c.at, Agency.admin_unit_id)
        .join(Dossier, Dossier.id == Order.dossier_id)
        .join(Agency, Agency.id == Dossier.agency_id)
        .outerjoin(collected, collected.c.order_id == Order.id)
        .where(Order.state.in_([OrderState(s) for s in watched]))
    ).all()
    watched_ids = select(Order.id).where(Order.state.in_([OrderState(s) for s in watched]))
    existing = {(oid, AlertLevel(level)) for oid, level in session.execute(
        select(DeadlineAlert.order_id, DeadlineAlert.level).where(DeadlineAlert.order_id.in_(watched_ids))
    )}
    new_alerts: list[tuple[DeadlineAlert, Order]] = []
    for order, collected_at, agency_unit in rows:
        if str(order.state) not in WATCHED_STATES[str(order.leg)]:
            continue
        deadline = leg_deadline(
            collected_at=collected_at,
            same_commune=order.dossier.admin_unit_id == agency_unit,
            appointment_date=order.dossier.appointment_date if order.leg == Leg.RESULT else None,
            tz=tz,
        )
        if deadline is None:
            continue
        level = alert_level(deadline.due, today)
        if level is None or (order.id, level) in existing:
            continue
        alert = DeadlineAlert(order_id=order.id, level=level, due_date=deadline.due, basis=deadline.basis,
                              post_office_id=order.post_office_id, flagged_at=now)
        session.add(alert)
        new_alerts.append((alert, order))
    session.flush()
    ids: list[int] = []
    for alert, order in new_alerts:
        template = "deadline_late" if alert.level == AlertLevel.LATE else "deadline_at_risk"
        subject, body = render(template, MessageContext(
            item_code=order.item_code, applicant_name=order.dossier.applicant_name, leg=str(order.leg),
            procedure_name=order.dossier.procedure.name, agency_name=order.dossier.agency.name, occurred_at=now,
            tz=tz, due_date=alert.due_date,
        ))
        ids += _staff_messages(session, _dispatchers(session, order.post_office_id), key=f"alert:{alert.id}",
                               template=template, subject=subject, body=f"{body} Căn cứ: {alert.basis}.",
                               order_id=order.id)
    # Legs that left the watched states are done: close their alerts (on time when never late).
    open_alerts = session.execute(
        select(DeadlineAlert, Order.state, Order.leg).join(Order, Order.id == DeadlineAlert.order_id)
        .where(DeadlineAlert.resolved_at.is_(None))
    ).all()
    late_orders = {a.order_id for a, _s, _l in open_alerts if a.level == AlertLevel.LATE}
    resolved = 0
    for alert, state, leg in open_alerts:
        if str(state) not in WATCHED_STATES[str(leg)]:
            alert.resolved_at = now
            alert.resolved_on_time = alert.order_id not in late_orders
            resolved += 1
    session.commit()
    send_planned(session, settings, ids)
    return {
        "watched": len(rows),
        "at_risk": sum(1 for a, _o in new_alerts if a.level == AlertLevel.AT_RISK),
        "late": sum(1 for a, _o in new_alerts if a.level == AlertLevel.LATE),
        "resolved": resolved,
        "messages": len(ids),
    }


def send_reinvitations(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """Act on the re-invitation steps due today: invite the citizen again, or announce the return."""
    from tracking.delivery import due_reinvitations, mark_reinvitation_done  # noqa: PLC0415 - tracking's boundary

    ids: list[int] = []
    done = 0
    for step in due_reinvitations(session, now, settings.timezone):
        order = session.get(Order, step.order_id)
        if order is None or not mark_reinvitation_done(session, step.id, "notified"):
            continue
        done += 1
        dossier = order.dossier
        template = "reinvitation" if step.action == ReinvitationAction.REINVITE else "return_notice"
        subject, body = render(template, MessageContext(
            item_code=order.item_code, applicant_name=dossier.applicant_name, leg=str(order.leg),
            procedure_name=dossier.procedure.name, agency_name=dossier.agency.name, occurred_at=now,
            tz=settings.timezone, attempt=step.seq + 1, due_date=step.due_date,
        ))
        ids.append(plan(session, key=f"reinvite:{step.id}:sms", template=template, channel=NotificationChannel.SMS,
                        recipient=dossier.applicant_phone, subject=subject, body=body, order_id=order.id).id)
        email = citizen_email(session, dossier.id)
        if email:
            ids.append(plan(session, key=f"reinvite:{step.id}:email", template=template,
                            channel=NotificationChannel.EMAIL, recipient=email, subject=subject, body=body,
                            order_id=order.id).id)
        if step.action == ReinvitationAction.RETURN:
            ids += _staff_messages(session, _dispatchers(session, order.post_office_id), key=f"return:{step.id}",
                                   template=template, subject=subject, body=body, order_id=order.id)
    session.commit()
    send_planned(session, settings, ids)
    return {"steps": done, "messages": len(ids)}


def daily_report(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """Figures of the previous local day: volumes, completed legs and the on-time rate, messages, webhooks."""
    zone = ZoneInfo(settings.timezone)
    day = now.astimezone(zone).date() - timedelta(days=1)
    start = datetime.combine(day, time(0), zone)
    end = start + timedelta(days=1)

    def count_events(kind: EventKind) -> int:
        return int(session.scalar(select(func.count(TrackingEvent.id)).where(
            TrackingEvent.kind == kind, TrackingEvent.server_time >= start, TrackingEvent.server_time < end)) or 0)

    completed = set(session.scalars(select(TrackingEvent.order_id).where(
        TrackingEvent.kind.in_([EventKind.HANDED_TO_AGENCY, EventKind.DELIVERED, EventKind.DELIVERY_FAILED]),
        TrackingEvent.server_time >= start, TrackingEvent.server_time < end)))
    late = set(session.scalars(select(DeadlineAlert.order_id).where(
        DeadlineAlert.level == AlertLevel.LATE, DeadlineAlert.order_id.in_(completed)))) if completed else set()
    notes = dict(session.execute(
        select(Notification.status, func.count(Notification.id))
        .where(Notification.created_at >= start, Notification.created_at < end).group_by(Notification.status)
    ).all())
    hooks = dict(session.execute(
        select(WebhookDelivery.status, func.count(WebhookDelivery.id))
        .where(WebhookDelivery.created_at >= start, WebhookDelivery.created_at < end).group_by(WebhookDelivery.status)
    ).all())
    session.execute(delete(PeriodicRun).where(PeriodicRun.started_at < now - RUNS_KEPT,
                                              PeriodicRun.name != "daily_report"))
    return {
        "day": day.isoformat(),
        "orders_created": int(session.scalar(select(func.count(Order.id)).where(
            Order.created_at >= start, Order.created_at < end)) or 0),
        "events": int(session.scalar(select(func.count(TrackingEvent.id)).where(
            TrackingEvent.server_time >= start, TrackingEvent.server_time < end)) or 0),
        "collected": count_events(EventKind.COLLECTED),
        "handed_to_agency": count_events(EventKind.HANDED_TO_AGENCY),
        "delivered": count_events(EventKind.DELIVERED),
        "failed_attempts": count_events(EventKind.DELIVERY_FAILED),
        "legs_completed": len(completed),
        "legs_late": len(late),
        "on_time_rate": round(1 - len(late) / len(completed), 4) if completed else None,
        "notifications": {str(k): v for k, v in notes.items()},
        "webhooks": {str(k): v for k, v in hooks.items()},
        "webhooks_failed": int(hooks.get(DeliveryStatus.FAILED, 0)),
        **outbox_backlog(session, now),
    }
