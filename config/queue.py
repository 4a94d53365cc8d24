"""Work for the background workers: an outbox written in the business transaction, relayed after commit.

Services call ``enqueue(session, "workers.jobs.labels.render_label", order_id=...)`` inside their unit of
work; the row commits (or rolls back) with the change that caused it, so work is never lost and never sent
for a change that did not happen. After commit the relay hands pending rows to RQ (``REDIS_URL`` set) or,
in the embedded default, runs them in a thread of this process. Anything not done in time is picked up
again by ``relay_pending`` (called by the in-process runner's loop and by the periodic reconciler).
"""

from __future__ import annotations

import importlib
import logging
import threading
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Index, Integer, String, Text, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from config.db import Base, Database, UTCDateTime, utcnow

if TYPE_CHECKING:
    from config.settings import Settings

log = logging.getLogger(__name__)

QUEUES = ("routing", "labels", "notifications", "webhooks", "periodic")
# A dispatched message not done after this long is dispatched again (its worker died or Redis lost it).
REDISPATCH_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 10
JOB_TIMEOUT_S = 120
RESULT_TTL_S = 3600
FAILURE_TTL_S = 7 * 24 * 3600


class OutboxMessage(Base):
    """A job requested by a committed change; done when ``done_at`` is set."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "done_at", "dispatched_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(200))  # dotted path of the job function
    queue: Mapped[str] = mapped_column(String(40))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


def enqueue(session: Session, job: str, *, queue: str, dedup_key: str | None = None, **args: Any) -> None:
    """Record a job in the caller's transaction. Arguments must be JSON primitives (ids, not objects)."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; queues are {', '.join(QUEUES)}")
    if dedup_key is not None:
        existing = session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedup_key == dedup_key))
        if existing is not None:
            return
    session.add(OutboxMessage(job=job, queue=queue, args=args, dedup_key=dedup_key))


def resolve_job(path: str) -> Callable[..., Any]:
    """Import a job function by dotted path (the outbox stores names, never pickled code)."""
    module_name, _, attr = path.rpartition(".")
    if not module_name.startswith("workers.jobs."):
        raise ValueError(f"refusing to run {path!r}: jobs live under workers.jobs")
    func: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return func


def run_message(db: Database, settings: Settings, message_id: int) -> bool:
    """Run one outbox job in its own unit of work; idempotent (a done message is skipped).

    Returns True when the job ran (or had already run), False when it failed and will be retried.
    """
    with db.unit_of_work() as session:
        msg = session.get(OutboxMessage, message_id)
        if msg is None or msg.done_at is not None:
            return True
        job, args = msg.job, dict(msg.args)
    try:
        with db.unit_of_work() as session:
            resolve_job(job)(session, settings, **args)
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(done_at=utcnow(), attempts=OutboxMessage.attempts + 1, last_error=None)
            )
    except Exception:
        log.exception("outbox job %s (message %s) failed", job, message_id)
        with db.unit_of_work() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(attempts=OutboxMessage.attempts + 1, last_error=traceback.format_exc()[-4000:])
            )
        return False
    return True


def claim_pending(db: Database, *, limit: int = 100, now: datetime | None = None) -> list[OutboxMessage]:
    """Mark up to ``limit`` pending messages as dispatched and return them.

    A message is claimed by a conditional UPDATE, so two relays (two web processes, two machines) never
    dispatch the same message at the same time; a stale claim is taken over after ``REDISPATCH_AFTER``.
    """
    now = now or utcnow()
    stale = now - REDISPATCH_AFTER
    claimed: list[OutboxMessage] = []
    with db.unit_of_work() as session:
        candidates = session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.done_at.is_(None),
                OutboxMessage.attempts < MAX_ATTEMPTS,
                or_(OutboxMessage.dispatched_at.is_(None), OutboxMessage.dispatched_at < stale),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
        for msg in candidates:
            result = session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == msg.id,
                    or_(OutboxMessage.dispatched_at.is_(None), OutboxMessage.dispatched_at < stale),
                )
                .values(dispatched_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(msg)
    return claimed


class Relay:
    """Hands committed outbox messages to RQ, or runs them in a background thread (embedded mode)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._redis: Any = None

    @property
    def uses_redis(self) -> bool:
        """Whether jobs go to RQ workers (else they run in this process)."""
        return bool(self.settings.redis_url)

    def redis(self) -> Any:
        """The Redis connection (created on first use, never at import or start-up)."""
        if self._redis is None:
            from redis import Redis  # noqa: PLC0415 - only needed when Redis is configured

            self._redis = Redis.from_url(self.settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
        return self._redis

    def kick(self) -> None:
        """Called after a commit: dispatch now (RQ) or wake the in-process runner."""
        if self.uses_redis:
            try:
                self.relay_pending()
            except Exception:
                log.warning("outbox relay to Redis failed; messages stay pending", exc_info=True)
        else:
            self._wake.set()

    def relay_pending(self, limit: int = 500) -> int:
        """Dispatch pending messages; returns how many were handed over."""
        messages = claim_pending(self.db, limit=limit)
        if not messages:
            return 0
        if self.uses_redis:
            from rq import Queue, Retry  # noqa: PLC0415 - only needed when Redis is configured

            conn = self.redis()
            try:
                with conn.pipeline() as pipe:
                    for msg in messages:
                        Queue(msg.queue, connection=conn).enqueue(
                            "workers.runner.run_outbox_job",
                            msg.id,
                            job_id=f"outbox-{msg.id}",
                            job_timeout=JOB_TIMEOUT_S,
                            result_ttl=RESULT_TTL_S,
                            failure_ttl=FAILURE_TTL_S,
                            retry=Retry(max=3, interval=[10, 60, 300]),
                            pipeline=pipe,
                        )
                    pipe.execute()
            except Exception:
                # Not handed over: release the claim so the next relay (not one in five minutes) sends them.
                with self.db.unit_of_work() as session:
                    session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id.in_([m.id for m in messages]), OutboxMessage.done_at.is_(None))
                        .values(dispatched_at=None)
                    )
                raise
        else:
            for msg in messages:
                run_message(self.db, self.settings, msg.id)
        return len(messages)

    def start_inprocess(self, poll_seconds: float = 2.0) -> None:
        """Start the embedded runner thread (no Redis): jobs run here, shortly after commit."""
        if self.uses_redis or self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.is_set():
                self._wake.wait(poll_seconds)
                self._wake.clear()
                try:
                    while self.relay_pending(limit=50):
                        pass
                except Exception:
                    log.exception("in-process outbox runner failed; retrying")

        self._thread = threading.Thread(target=loop, name="outbox-runner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the embedded runner thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def status(self) -> dict[str, Any]:
        """Queue health for ``/healthz``: backend, reachability, outbox backlog and its age."""
        with self.db.unit_of_work() as session:
            pending = session.scalars(
                select(OutboxMessage.created_at).where(OutboxMessage.done_at.is_(None))
                .order_by(OutboxMessage.id).limit(1)
            ).first()
            count = len(session.scalars(
                select(OutboxMessage.id).where(OutboxMessage.done_at.is_(None)).limit(10_000)
            ).all())
        lag = (utcnow() - pending).total_seconds() if pending else 0.0
        info: dict[str, Any] = {
            "backend": "rq" if self.uses_redis else "in-process",
            "outbox_pending": count,
            "outbox_lag_seconds": round(lag, 3),
            "ok": True,
        }
        if self.uses_redis:
            try:
                self.redis().ping()
            except Exception as exc:  # noqa: BLE001 - reported, not raised: health must answer
                info.update(ok=False, error=f"redis unreachable: {exc.__class__.__name__}")
        return info
