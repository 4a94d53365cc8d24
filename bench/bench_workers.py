"""Background job throughput and outbox relay lag, with real worker processes on PostgreSQL and Redis.

Run from the repository root: ``python bench/bench_workers.py [--quick] [--jobs N] [--repeat R]``. It creates
its own PostgreSQL database and starts its own redis-server on a free port (both removed afterwards).

How throughput is measured (fair to 1 and 2 workers on a small machine): the whole backlog is handed to Redis
*before* any worker starts, so no load generator competes for the cores while jobs run; then N burst worker
processes drain it. From RQ's own per-job timestamps (``started_at``/``ended_at``, and which worker ran it)
come the drain time (first start to last end) and the *steady* rate: jobs finished while all N workers
were running, over that window, which leaves out the processes' start-up (they finish importing ~0.5 s
apart). 1 and 2 workers alternate, ``--repeat`` times each; medians and ranges are printed.

* notification jobs/s (the citizen's SMS for a booking: load the event, render, plan, claim, send into the
  ``sms_outbox``, mark done) with 1 and 2 ``SimpleWorker`` processes, and 1 forking ``Worker``; the
  ceiling of each is RQ's own rate for a trivial job (``workers.runner.ping``) with the same workers;
* CPU per notification job: the worker processes (inside their job windows), their PostgreSQL backends,
  Redis (from /proc) -> the rate 2 cores could sustain if they did nothing else; and the cores that other
  processes used meanwhile (the machine is shared);
* the machine's own 2-vs-1 scaling, measured before each pair of runs with CPU-bound Python processes: the
  ceiling of "2 workers vs 1" at that moment (2.0 only on 2 idle cores);
* the outbox relay: lag from the booking's commit to the job being in Redis (after-commit kick), and to
  the SMS being written, while bookings arrive and 2 workers run; and the reconciler's rate on a backlog.

Target (issue #8): 2 workers >= 1.6 x 1 worker (steady rates). The last line is ``BENCH_JSON {...}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import psycopg
from redis import Redis
from rq import Worker
from rq.job import Job
from sqlalchemy import delete, select, update

import config.models  # noqa: F401 - every table mapped
from config.db import Database
from config.migrate import upgrade
from config.queue import OutboxMessage, Relay, json_serializer, rq_job_options, rq_queue
from config.settings import Settings
from logistics.agencies.models import AdminUnit, Procedure, ProcedureLevel, Scheme, UnitLevel
from logistics.agencies.refdata import load_reference_data
from logistics.notifications.models import Notification, SmsMessage
from logistics.orders.models import Channel
from tracking.services import book_pickup

ROOT = Path(__file__).resolve().parent.parent
NOTIFY = "workers.jobs.notifications.notify_event"
TARGET_SCALING = 1.6
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


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


@dataclass(frozen=True)
class Drain:
    """How ``n`` workers drained a backlog, from RQ's per-job timestamps."""

    jobs: int
    workers_used: int
    drain_s: float  # first job started -> last job ended
    steady_rate: float  # jobs/s while every worker was running
    windows: tuple[tuple[int, float, float], ...] = ()  # per worker: jobs, its first start, its last end (epoch s)

    @property
    def drain_rate(self) -> float:
        return self.jobs / self.drain_s if self.drain_s > 0 else 0.0


def drained(conn: Redis, job_ids: list[str]) -> Drain:
    jobs = [j for j in Job.fetch_many(job_ids, connection=conn, serializer=json_serializer()) if j is not None]
    done = [(j.worker_name or "?", j.started_at.timestamp(), j.ended_at.timestamp())
            for j in jobs if j.started_at and j.ended_at]
    if len(done) != len(job_ids):
        raise SystemExit(f"{len(job_ids) - len(done)} of {len(job_ids)} jobs did not run")
    by_worker: dict[str, list[tuple[float, float]]] = {}
    for worker, started, ended in done:
        by_worker.setdefault(worker, []).append((started, ended))
    windows = tuple((len(js), min(a for a, _ in js), max(b for _, b in js)) for js in by_worker.values())
    first_start, last_end = min(w[1] for w in windows), max(w[2] for w in windows)
    # The window in which every worker was running: from the last worker's first job to the first worker's last.
    w_start, w_end = max(w[1] for w in windows), min(w[2] for w in windows)
    in_window = sum(1 for _, _, ended in done if w_start < ended <= w_end)
    steady = in_window / (w_end - w_start) if w_end > w_start and in_window >= 10 else len(done) / (last_end - first_start)  # noqa: E501
    return Drain(len(done), len(by_worker), last_end - first_start, steady, windows)


def measure_drain(settings: Settings, n_workers: int, queue: str, job_ids: list[str], *, fork: bool = False) -> Drain:
    """Drain a backlog already in Redis with ``n_workers`` burst processes."""
    workers(settings, n_workers, [queue], fork=fork)
    return drained(Redis.from_url(settings.redis_url), job_ids)


class ProcCpu:
    """CPU seconds of the work, from /proc: the worker processes (children of this one) while they run jobs, the
    PostgreSQL backends of one database, one process (redis-server), and the whole machine.

    A thread samples every 50 ms. Backends come and go with the workers: each one's last reading is kept (its
    last <= 50 ms can be missed). Workers are read as time series, so that their CPU can be taken between
    their first job's start and their last job's end: the start-up (imports, ~1 s of CPU) is left out.
    """

    def __init__(self, dbname: str, pid: int) -> None:
        self.dbname = f" {dbname} "
        self.pid = pid
        self.seen: dict[int, int] = {}
        self.series: dict[int, list[tuple[float, int]]] = {}  # worker pid -> (epoch s, CPU ticks)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _stat(pid: int | str) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    @classmethod
    def _ticks(cls, pid: int | str) -> int:
        fields = cls._stat(pid)
        return int(fields[11]) + int(fields[12])

    def _sample(self) -> None:
        me = str(os.getpid())
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if self.dbname in cmdline:
                    self.seen[int(entry.name)] = self._ticks(entry.name)
                elif "workers.runner" in cmdline:
                    fields = self._stat(entry.name)
                    if fields[1] == me:  # our own burst workers (not a horse, not someone else's)
                        now = time.time()
                        self.series.setdefault(int(entry.name), []).append((now, int(fields[11]) + int(fields[12])))
            except OSError:
                continue

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._sample()

    def worker_cpu(self, windows: tuple[tuple[int, float, float], ...]) -> float:
        """CPU seconds of the workers inside their job windows (matched to processes by start order)."""
        procs = sorted(self.series.values(), key=lambda s: s[0][0])
        spans = sorted(windows, key=lambda w: w[1])
        total = 0
        for samples, (_, start, end) in zip(procs, spans, strict=False):
            before = [t for ts, t in samples if ts <= start] or [samples[0][1]]
            after = [t for ts, t in samples if ts >= end] or [samples[-1][1]]
            total += after[0] - before[-1]
        return total / CLK_TCK

    @staticmethod
    def _machine() -> tuple[float, float]:
        """(busy CPU seconds of the whole machine, wall seconds) from /proc/stat."""
        user, nice, system, _idle, _iowait, irq, softirq, steal = (
            int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
        return (user + nice + system + irq + softirq + steal) / CLK_TCK, time.perf_counter()

    def __enter__(self) -> Self:
        self.machine0 = self._machine()
        self.self0 = time.process_time()
        self.redis0 = self._ticks(self.pid)
        self._sample()
        self.pg0 = dict(self.seen)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.redis_s = (self._ticks(self.pid) - self.redis0) / CLK_TCK
        self.pg_s = sum(t - self.pg0.get(pid, 0) for pid, t in self.seen.items()) / CLK_TCK
        busy, now = self._machine()
        self.machine_busy_s, self.wall_s = busy - self.machine0[0], now - self.machine0[1]
        self.self_s = time.process_time() - self.self0  # this process: the /proc sampler, waiting on workers
        self.new_backends = len(set(self.seen) - set(self.pg0))
        # Everything the workers used, start-up included (the last sample before each one exited).
        self.workers_all_s = sum(s[-1][1] - s[0][1] for s in self.series.values()) / CLK_TCK

    def others_cores(self) -> float:
        """Cores used meanwhile by everything else on the machine (other benches, test runs...)."""
        ours = self.workers_all_s + self.pg_s + self.redis_s + self.self_s
        return max(self.machine_busy_s - ours, 0.0) / self.wall_s if self.wall_s > 0 else 0.0


def _spin(n: int) -> int:
    x = 0
    for i in range(n):
        x += i * i % 7
    return x


def machine_scaling(n: int = 2_000_000) -> float:
    """What this machine gives right now to 2 CPU-bound Python processes beside 1 (2.0 on 2 idle cores)."""
    import multiprocessing  # noqa: PLC0415

    def rate(procs: int) -> float:
        start = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(procs) as pool:
            pool.map(_spin, [n] * procs)
        return procs * n / (time.perf_counter() - start)

    one = rate(1)
    return rate(2) / one


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


def reset_notifications(db: Database, limit: int | None = None) -> list[int]:
    """Make (up to ``limit``) notification jobs pending again and forget what they sent; the rest done."""
    with db.unit_of_work() as s:
        s.execute(delete(SmsMessage))
        s.execute(delete(Notification))
        s.execute(update(OutboxMessage).values(done_at=OutboxMessage.created_at))
        ids = s.scalars(select(OutboxMessage.id).where(OutboxMessage.job == NOTIFY).order_by(OutboxMessage.id)
                        .limit(limit)).all()
        s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                  .values(done_at=None, dispatched_at=None, attempts=0))
        return list(ids)


def notification_backlog(db: Database, settings: Settings, limit: int | None = None) -> list[str]:
    """Make notification jobs pending again and hand them all to Redis (no worker runs yet); their job ids."""
    ids = reset_notifications(db, limit)
    relay = Relay(db, settings)
    while relay.relay_pending():
        pass
    return [f"outbox-{i}" for i in ids]


def job_rate(db: Database, settings: Settings, n_workers: int, *, fork: bool = False, limit: int | None = None,
             watch: ProcCpu | None = None) -> Drain:
    """Hand the backlog to Redis, then drain it (``watch`` records CPU use during the drain only)."""
    ids = notification_backlog(db, settings, limit)
    with watch or contextlib.nullcontext():
        drain = measure_drain(settings, n_workers, "notifications", ids, fork=fork)
    with db.unit_of_work() as s:
        sent = len(s.scalars(select(SmsMessage.id)).all())
    if sent != len(ids):
        raise SystemExit(f"{sent} SMS written for {len(ids)} jobs")
    return drain


def trivial_rate(settings: Settings, n: int, n_workers: int, *, fork: bool = False) -> Drain:
    conn = Redis.from_url(settings.redis_url)
    queue = rq_queue("routing", conn)
    with conn.pipeline() as pipe:
        jobs = [queue.enqueue("workers.runner.ping", pipeline=pipe, **(rq_job_options("routing") | {"retry": None}))
                for _ in range(n)]
        pipe.execute()
    return measure_drain(settings, n_workers, "routing", [j.id for j in jobs], fork=fork)


def relay_lag(db: Database, settings: Settings, n: int, pace: float) -> tuple[list[float], list[float]]:
    """Book ``n`` orders, one every ``pace`` s, with 2 workers running; (commit→in Redis, commit→SMS) in ms."""
    # From empty queues: a backlog left by an earlier measurement would be drained first and counted as lag.
    Redis.from_url(settings.redis_url).flushdb()
    with db.unit_of_work() as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.done_at.is_(None)).values(done_at=OutboxMessage.created_at))
    env = dict(os.environ, DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url,
               DOSSIERPOST_ENV="test", LOG_LEVEL="ERROR")
    # Workers on the notifications queue (label rendering has its own workers in production).
    procs = [subprocess.Popen([sys.executable, "-m", "workers.runner", "--no-schedule", "notifications"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(2)]
    conn = Redis.from_url(settings.redis_url)
    deadline = time.monotonic() + 60
    while Worker.count(connection=conn, queue=rq_queue("notifications", conn)) < len(procs):  # all listening
        if time.monotonic() > deadline:
            raise SystemExit("workers did not start")
        time.sleep(0.05)
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
    jobs = len(reset_notifications(db))
    Redis.from_url(settings.redis_url).flushdb()
    relay = Relay(db, settings)
    start = time.perf_counter()
    while relay.relay_pending():
        pass
    return jobs, jobs / (time.perf_counter() - start)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else (values or [0.0])[0]


def spread(values: list[float]) -> str:
    """Median and range of repeated measurements."""
    if len(values) == 1:
        return f"{values[0]:.0f}"
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def info(path: str, figure: float, unit: str, ceiling: float | None = None, ratio: float | None = None,
         *, target: str | None = None, met: bool | None = None) -> dict[str, Any]:
    return {"path": path, "figure": round(figure, 1), "unit": unit,
            "ceiling": None if ceiling is None else round(ceiling, 1),
            "ratio": None if ratio is None else round(ratio, 3), "target": target, "met": met}


def main() -> None:  # noqa: PLR0915 - one measurement after the other, printed together
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke run")
    parser.add_argument("--jobs", type=int, help="notification jobs per measurement (default 600, quick 150)")
    parser.add_argument("--trivial", type=int, help="trivial RQ jobs per measurement (default 2000, quick 400)")
    parser.add_argument("--repeat", type=int, help="runs of each of 1 and 2 workers, alternating (default 3)")
    parser.add_argument("--lag-orders", type=int, help="bookings in the relay-lag test (default 200, quick 30)")
    parser.add_argument("--pace", type=float, default=0.1, help="seconds between bookings in the lag test")
    parser.add_argument("--pg-admin", default="host=127.0.0.1 port=5432 dbname=postgres user=postgres")
    parser.add_argument("--pg-db", default="dp_bench_workers")
    args = parser.parse_args()
    n_jobs = args.jobs or (150 if args.quick else 600)
    n_trivial = args.trivial or (400 if args.quick else 2000)
    repeat = args.repeat or (1 if args.quick else 3)
    lag_orders = args.lag_orders or (30 if args.quick else 200)
    with psycopg.connect(args.pg_admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_db}" WITH (FORCE)')
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
        book(db, n_jobs)
        runs: dict[int, list[Drain]] = {1: [], 2: []}
        cpu: list[tuple[float, float, float]] = []  # per job: worker, PostgreSQL, Redis (s)
        others: list[float] = []  # cores used by other processes on the machine during each run
        machine: list[float] = []  # the machine's own 2-vs-1 scaling, measured before each pair of runs
        for _ in range(repeat):
            machine.append(machine_scaling())
            for n in (1, 2):
                used = ProcCpu(args.pg_db, redis_proc.pid)
                d = job_rate(db, settings, n, watch=used)
                runs[n].append(d)
                cpu.append((used.worker_cpu(d.windows) / d.jobs, used.pg_s / d.jobs, used.redis_s / d.jobs))
                others.append(used.others_cores())
                print(f"  {n} worker(s): {d.jobs} jobs, drained in {d.drain_s:.2f} s ({d.drain_rate:.0f}/s), "
                      f"steady {d.steady_rate:.0f} jobs/s on {d.workers_used} worker(s); CPU per job: worker "
                      f"{cpu[-1][0] * 1000:.1f} ms, PostgreSQL {cpu[-1][1] * 1000:.1f} ms, "
                      f"Redis {cpu[-1][2] * 1000:.1f} ms; PostgreSQL connections opened {used.new_backends} (pooled: "
                      f"1 per worker); other load on the machine {others[-1]:.2f} cores", flush=True)
        forking = job_rate(db, settings, 1, fork=True, limit=max(n_jobs // 6, 20))
        trivial: dict[int, list[Drain]] = {1: [], 2: []}
        for _ in range(repeat):
            for n in (1, 2):
                trivial[n].append(trivial_rate(settings, n_trivial, n))
        trivial_fork = trivial_rate(settings, max(n_trivial // 10, 20), 1, fork=True)
        n_backlog, relay_rate = backlog_rate(db, settings)
        to_redis, to_done = relay_lag(db, settings, lag_orders, args.pace)
        db.dispose()
    finally:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
        with psycopg.connect(args.pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_db}" WITH (FORCE)')

    def med(drains: list[Drain]) -> float:
        return statistics.median(d.steady_rate for d in drains)

    one, two = med(runs[1]), med(runs[2])
    t_one, t_two = med(trivial[1]), med(trivial[2])
    # CPU per job from the 1-worker runs: with 2 workers each job's CPU time also grows with the contention.
    per_job = [statistics.median(c[i] for c in cpu[0::2]) for i in range(3)]
    cpu_bound = 2 / sum(per_job)  # jobs/s if both cores did nothing but this job's work
    scaling = [b.steady_rate / a.steady_rate for a, b in zip(runs[1], runs[2], strict=True)]
    lines = [
        ("notification jobs/s, 1 SimpleWorker (steady)", spread([d.steady_rate for d in runs[1]])),
        ("notification jobs/s, 2 SimpleWorkers (steady)", spread([d.steady_rate for d in runs[2]])),
        ("  2 vs 1 worker, per pair of runs", " / ".join(f"{x:.2f}" for x in scaling)),
        ("  the machine meanwhile: 2 vs 1 CPU-bound Python processes", " / ".join(f"{x:.2f}" for x in machine)),
        ("  drain time of the backlog, 1 / 2 workers (s)",
         f"{statistics.median(d.drain_s for d in runs[1]):.2f} / {statistics.median(d.drain_s for d in runs[2]):.2f}"),
        ("notification jobs/s, 1 forking Worker", f"{forking.steady_rate:.0f}"),
        ("CPU per notification job, 1 worker: worker / PostgreSQL / Redis (ms)",
         " / ".join(f"{x * 1000:.1f}" for x in per_job)),
        ("  -> 2 cores fully used by this work alone, jobs/s", f"{cpu_bound:.0f}"),
        ("other processes on the machine during those runs (cores)", " / ".join(f"{x:.2f}" for x in others)),
        ("RQ trivial jobs/s, 1 SimpleWorker", spread([d.steady_rate for d in trivial[1]])),
        ("RQ trivial jobs/s, 2 SimpleWorkers", spread([d.steady_rate for d in trivial[2]])),
        ("RQ trivial jobs/s, 1 forking Worker", f"{trivial_fork.steady_rate:.0f}"),
        (f"reconciler: backlog of {n_backlog} handed to Redis, msgs/s", f"{relay_rate:.0f}"),
        ("relay lag commit → in Redis, p50 / p95 (ms)", f"{pct(to_redis, 50):.1f} / {pct(to_redis, 95):.1f}"),
        (f"commit → SMS written at {1 / args.pace:.0f} bookings/s, p50 / p95 (ms)",
         f"{pct(to_done, 50):.1f} / {pct(to_done, 95):.1f}"),
    ]
    width = max(len(k) for k, _ in lines)
    print(f"{'measure':<{width}}  value (median (min-max) of {repeat} runs)")
    for k, v in lines:
        print(f"{k:<{width}}  {v}")
    rows = [
        info("workers: notification jobs/s, 1 worker", one, "jobs/s", t_one, one / t_one),
        info("workers: notification jobs/s, 2 workers", two, "jobs/s", t_two, two / t_two),
        info("workers: 2 workers vs 1 (notification jobs/s)", two, "jobs/s", one, two / one,
             target=f">= {TARGET_SCALING:.2f}", met=two / one >= TARGET_SCALING),
        info("workers: 2-vs-1 scaling beside the machine's own (CPU-bound processes)", statistics.median(scaling),
             "x", statistics.median(machine), statistics.median(scaling) / statistics.median(machine)),
        info("workers: 2 workers vs the 2-core CPU bound", two, "jobs/s", cpu_bound, two / cpu_bound),
        info("workers: RQ trivial jobs, 2 workers vs 1", t_two, "jobs/s", t_one, t_two / t_one),
        info("workers: notification jobs/s, 1 forking worker", forking.steady_rate, "jobs/s",
             trivial_fork.steady_rate, forking.steady_rate / trivial_fork.steady_rate),
        info("workers: reconciler hands a backlog to Redis", relay_rate, "msgs/s"),
        info("workers: relay lag commit -> in Redis, p95", pct(to_redis, 95), "ms"),
        info(f"workers: commit -> SMS written at {1 / args.pace:.0f}/s, p95", pct(to_done, 95), "ms"),
    ]
    print("BENCH_JSON " + json.dumps({"bench": Path(__file__).stem, "quick": args.quick, "rows": rows},
                                     ensure_ascii=False))


if __name__ == "__main__":
    main()
