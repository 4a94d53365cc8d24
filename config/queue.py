"""Work for the background workers: an outbox written in the business transaction, relayed after commit.

Services call ``enqueue(session, "workers.jobs.labels.render_label", queue="labels", order_id=...)`` inside
their unit of work; the row commits (or rolls back) with the change that caused it, so work is never lost and
never sent for a change that did not happen. After commit the relay hands pending rows to RQ (``REDIS_URL``
set) or, in the embedded default, runs them in a thread of this process. Anything not done in time is picked
up again by ``relay_pending`` (called by the in-process runner's loop and by the periodic reconciler).

Every RQ setting lives here: the queues (named by purpose), their timeouts, TTLs and retries, and the JSON
serializer (jobs take ids and primitives, never pickled objects).
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import JSON, Index, Integer, String, Text, bindparam, event, func, inspect, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from config.db import Base, Database, UTCDateTime, utcnow, wall_clock

if TYPE_CHECKING:
    from config.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueSpec:
    """How RQ treats the jobs of one queue."""

    name: str
    timeout_s: int  # a job running longer is killed (and retried)
    ttl_s: int  # a job waiting longer than this is dropped by RQ; the outbox re-dispatches it
    result_ttl_s: int
    failure_ttl_s: int
    retry_intervals: tuple[int, ...]  # RQ Retry: one delay per retry, growing (exponential backoff)


_DAY = 24 * 3600
QUEUE_SPECS: dict[str, QueueSpec] = {
    spec.name: spec
    for spec in (
        QueueSpec("routing", timeout_s=60, ttl_s=_DAY, result_ttl_s=600, failure_ttl_s=7 * _DAY,
                  retry_intervals=(5, 30, 120)),
        QueueSpec("labels", timeout_s=120, ttl_s=_DAY, result_ttl_s=600, failure_ttl_s=7 * _DAY,
                  retry_intervals=(10, 60, 300)),
        QueueSpec("notifications", timeout_s=60, ttl_s=_DAY, result_ttl_s=300, failure_ttl_s=7 * _DAY,
                  retry_intervals=(10, 60, 300, 900)),
        # Webhook deliveries schedule their own retries (logistics.webhooks); RQ retries cover crashes only.
        QueueSpec("webhooks", timeout_s=60, ttl_s=_DAY, result_ttl_s=300, failure_ttl_s=7 * _DAY,
                  retry_intervals=(10, 60)),
        QueueSpec("periodic", timeout_s=600, ttl_s=3600, result_ttl_s=3600, failure_ttl_s=7 * _DAY,
                  retry_intervals=()),
    )
}
QUEUES = tuple(QUEUE_SPECS)
KICK_LIMIT = 100  # messages an after-commit kick hands over; the reconciler takes any backlog
MAX_ATTEMPTS = 10  # after this many failed runs a message stops being re-sent; the operator page shows it
# Default for Settings.outbox_redispatch_seconds: a dispatched message not done after this long is dispatched
# again (its worker died, or Redis lost it).
REDISPATCH_AFTER = timedelta(minutes=5)
OUTBOX_JOB = "workers.runner.run_outbox_job"
PERIODIC_JOB = "workers.runner.run_periodic_job"
REDIS_KEY_PREFIX = "dossierpost:"


def json_serializer() -> Any:
    """RQ's JSON serializer: job arguments must be primitives (ids), which is what the outbox stores."""
    from rq.serializers import JSONSerializer  # noqa: PLC0415 - RQ is only needed when Redis is configured

    return JSONSerializer


def rq_queue(name: str, connection: Any) -> Any:
    """The RQ queue ``name`` with the system's serializer."""
    from rq import Queue  # noqa: PLC0415

    if name not in QUEUE_SPECS:
        raise ValueError(f"unknown queue {name!r}; queues are {', '.join(QUEUES)}")
    return Queue(name, connection=connection, serializer=json_serializer())


def rq_job_options(queue: str) -> dict[str, Any]:
    """``Queue.enqueue`` options (timeouts, TTLs, Retry) for a job on ``queue``."""
    from rq import Retry  # noqa: PLC0415

    spec = QUEUE_SPECS[queue]
    options: dict[str, Any] = {
        "job_timeout": spec.timeout_s,
        "ttl": spec.ttl_s,
        "result_ttl": spec.result_ttl_s,
        "failure_ttl": spec.failure_ttl_s,
    }
    if spec.retry_intervals:
        options["retry"] = Retry(max=len(spec.retry_intervals), interval=list(spec.retry_intervals))
    return options


def send_lease_seconds(settings: Settings) -> float:
    """How long a claimed send (SMS, e-mail, webhook) is reserved for the worker that claimed it.

    Longer than any single send may take (each has its own network timeout), so two workers never send the
    same message at once; short enough that a send whose worker died is retried soon.
    """
    return max(settings.webhook_timeout_seconds + 5, settings.outbox_redispatch_seconds / 5)


class OutboxMessage(Base):
    """A job requested by a committed change; done when ``done_at`` is set."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "done_at", "dispatched_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(200))  # dotted path of the job function
    queue: Mapped[str] = mapped_column(String(40))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # The machine's time even when demo data is played at past times: the relay's lag is real.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=wall_clock)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class PeriodicRun(Base):
    """One run of a periodic job for one time slot: the slot's primary key makes each slot run once."""

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    slot: Mapped[str] = mapped_column(String(40), primary_key=True)  # e.g. interval number, or a local date
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default="running")  # running, done, failed
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# Engines (by URL) whose sessions committed new outbox rows since the last relay: the after-commit kick only
# queries the outbox when there is something new, so requests that enqueue nothing cost nothing extra.
_fresh_work: set[str] = set()
_fresh_lock = threading.Lock()


@event.listens_for(Session, "after_commit")
def _note_fresh_work(session: Session) -> None:
    fresh = session.info.pop("outbox_fresh", False)
    born = [m for m in session.info.pop(_BORN, ()) if inspect(m).persistent]  # savepoints may have undone some
    if fresh or born:
        url = str(session.get_bind().engine.url)
        with _fresh_lock:
            if fresh:
                _fresh_work.add(url)
            _born_work.setdefault(url, []).extend(Claimed(m.id, m.queue) for m in born)


@event.listens_for(Session, "after_rollback")
def _forget_fresh_work(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop("outbox_fresh", None)
        session.info.pop(_BORN, None)


# Sessions whose commits are handed to RQ by this process's dispatcher (the web app's requests, when Redis is
# configured: ``Relay.claims_at_birth``) write their outbox rows already claimed (``dispatched_at`` set). After
# commit the dispatcher pushes exactly those rows, without a claim statement; should the process die first,
# the reconciler sends them once the claim is stale, as for any claim whose relay died.
BORN_CLAIMED = "outbox_born_claimed"  # session.info flag
_BORN = "outbox_born"  # session.info: the messages this transaction added, born claimed
_born_work: dict[str, list[Claimed]] = {}  # by engine URL: committed, born claimed, not yet pushed


def enqueue(session: Session, job: str, *, queue: str, dedup_key: str | None = None, **args: Any) -> None:
    """Record a job in the caller's transaction. Arguments must be JSON primitives (ids, not objects)."""
    enqueue_many(session, job, queue=queue, messages=[(dedup_key, args)])


def enqueue_many(session: Session, job: str, *, queue: str,
                 messages: Sequence[tuple[str | None, dict[str, Any]]]) -> int:
    """Record jobs of one kind in the caller's transaction: ``(dedup_key or None, arguments)`` each.

    A message whose dedup key is already in the outbox (or earlier in ``messages``) is skipped; the keys are
    checked in one query per 500, so a bulk intake does not pay a round trip per message. Returns how many
    messages were added.
    """
    if queue not in QUEUE_SPECS:
        raise ValueError(f"unknown queue {queue!r}; queues are {', '.join(QUEUES)}")
    born = bool(session.info.get(BORN_CLAIMED))
    keys = sorted({key for key, _ in messages if key is not None})
    known: set[str | None] = set()
    for start in range(0, len(keys), 500):
        known.update(session.scalars(
            select(OutboxMessage.dedup_key).where(OutboxMessage.dedup_key.in_(keys[start:start + 500]))))
    added = 0
    for key, args in messages:
        if key is not None:
            if key in known:
                continue
            known.add(key)
        message = OutboxMessage(job=job, queue=queue, args=args, dedup_key=key)
        if born:
            message.dispatched_at = wall_clock()
            session.info.setdefault(_BORN, []).append(message)
        session.add(message)
        added += 1
    if added and not born:
        session.info["outbox_fresh"] = True
    return added


def resolve_job(path: str) -> Callable[..., Any]:
    """Import a job function by dotted path (the outbox stores names, never pickled code)."""
    module_name, _, attr = path.rpartition(".")
    if not module_name.startswith("workers.jobs."):
        raise ValueError(f"refusing to run {path!r}: jobs live under workers.jobs")
    func_: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return func_


def run_message(db: Database, settings: Settings, message_id: int) -> bool:
    """Run one outbox job in its own unit of work; idempotent (a done message is skipped).

    Returns True when the job ran (or had already run), False when it failed and will be retried.
    """
    job = "?"
    try:
        with db.unit_of_work() as session:
            msg = session.get(OutboxMessage, message_id)
            if msg is None or msg.done_at is not None:
                return True
            job = msg.job
            resolve_job(job)(session, settings, **dict(msg.args))
            # A Core UPDATE of the table: the ORM-enabled form costs ~0.2 ms more on every job (bench_workers).
            outbox = OutboxMessage.__table__.c
            session.execute(
                update(OutboxMessage.__table__)  # type: ignore[arg-type]
                .where(outbox.id == message_id)
                .values(done_at=utcnow(), attempts=outbox.attempts + 1, last_error=None)
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


def run_pending(db: Database, settings: Settings, *, queue: str | None = None) -> int:
    """Run the pending outbox messages (of ``queue``) in this process now, whatever the backend; how many ran.

    For commands that must leave their consequences done when they return (``seed --demo`` renders the demo's
    labels before the server starts). Jobs are idempotent: a relay or worker handed the same message later
    finds it done and skips it.
    """
    with db.unit_of_work() as session:
        query = select(OutboxMessage.id).where(OutboxMessage.done_at.is_(None), OutboxMessage.attempts < MAX_ATTEMPTS)
        if queue is not None:
            query = query.where(OutboxMessage.queue == queue)
        ids = list(session.scalars(query.order_by(OutboxMessage.id)))
    return sum(1 for message_id in ids if run_message(db, settings, message_id))


@dataclass(frozen=True)
class Claimed:
    """A message a relay claimed: what it needs to hand it over."""

    id: int
    queue: str


def claim_pending(
    db: Database, *, limit: int = 100, now: datetime | None = None, stale_after: timedelta = REDISPATCH_AFTER
) -> list[Claimed]:
    """Mark up to ``limit`` pending messages as dispatched and return them (id and queue).

    A message is claimed by a conditional UPDATE, so two relays (two web processes, two machines) never
    dispatch the same message at the same time; a stale claim is taken over after ``stale_after``.
    """
    now = now or utcnow()
    with db.engine.begin() as conn:
        rows = conn.execute(_CLAIM, {"now": now, "stale": now - stale_after, "limit": limit}).all()
    return sorted((Claimed(int(r.id), str(r.queue)) for r in rows), key=lambda m: m.id)


def _claim_statement() -> Any:
    """The claim, built once (it runs after every commit that enqueued work; rebuilding it cost more than it).

    One statement picks and claims. The outer condition is checked again row by row, so a row another relay
    claimed meanwhile is skipped; on PostgreSQL, rows another relay is claiming right now are passed over
    (SKIP LOCKED) instead of waited for. SQLite has one writer at a time and no row locks. On the table, not the
    ORM: the relay never uses ORM objects.
    """
    outbox = OutboxMessage.__table__.c
    claimable = (
        outbox.done_at.is_(None),
        outbox.attempts < MAX_ATTEMPTS,
        or_(outbox.dispatched_at.is_(None), outbox.dispatched_at < bindparam("stale", type_=UTCDateTime())),
    )
    candidates = (select(outbox.id).where(*claimable).order_by(outbox.id).limit(bindparam("limit"))
                  .with_for_update(skip_locked=True))
    return (update(OutboxMessage.__table__).where(outbox.id.in_(candidates), *claimable)  # type: ignore[arg-type]
            .values(dispatched_at=bindparam("now", type_=UTCDateTime())).returning(outbox.id, outbox.queue))


_CLAIM: Final = _claim_statement()


def dead_messages(session: Session, *, limit: int = 100) -> list[OutboxMessage]:
    """Messages that failed ``MAX_ATTEMPTS`` times and are no longer re-sent (shown to operators)."""
    return list(session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.done_at.is_(None), OutboxMessage.attempts >= MAX_ATTEMPTS)
        .order_by(OutboxMessage.id.desc()).limit(limit)
    ))


def retry_message(session: Session, message_id: int) -> bool:
    """Give a failed message a fresh set of attempts; the next relay dispatches it."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.done_at.is_(None))
        .values(attempts=0, dispatched_at=None)
    )
    session.info["outbox_fresh"] = True
    return bool(result.rowcount)  # type: ignore[attr-defined]


def discard_message(session: Session, message_id: int, *, by: str) -> bool:
    """Give up on a message (it is closed, with who discarded it in its error text)."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.done_at.is_(None))
        .values(done_at=utcnow(), last_error=func.coalesce(OutboxMessage.last_error, "") + f"\n[discarded by {by}]")
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def outbox_backlog(session: Session, now: datetime | None = None) -> dict[str, Any]:
    """Pending messages and the age of the oldest (the relay lag)."""
    now = now or utcnow()
    count, oldest = session.execute(
        select(func.count(OutboxMessage.id), func.min(OutboxMessage.created_at))
        .where(OutboxMessage.done_at.is_(None), OutboxMessage.attempts < MAX_ATTEMPTS)
    ).one()
    dead = session.scalar(
        select(func.count(OutboxMessage.id))
        .where(OutboxMessage.done_at.is_(None), OutboxMessage.attempts >= MAX_ATTEMPTS)
    )
    if isinstance(oldest, str):  # defensive: a driver that hands MIN() back as text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    lag = (now - oldest).total_seconds() if oldest is not None else 0.0
    return {"outbox_pending": int(count), "outbox_dead": int(dead or 0), "outbox_lag_seconds": round(lag, 3)}


class Relay:
    """Hands committed outbox messages to RQ, or runs them in a background thread (embedded mode).

    With Redis, an after-commit ``kick`` either hands the new messages over at once, in the committing thread
    (``background=False``: workers and commands, whose process may end right after), or wakes this process's
    dispatcher thread (``background=True``: the web app). The dispatcher pushes what the requests' commits
    wrote already claimed (``claims_at_birth``: no claim statement at all), claims anything else pending in
    one statement, and pushes in one Redis pipeline, so no request waits for Redis. A message claimed but not
    handed over (the process died) is dispatched again by the reconciler once its claim is stale.
    """

    def __init__(self, db: Database, settings: Settings, *, background: bool = False) -> None:
        self.db = db
        self.settings = settings
        self.background = background
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._redis: Any = None
        self._queues: dict[int, dict[str, Any]] = {}
        self._pending: list[Claimed] = []  # for the dispatcher: born-claimed messages to push
        self._claim_needed = False  # for the dispatcher: unclaimed work was committed
        self._pending_lock = threading.Lock()
        # After Redis refused a push, after-commit kicks leave the work to the reconciler for a while instead
        # of claiming and releasing the same backlog on every commit.
        self._down_until = 0.0
        self._down_for = 0.0

    @property
    def uses_redis(self) -> bool:
        """Whether jobs go to RQ workers (else they run in this process)."""
        return bool(self.settings.redis_url)

    @property
    def claims_at_birth(self) -> bool:
        """Whether sessions committed in this process may write their outbox rows already claimed for it.

        Only with a dispatcher thread to push them: then the web app's request sessions set ``BORN_CLAIMED``.
        """
        return self.background and self.uses_redis

    @property
    def stale_after(self) -> timedelta:
        """A dispatched message not done after this long is dispatched again."""
        return timedelta(seconds=self.settings.outbox_redispatch_seconds)

    def _after_fork(self) -> None:
        # A forked process (a gunicorn worker) inherits neither the parent's threads nor a usable Redis socket.
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._redis = None
            self._thread = None
            self._wake = threading.Event()
            self._stop = threading.Event()
            self._pending, self._claim_needed, self._pending_lock = [], False, threading.Lock()

    def redis(self) -> Any:
        """The Redis connection (created on first use, never at import or start-up)."""
        self._after_fork()
        if self._redis is None:
            from redis import Redis  # noqa: PLC0415 - only needed when Redis is configured

            self._redis = Redis.from_url(self.settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
        return self._redis

    def _rq_queue(self, name: str) -> Any:
        """The RQ queue ``name`` on the relay's connection, made once per process (not per message)."""
        conn = self.redis()
        queues: dict[str, Any] = self._queues.get(id(conn)) or {}
        self._queues = {id(conn): queues}
        if name not in queues:
            queues[name] = rq_queue(name, conn)
        return queues[name]

    def kick(self) -> None:
        """Called after a commit: dispatch (now, or by the dispatcher thread), or wake the in-process runner."""
        url = str(self.db.engine.url)
        with _fresh_lock:
            fresh = url in _fresh_work
            _fresh_work.discard(url)
            born = _born_work.pop(url, []) if self.uses_redis else []
        if not fresh and not born:
            return
        if not self.uses_redis:
            self._wake.set()
        elif self.background:
            self._start_dispatcher()
            with self._pending_lock:
                self._pending.extend(born)
                self._claim_needed = self._claim_needed or fresh
            self._wake.set()
        else:
            self._dispatch(born, claim=fresh)

    def _dispatch(self, born: Sequence[Claimed], *, claim: bool) -> None:
        """Push the born-claimed messages, then claim and push what else is pending (when ``claim``).

        Unless Redis failed a moment ago: then the born-claimed ones are released for the reconciler. Logs,
        never raises, on failure.
        """
        if not self.uses_redis:
            return
        try:
            if time.monotonic() < self._down_until:
                if born:
                    self._release(born)
                return
            if born:
                self._push(born)
            while claim and self.relay_pending(limit=KICK_LIMIT) == KICK_LIMIT:
                pass
        except Exception:
            self._down_for = min(max(1.0, self._down_for * 2), 30.0)
            self._down_until = time.monotonic() + self._down_for
            log.warning("outbox relay to Redis failed; messages stay pending (next try in %.0fs)",
                        self._down_for, exc_info=True)
        else:
            self._down_for = 0.0

    def _start_dispatcher(self) -> None:
        self._after_fork()
        if self._thread is not None:
            return
        with _fresh_lock:
            if self._thread is not None:
                return
            wake, stop = self._wake, self._stop

            def loop() -> None:
                while not stop.is_set():
                    wake.wait()  # only a kick (or stop) wakes it: the reconciler owns periodic re-sends
                    wake.clear()
                    with self._pending_lock:
                        born, claim = self._pending, self._claim_needed
                        self._pending, self._claim_needed = [], False
                    self._dispatch(born, claim=claim)

            self._thread = threading.Thread(target=loop, name="outbox-dispatcher", daemon=True)
            self._thread.start()
            atexit.register(self.stop)

    def relay_pending(self, limit: int = 500) -> int:
        """Dispatch pending messages; returns how many were handed over."""
        messages = claim_pending(self.db, limit=limit, stale_after=self.stale_after)
        if not messages:
            return 0
        if self.uses_redis:
            self._push(messages)
        else:
            for msg in messages:
                run_message(self.db, self.settings, msg.id)
        return len(messages)

    def _push(self, messages: Sequence[Claimed]) -> None:
        """Hand claimed messages to RQ in one pipeline; on failure release them, then raise."""
        try:
            with self.redis().pipeline() as pipe:
                for msg in messages:
                    queue = msg.queue if msg.queue in QUEUE_SPECS else "routing"
                    self._rq_queue(queue).enqueue(
                        OUTBOX_JOB, msg.id, job_id=f"outbox-{msg.id}", pipeline=pipe, **rq_job_options(queue)
                    )
                pipe.execute()
        except Exception:
            self._release(messages)
            raise

    def _release(self, messages: Sequence[Claimed]) -> None:
        """Not handed over: release the claims so the next relay (not one in five minutes) sends them."""
        with self.db.unit_of_work() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([m.id for m in messages]), OutboxMessage.done_at.is_(None))
                .values(dispatched_at=None)
            )

    def start_inprocess(self, poll_seconds: float = 2.0) -> None:
        """Start the embedded runner thread (no Redis): jobs run here, shortly after commit.

        The same loop runs the periodic jobs (``workers.schedule``, named like jobs are: by module path).
        """
        if self.uses_redis or self._thread is not None:
            return

        def loop() -> None:
            schedule = importlib.import_module("workers.schedule")
            while not self._stop.is_set():
                self._wake.wait(poll_seconds)
                self._wake.clear()
                try:
                    while self.relay_pending(limit=50):
                        pass
                    schedule.run_due_inprocess(self.db, self.settings)
                except Exception:
                    log.exception("in-process outbox runner failed; retrying")

        self._thread = threading.Thread(target=loop, name="outbox-runner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop this process's background thread: the embedded runner, or the dispatcher after a last round."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def queue_lengths(self) -> dict[str, dict[str, Any]]:
        """Per RQ queue: waiting jobs, started, failed, scheduled, and the wait of the oldest (its lag)."""
        from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry  # noqa: PLC0415

        conn = self.redis()
        out: dict[str, dict[str, Any]] = {}
        now = utcnow()
        for name in QUEUES:
            queue = rq_queue(name, conn)
            lag = 0.0
            first = queue.get_job_ids(0, 0)
            if first:
                job = queue.fetch_job(first[0])
                if job is not None and job.enqueued_at is not None:
                    enq = job.enqueued_at
                    lag = max(0.0, (now - (enq if enq.tzinfo else enq.replace(tzinfo=now.tzinfo))).total_seconds())
            out[name] = {
                "queued": queue.count,
                "started": StartedJobRegistry(queue=queue).count,
                "failed": FailedJobRegistry(queue=queue).count,
                "scheduled": ScheduledJobRegistry(queue=queue).count,  # type: ignore[no-untyped-call]
                "lag_seconds": round(lag, 3),
            }
        return out

    def status(self, session: Session | None = None) -> dict[str, Any]:
        """Queue health for ``/healthz``: backend, reachability, outbox backlog and lag, RQ queue lag.

        Pass the request's ``session`` when there is one (on SQLite a second connection would wait for it).
        """
        info: dict[str, Any] = {"backend": "rq" if self.uses_redis else "in-process", "ok": True}
        if session is not None:
            info.update(outbox_backlog(session))
        else:
            with self.db.unit_of_work() as own:
                info.update(outbox_backlog(own))
        info["lag_seconds"] = info["outbox_lag_seconds"]
        if self.uses_redis:
            try:
                queues = self.queue_lengths()
            except Exception as exc:  # noqa: BLE001 - reported, not raised: health must answer
                info.update(ok=False, error=f"redis unreachable: {exc.__class__.__name__}")
            else:
                info["queues"] = queues
                info["lag_seconds"] = max([info["outbox_lag_seconds"], *(q["lag_seconds"] for q in queues.values())])
        return info
