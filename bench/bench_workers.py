"""Background job throughput and outbox relay lag, with real worker processes on PostgreSQL and Redis.

Run from the repository root: ``python bench/bench_workers.py [--jobs N]``. It creates its own PostgreSQL
database and starts its own redis-server on a free port (both removed afterwards), and prints:

* notification jobs/s (the citizen's SMS for a booking: load the event, render, plan, claim, send into the
  ``sms_outbox``, mark done) with 1 and 2 worker processes (``SimpleWorker``), and with 1 forking worker;
* RQ's own rate for a trivial job (``workers.runner.ping``), same worker classes, for comparison;
* the outbox relay: lag from the booking's commit to the job being in Redis (after-commit kick), and to
  the SMS being written, while bookings arrive and 2 workers run; and the reconciler's rate on a backlog.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from redis import Redis
from sqlalchemy import delete, select, update

import config.models  # noqa: F401 - every table mapped
from config.db import Database
from config.migrate import upgrade
from config.queue import OutboxMessage, Relay, rq_job_options, rq_queue
from config.settings import Settings
from logistics.agencies.models import AdminUnit, Procedure, ProcedureLevel, Scheme, UnitLevel
from logistics.agencies.refdata import load_reference_data
from logistics.notifications.models import Notification, SmsMessage
from logistics.orders.models import Channel
from tracking.services import book_pickup

ROOT = Path(__file__).resolve().parent.parent
NOTIFY = "workers.jobs.notifications.notify_event"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(tmp: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not installed")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",  # noqa: S603
                             "--dir", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            if Redis.from_url(url).ping():
                return proc, url
        except Exception:  # noqa: BLE001, S110 - not up yet
            pass
        time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def workers(settings: Settings, n: int, queues: list[str], *, fork: bool = False) -> float:
    """Run ``n`` burst worker processes until the queues are empty; seconds from spawn to the last exit."""
    env = dict(os.environ, DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url,
               DOSSIERPOST_ENV="test", LOG_LEVEL="ERROR")
    args = [sys.executable, "-m", "workers.runner", "--burst", "--no-schedule",
            *(["--fork"] if fork else []), *queues]
    start = time.perf_counter()
    procs = [subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
             for _ in range(n)]
    for p in procs:
        p.wait(timeout=600)
    return time.perf_counter() - start


def book(db: Database, n: int) -> None:
    with db.unit_of_work() as s:
        commune = s.scalars(select(AdminUnit.code).where(
            AdminUnit.scheme == Scheme.V2025, AdminUnit.level == UnitLevel.COMMUNE).order_by(AdminUnit.code)).first()
        procedure = s.scalars(select(Procedure.code).where(
            Procedure.level == ProcedureLevel.COMMUNE, Procedure.by_post.is_(True)).order_by(Procedure.code)).first()
    for i in range(n):
        with db.unit_of_work() as s:
            book_pickup(s, {
                "applicant_name": "Nguyễn Thị Hồng Nhung", "phone": "0912 345 678",
                "address": f"Số {i % 300 + 1} Lưu Tấn Tài",
                "commune_code": commune, "procedure_code": procedure, "service_form": "both", "envelopes": 1,
            }, indicator="RA", channel=Channel.API)


def reset_notifications(db: Database, limit: int | None = None) -> int:
    """Make (up to ``limit``) notification jobs pending again and forget what they sent; the rest done."""
    with db.unit_of_work() as s:
        s.execute(delete(SmsMessage))
        s.execute(delete(Notification))
        s.execute(update(OutboxMessage).values(done_at=OutboxMessage.created_at))
        ids = s.scalars(select(OutboxMessage.id).where(OutboxMessage.job == NOTIFY).order_by(OutboxMessage.id)
                        .limit(limit)).all()
        s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                  .values(done_at=None, dispatched_at=None, attempts=0))
        return len(ids)


def job_rate(
    db: Database, settings: Settings, n_workers: int, *, fork: bool = False, limit: int | None = None
) -> float:
    jobs = reset_notifications(db, limit)
    relay = Relay(db, settings)
    while relay.relay_pending():
        pass
    elapsed = workers(settings, n_workers, ["notifications"], fork=fork)
    startup = workers(settings, n_workers, ["notifications"], fork=fork)  # same start-up, empty queue
    with db.unit_of_work() as s:
        sent = len(s.scalars(select(SmsMessage.id)).all())
    if sent != jobs:
        raise SystemExit(f"{sent} SMS written for {jobs} jobs")
    return jobs / max(elapsed - startup, 1e-6)


def trivial_rate(settings: Settings, n: int, n_workers: int, *, fork: bool = False) -> float:
    conn = Redis.from_url(settings.redis_url)
    queue = rq_queue("routing", conn)
    with conn.pipeline() as pipe:
        for _ in range(n):
            queue.enqueue("workers.runner.ping", pipeline=pipe, **(rq_job_options("routing") | {"retry": None}))
        pipe.execute()
    elapsed = workers(settings, n_workers, ["routing"], fork=fork)
    startup = workers(settings, n_workers, ["routing"], fork=fork)
    return n / max(elapsed - startup, 1e-6)


def relay_lag(db: Database, settings: Settings, n: int, pace: float) -> tuple[list[float], list[float]]:
    """Book ``n`` orders, one every ``pace`` s, with 2 workers running; (commit→in Redis, commit→SMS) in ms."""
    env = dict(os.environ, DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url,
               DOSSIERPOST_ENV="test", LOG_LEVEL="ERROR")
    # Workers on the notifications queue (label rendering has its own workers in production).
    procs = [subprocess.Popen([sys.executable, "-m", "workers.runner", "--no-schedule", "notifications"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(2)]
    time.sleep(2)  # workers up
    relay = Relay(db, settings)
    db.after_commit_hooks[:] = [relay.kick]  # as in the web app
    with db.unit_of_work() as s:
        first_id = (s.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1)) or 0)
    try:
        for _ in range(n):
            book(db, 1)
            time.sleep(pace)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with db.unit_of_work() as s:
                left = s.scalars(select(OutboxMessage.id).where(
                    OutboxMessage.id > first_id, OutboxMessage.job == NOTIFY, OutboxMessage.done_at.is_(None))).all()
            if not left:
                break
            time.sleep(0.2)
    finally:
        db.after_commit_hooks[:] = []
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    with db.unit_of_work() as s:
        rows = s.execute(select(OutboxMessage.created_at, OutboxMessage.dispatched_at, OutboxMessage.done_at)
                         .where(OutboxMessage.id > first_id, OutboxMessage.job == NOTIFY)).all()
    to_redis = [(d - c).total_seconds() * 1000 for c, d, _ in rows if d]
    to_done = [(e - c).total_seconds() * 1000 for c, _, e in rows if e]
    return to_redis, to_done


def backlog_rate(db: Database, settings: Settings) -> tuple[int, float]:
    """The reconciler after an outage: hand every pending message to Redis; (messages, messages/s)."""
    jobs = reset_notifications(db)
    Redis.from_url(settings.redis_url).flushdb()
    relay = Relay(db, settings)
    start = time.perf_counter()
    while relay.relay_pending():
        pass
    return jobs, jobs / (time.perf_counter() - start)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else (values or [0.0])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=600, help="notification jobs per measurement")
    parser.add_argument("--trivial", type=int, default=2000, help="trivial RQ jobs per measurement")
    parser.add_argument("--lag-orders", type=int, default=200)
    parser.add_argument("--pace", type=float, default=0.1, help="seconds between bookings in the lag test")
    parser.add_argument("--pg-admin", default="host=127.0.0.1 port=5432 dbname=postgres user=postgres")
    parser.add_argument("--pg-db", default="dp_bench_workers")
    args = parser.parse_args()
    with psycopg.connect(args.pg_admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_db}"')
        conn.execute(f'CREATE DATABASE "{args.pg_db}" ENCODING \'UTF8\' TEMPLATE template0')
    url = f"postgresql://postgres@127.0.0.1:5432/{args.pg_db}"
    tmp = tempfile.mkdtemp()
    redis_proc, redis_url = start_redis(tmp)
    try:
        upgrade(url)
        db = Database(url)
        with db.unit_of_work() as s:
            load_reference_data(s)
        settings = Settings(env="test", database_url=url, redis_url=redis_url, inprocess_jobs=False)
        book(db, args.jobs)
        rows: list[tuple[str, str]] = []
        rows.append(("notification jobs/s, 1 worker (SimpleWorker)", f"{job_rate(db, settings, 1):.0f}"))
        rows.append(("notification jobs/s, 2 workers (SimpleWorker)", f"{job_rate(db, settings, 2):.0f}"))
        forking = job_rate(db, settings, 1, fork=True, limit=args.jobs // 4)
        rows.append(("notification jobs/s, 1 forking Worker", f"{forking:.0f}"))
        rows.append(("RQ trivial jobs/s, 1 SimpleWorker", f"{trivial_rate(settings, args.trivial, 1):.0f}"))
        rows.append(("RQ trivial jobs/s, 2 SimpleWorkers", f"{trivial_rate(settings, args.trivial, 2):.0f}"))
        rows.append(("RQ trivial jobs/s, 1 forking Worker",
                     f"{trivial_rate(settings, args.trivial // 4, 1, fork=True):.0f}"))
        n, rate = backlog_rate(db, settings)
        rows.append((f"reconciler: backlog of {n} handed to Redis, msgs/s", f"{rate:.0f}"))
        to_redis, to_done = relay_lag(db, settings, args.lag_orders, args.pace)
        rows.append(("relay lag commit → in Redis, p50 / p95 (ms)",
                     f"{pct(to_redis, 50):.1f} / {pct(to_redis, 95):.1f}"))
        rows.append((f"commit → SMS written at {1 / args.pace:.0f} bookings/s, p50 / p95 (ms)",
                     f"{pct(to_done, 50):.1f} / {pct(to_done, 95):.1f}"))
        db.dispose()
    finally:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
        with psycopg.connect(args.pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_db}" WITH (FORCE)')
    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}}  value")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
