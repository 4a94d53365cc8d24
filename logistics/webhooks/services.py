"""Subscriptions, deliveries with exponential backoff, pausing after a failure streak, replay.

A delivery is tried by one worker at a time: ``claim_delivery`` (a conditional UPDATE with a lease) commits
before the HTTP call and ``record_attempt`` after it. Failed tries are rescheduled with exponential backoff;
``due_deliveries`` (called by the periodic reconciler) hands the due ones back to the workers. After
``pause_after`` failures in a row the subscription is paused: nothing more is sent until an operator replays
it, which re-sends everything it missed, oldest first.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlparse

from sqlalchemy import ColumnElement, Exists, and_, event, exists, or_, select, update
from sqlalchemy.orm import Session, SessionTransaction

from config.db import utcnow
from logistics.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription
from logistics.webhooks.signing import (
    DELIVERY_ID_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)

MAX_BACKOFF: Final = timedelta(hours=6)
USER_AGENT: Final = "DossierPost-Webhooks/1"


class WebhookError(ValueError):
    """A subscription request that cannot be accepted."""


@dataclass(frozen=True)
class RetryPolicy:
    """How failures are retried (from the settings)."""

    backoff_s: float = 30.0
    max_attempts: int = 8
    pause_after: int = 5

    def delay(self, attempt_no: int) -> timedelta:
        """Wait before the try after ``attempt_no`` failed ones: base, 2×base, 4×base… capped at 6 hours."""
        return min(timedelta(seconds=self.backoff_s * 2 ** max(0, attempt_no - 1)), MAX_BACKOFF)


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP try gave."""

    ok: bool
    status_code: int | None
    duration_ms: int
    error: str | None = None
    excerpt: str | None = None


def create_subscription(
    session: Session,
    *,
    name: str,
    url: str,
    agency_id: int | None = None,
    event_kinds: list[str] | None = None,
    secret: str | None = None,
) -> WebhookSubscription:
    """Subscribe ``url`` to the events of ``agency_id``'s dossiers (all agencies when None)."""
    parsed = _checked_url(url)
    sub = WebhookSubscription(
        name=name.strip()[:200] or parsed.hostname, url=url, agency_id=agency_id,
        event_kinds=sorted(set(event_kinds or [])), secret=secret or secrets.token_hex(32),
        active=True, failure_streak=0,
    )
    session.add(sub)
    session.flush()
    return sub


def _checked_url(url: str) -> Any:
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise WebhookError(f"URL webhook phải là http(s)://…, không phải {url!r}")
    return parsed


def update_subscription(
    session: Session,
    sub: WebhookSubscription,
    *,
    name: str | None = None,
    url: str | None = None,
    event_kinds: list[str] | None = None,
) -> WebhookSubscription:
    """Change what is given (None: unchanged); later deliveries go to the new URL, signed with the same secret."""
    if url is not None:
        _checked_url(url)
        sub.url = url
    if name is not None and name.strip():
        sub.name = name.strip()[:200]
    if event_kinds is not None:
        sub.event_kinds = sorted(set(event_kinds))
    session.flush()
    return sub


def unsubscribe(session: Session, sub: WebhookSubscription) -> None:
    """Stop a subscription for good: nothing more is created or sent (waiting deliveries included).

    The row stays, inactive, so the delivery log keeps saying where each attempt went.
    """
    sub.active = False
    session.flush()


def _matching(agency_id: int | ColumnElement[int] | None) -> Any:
    return and_(
        WebhookSubscription.active.is_(True),
        or_(WebhookSubscription.agency_id.is_(None), WebhookSubscription.agency_id == agency_id),
    )


def has_subscribers(session: Session, agency_id: int | None) -> bool:
    """Whether any subscription (paused ones included: they get the event on replay) wants this agency's events.

    Answered once per agency per transaction (an import or a scan batch records many events for few agencies).
    """
    cache: dict[int | None, bool] = session.info.setdefault(_SUBSCRIBERS_CACHE, {})
    if agency_id not in cache:
        cache[agency_id] = session.scalar(
            select(WebhookSubscription.id).where(_matching(agency_id)).limit(1)) is not None
    return cache[agency_id]


_SUBSCRIBERS_CACHE: Final = "webhooks.has_subscribers"


def subscribers_exist(agency_id: ColumnElement[int]) -> Exists:
    """``has_subscribers`` as an EXISTS over a column, for a statement that reads the event's order anyway."""
    return exists().where(_matching(agency_id))


def remember_subscribers(session: Session, agency_id: int | None, answer: bool) -> None:
    """Record what ``subscribers_exist`` answered, for ``has_subscribers`` in this transaction."""
    session.info.setdefault(_SUBSCRIBERS_CACHE, {})[agency_id] = answer


@event.listens_for(Session, "after_transaction_end")
def _forget_subscribers(session: Session, transaction: SessionTransaction) -> None:
    # The answer is kept for one transaction only: a subscription created later must never be missed (a
    # transaction object's id() can be reused, so the cache is dropped rather than keyed by it).
    if transaction.parent is None:
        session.info.pop(_SUBSCRIBERS_CACHE, None)


def create_deliveries(
    session: Session,
    *,
    event_id: int,
    event_kind: str,
    order_id: int | None,
    agency_id: int | None,
    payload: dict[str, Any],
    first_try_at: datetime | None = None,
) -> list[WebhookDelivery]:
    """One delivery per matching subscription (idempotent: existing deliveries of the event are kept)."""
    subs = session.scalars(select(WebhookSubscription).where(_matching(agency_id)).order_by(WebhookSubscription.id))
    existing = {
        d.subscription_id: d
        for d in session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id == event_id))
    }
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    out: list[WebhookDelivery] = []
    for sub in subs:
        if sub.event_kinds and event_kind not in sub.event_kinds:
            continue
        delivery = existing.get(sub.id)
        if delivery is None:
            delivery = WebhookDelivery(
                subscription_id=sub.id, event_id=event_id, event_kind=event_kind, order_id=order_id, body=body,
                status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=first_try_at or utcnow(),
            )
            session.add(delivery)
        out.append(delivery)
    session.flush()
    return out


def claim_delivery(session: Session, delivery_id: int, *, lease: timedelta, now: datetime | None = None) -> bool:
    """Reserve a delivery for one try; False when it is done, being tried elsewhere, or its subscription paused."""
    now = now or utcnow()
    live = select(WebhookSubscription.id).where(
        WebhookSubscription.id == WebhookDelivery.subscription_id,
        WebhookSubscription.active.is_(True),
        WebhookSubscription.paused_at.is_(None),
    ).exists()
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            live,
            or_(
                WebhookDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.RETRYING]),
                (WebhookDelivery.status == DeliveryStatus.SENDING) & (WebhookDelivery.lease_until < now),
            ),
        )
        .values(status=DeliveryStatus.SENDING, lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        # A redirect is answered as a failure: a signed POST must not be replayed to another address.
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def post(delivery: WebhookDelivery, *, timeout: float, now: datetime | None = None) -> AttemptResult:
    """POST the delivery's body, signed now, to its subscription's URL (2xx = delivered)."""
    sub = delivery.subscription
    body = delivery.body.encode()
    timestamp = int((now or utcnow()).timestamp())
    request = urllib.request.Request(  # noqa: S310 - URL scheme checked (http/https) at subscription
        sub.url, data=body, method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature_header(sub.secret, timestamp, body),
            EVENT_ID_HEADER: str(delivery.event_id),
            DELIVERY_ID_HEADER: str(delivery.id),
            EVENT_TYPE_HEADER: f"dossier.{delivery.event_kind}",
        },
    )
    started = time.perf_counter()
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            excerpt = response.read(500).decode(errors="replace")
            code = int(response.status)
    except urllib.error.HTTPError as exc:
        excerpt = exc.read(500).decode(errors="replace") if exc.fp else ""
        return AttemptResult(ok=False, status_code=exc.code, duration_ms=_ms(started), error=f"HTTP {exc.code}",
                             excerpt=excerpt)
    except (OSError, ValueError) as exc:  # refused, reset, timeout, bad URL
        return AttemptResult(ok=False, status_code=None, duration_ms=_ms(started),
                             error=f"{exc.__class__.__name__}: {exc}"[:500])
    ok = 200 <= code < 300  # noqa: PLR2004 - HTTP success class
    return AttemptResult(ok=ok, status_code=code, duration_ms=_ms(started), error=None if ok else f"HTTP {code}",
                         excerpt=excerpt)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def record_attempt(
    session: Session, delivery_id: int, result: AttemptResult, policy: RetryPolicy, *, now: datetime | None = None
) -> DeliveryStatus:
    """Log a try and move the delivery on: succeeded, retrying later, or failed for good; pause on a streak."""
    now = now or utcnow()
    delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
    if delivery is None:
        raise LookupError(f"webhook delivery {delivery_id} vanished")
    sub = session.get(WebhookSubscription, delivery.subscription_id, populate_existing=True)
    assert sub is not None  # noqa: S101 - foreign key
    delivery.attempts += 1
    session.add(WebhookAttempt(
        delivery_id=delivery.id, attempt_no=delivery.attempts, started_at=now, duration_ms=result.duration_ms,
        status_code=result.status_code, ok=result.ok, error=result.error, response_excerpt=result.excerpt,
    ))
    delivery.last_status_code, delivery.last_error, delivery.lease_until = result.status_code, result.error, None
    if result.ok:
        delivery.status, delivery.delivered_at = DeliveryStatus.SUCCEEDED, now
        sub.failure_streak = 0
    else:
        sub.failure_streak += 1
        if delivery.attempts >= policy.max_attempts:
            delivery.status = DeliveryStatus.FAILED
        else:
            delivery.status = DeliveryStatus.RETRYING
            delivery.next_attempt_at = now + policy.delay(delivery.attempts)
        if sub.failure_streak >= policy.pause_after and sub.paused_at is None:
            sub.paused_at = now
            sub.pause_reason = (f"{sub.failure_streak} lần gửi lỗi liên tiếp; lỗi cuối: {result.error}")[:1000]
    session.flush()
    return delivery.status


def due_deliveries(session: Session, *, hold: timedelta, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Deliveries whose next try is due (or whose worker died mid-try), of live subscriptions.

    Their next try is pushed ``hold`` ahead while a worker takes them, so the next sweep does not hand them
    out again.
    """
    now = now or utcnow()
    live_subs = select(WebhookSubscription.id).where(
        WebhookSubscription.active.is_(True), WebhookSubscription.paused_at.is_(None)
    )
    ids = list(session.scalars(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.subscription_id.in_(live_subs),
            or_(
                and_(WebhookDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.RETRYING]),
                     WebhookDelivery.next_attempt_at <= now),
                and_(WebhookDelivery.status == DeliveryStatus.SENDING, WebhookDelivery.lease_until < now),
            ),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    ))
    if ids:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids), WebhookDelivery.status != DeliveryStatus.SENDING)
            .values(next_attempt_at=now + hold)
            .execution_options(synchronize_session=False)
        )
    return ids


def pause(session: Session, subscription_id: int, reason: str) -> None:
    """Stop sending to a subscription (deliveries wait for the replay)."""
    sub = session.get(WebhookSubscription, subscription_id)
    if sub is not None and sub.paused_at is None:
        sub.paused_at, sub.pause_reason = utcnow(), reason[:1000]


def replay_subscription(session: Session, subscription_id: int, *, now: datetime | None = None) -> list[int]:
    """Resume a subscription and re-send everything not delivered (failed ones get fresh attempts).

    Returns the delivery ids to hand to the workers, oldest first.
    """
    now = now or utcnow()
    sub = session.get(WebhookSubscription, subscription_id)
    if sub is None:
        raise WebhookError(f"không có đăng ký webhook {subscription_id}")
    sub.paused_at, sub.pause_reason, sub.failure_streak = None, None, 0
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id,
               WebhookDelivery.status.in_([DeliveryStatus.RETRYING, DeliveryStatus.FAILED, DeliveryStatus.PENDING]))
        .values(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return list(session.scalars(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.subscription_id == subscription_id, WebhookDelivery.status == DeliveryStatus.PENDING)
        .order_by(WebhookDelivery.id)
    ))


def replay_delivery(session: Session, delivery_id: int, *, now: datetime | None = None) -> bool:
    """Send one delivery again, even a succeeded one (the receiver asked for it); False when it is in flight."""
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status != DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def subscriptions(session: Session) -> list[WebhookSubscription]:
    """Every live subscription (operator page); unsubscribed ones are gone from it, their log stays."""
    return list(session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.active.is_(True)).order_by(WebhookSubscription.id)))


def recent_deliveries(
    session: Session, *, subscription_id: int | None = None, limit: int = 50
) -> list[WebhookDelivery]:
    """The delivery log, newest first."""
    query = select(WebhookDelivery)
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    return list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)))
