"""The periodic schedule: reconciler, deadline watcher, re-invitations, daily report.

Each periodic job runs once per *slot* (an interval number, or a local date for the daily report):

* with Redis, every worker process runs a small scheduler thread; the first to ``SET NX`` a slot's key
  enqueues the slot's job on the ``periodic`` queue (job id ``periodic-<name>-<slot>``), so several workers
  on several machines enqueue it once. The job takes a Redis lock per name, so a slow run never overlaps
  the next one;
* without Redis, the in-process runner (``config.queue.Relay``) calls ``run_due_inprocess``;
* in both, ``periodic_runs`` has the (name, slot) primary key: a slot that ran is never run again.

(Why not ``rq cron``: RQ 3's cron scheduler enqueues with RQ's default pickle serializer whatever the
queue's, which our JSON-serializing workers cannot load; the slot key gives the same schedule, shared by
every worker instead of needing one more process.)
"""

from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from config.db import Database, utcnow
from config.queue import (
    PERIODIC_JOB,
    REDIS_KEY_PREFIX,
    PeriodicRun,
    Relay,
    resolve_job,
    rq_job_options,
    rq_queue,
)
from config.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    """One periodic job: every ``every_s`` seconds, or daily after ``daily_at`` (local time)."""

    name: str
    job: str  # a function under workers.jobs: (session, settings, now) -> summary
    every_s: int | None = None
    daily_at: time | None = None
    timeout_s: int = 300
    relay_after: bool = False  # re-dispatch the outbox after the run (the reconciler)


PERIODIC: tuple[Periodic, ...] = (
    Periodic("reconcile", "workers.jobs.periodic.reconcile", every_s=30, timeout_s=120, relay_after=True),
    Periodic("watch_deadlines", "workers.jobs.periodic.watch_deadlines", every_s=300),
    Periodic("send_reinvitations", "workers.jobs.periodic.send_reinvitations", every_s=900),
    Periodic("daily_report", "workers.jobs.periodic.daily_report", daily_at=time(0, 30), timeout_s=600),
    Periodic("purge_personal_data", "workers.jobs.retention.purge_expired_personal_data", daily_at=time(1, 30)),
)
BY_NAME = {p.name: p for p in PERIODIC}
MAX_RELAY_BATCHES = 40


def slot_for(periodic: Periodic, now: datetime, tz: str) -> str | None:
    """The slot ``now`` falls in, or None when a daily job is not due yet today."""
    if periodic.every_s:
        return str(int(now.timestamp()) // periodic.every_s)
    local = now.astimezone(ZoneInfo(tz))
    if periodic.daily_at is None or local.time() < periodic.daily_at:
        return None
    return local.date().isoformat()


def run_periodic(
    db: Database, settings: Settings, name: str, slot: str, *, now: datetime | None = None,
    relay: Relay | None = None,
) -> dict[str, Any] | None:
    """Run one slot of a periodic job; None when that slot already ran (here or on another machine)."""
    periodic = BY_NAME[name]
    now = now or utcnow()
    try:
        with db.unit_of_work() as session:
            session.add(PeriodicRun(name=name, slot=slot, started_at=now, status="running", summary={}))
    except IntegrityError:
        return None
    status = "done"
    try:
        with db.unit_of_work() as session:
            summary: dict[str, Any] = resolve_job(periodic.job)(session, settings, now)
        if periodic.relay_after:
            relay = relay or Relay(db, settings)
            relayed = 0
            for _ in range(MAX_RELAY_BATCHES):
                n = relay.relay_pending()
                relayed += n
                if n == 0:
                    break
            summary["relayed"] = relayed
    except Exception:
        log.exception("periodic job %s (slot %s) failed", name, slot)
        status, summary = "failed", {"error": traceback.format_exc()[-2000:]}
    with db.unit_of_work() as session:
        session.execute(
            update(PeriodicRun).where(PeriodicRun.name == name, PeriodicRun.slot == slot)
            .values(status=status, finished_at=utcnow(), summary=summary)
        )
    return summary


def run_locked(
    db: Database, settings: Settings, name: str, slot: str, conn: Any, *, relay: Relay | None = None
) -> dict[str, Any] | None:
    """``run_periodic`` under a Redis lock per job name: a slow run never overlaps the next slot's."""
    lock = conn.lock(f"{REDIS_KEY_PREFIX}lock:periodic:{name}", timeout=BY_NAME[name].timeout_s + 30,
                     blocking=False)
    if not lock.acquire():
        log.info("periodic job %s still running elsewhere; slot %s skipped", name, slot)
        return None
    try:
        return run_periodic(db, settings, name, slot, relay=relay)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - an expired lock is released already
            log.warning("lock of periodic job %s had expired", name)


def tick_rq(
    conn: Any, settings: Settings, now: datetime | None = None, seen: dict[str, str] | None = None
) -> list[str]:
    """Enqueue each periodic job whose new slot has begun (once across all schedulers); returns the job ids."""
    now = now or utcnow()
    enqueued: list[str] = []
    for periodic in PERIODIC:
        slot = slot_for(periodic, now, settings.timezone)
        if slot is None or (seen is not None and seen.get(periodic.name) == slot):
            continue
        key = f"{REDIS_KEY_PREFIX}periodic:{periodic.name}:{slot}"
        if conn.set(key, "1", nx=True, ex=max(periodic.every_s or 86_400, 60) * 2):
            options = rq_job_options("periodic") | {"job_timeout": periodic.timeout_s}
            job_id = f"periodic-{periodic.name}-{slot}"
            rq_queue("periodic", conn).enqueue(PERIODIC_JOB, periodic.name, slot, job_id=job_id, **options)
            enqueued.append(job_id)
        if seen is not None:
            seen[periodic.name] = slot
    return enqueued


class ScheduleThread(threading.Thread):
    """The scheduler loop of a worker process (every worker runs one; the slot keys elect the enqueuer)."""

    def __init__(self, conn: Any, settings: Settings, *, period_s: float = 1.0) -> None:
        super().__init__(name="periodic-schedule", daemon=True)
        self.conn, self.settings, self.period_s = conn, settings, period_s
        self.stop_event = threading.Event()
        self._seen: dict[str, str] = {}

    def run(self) -> None:
        """Tick until stopped; a Redis outage is logged and waited out."""
        while not self.stop_event.is_set():
            try:
                tick_rq(self.conn, self.settings, seen=self._seen)
            except Exception:
                log.warning("periodic schedule tick failed", exc_info=True)
                self._seen.clear()
            self.stop_event.wait(self.period_s)


_inprocess_seen: dict[str, str] = {}
_inprocess_locks = {p.name: threading.Lock() for p in PERIODIC}


def run_due_inprocess(db: Database, settings: Settings, now: datetime | None = None) -> list[str]:
    """Embedded mode (no Redis): run the periodic jobs whose slot began; returns their names."""
    now = now or utcnow()
    ran: list[str] = []
    for periodic in PERIODIC:
        slot = slot_for(periodic, now, settings.timezone)
        key = f"{db.url}|{periodic.name}"
        if slot is None or _inprocess_seen.get(key) == slot:
            continue
        lock = _inprocess_locks[periodic.name]
        if not lock.acquire(blocking=False):
            continue
        try:
            _inprocess_seen[key] = slot
            if run_periodic(db, settings, periodic.name, slot, now=now) is not None:
                ran.append(periodic.name)
        finally:
            lock.release()
    return ran
