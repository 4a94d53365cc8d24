"""HTTP throughput of scan ingest and public tracking reads, each beside a bare ceiling of the same app.

Run from the repository root: ``.venv/bin/python bench/bench_http.py [--quick] [--profile] [--no-sqlite]``.

The app is served as in production by ``dossierpost serve`` (gunicorn, 2 workers x 4 threads) with
``DOSSIERPOST_BENCH_ENDPOINTS=1``, which adds the bare ceilings of ``web/bench.py``. A load generator in this
process keeps a fixed number of keep-alive connections busy (one thread each, ``http.client``) and records
the latency of every request.

* Scan ingest: ``POST /api/v1/scans`` by a logged-in courier, one scan per request (collected with the
  procedure's checklist, seal and ID digits; arrived at the post office; left it), and batches of 200 (an
  offline phone syncing), beside ``POST /api/bench/write`` (one insert + one update in one transaction).
* Tracking reads of random items (~10 events each): ``GET /api/v1/tracking/<code>`` (public JSON),
  ``GET /t/<code>?s=`` (the page the label's QR code opens) and ``GET /api/v1/orders/<code>`` (a system's
  token), beside ``GET /api/bench/read/<code>`` (the same two indexed queries with SQLAlchemy Core).

Backends: SQLite at 10k items, PostgreSQL at 10k items and then grown in place with server-side SQL
(``INSERT ... SELECT generate_series``) to 1M items and 10M events (hash chains not valid; states, kinds,
places and times are). Redis carries the rate-limit counters and the job queue on both; no RQ worker runs, a
stand-in marks dispatched outbox messages done as workers would. Every request carries its own
``X-Forwarded-For`` (``TRUSTED_PROXIES=1``): many couriers and citizens, none near a rate limit.

Path and ceiling alternate in slices (``SLICES``), so background load on the machine hits both alike. A
ratio target is checked on the median of the per-slice ratios (each path slice against the ceiling slice run
just before it): on a shared machine a few seconds of stolen CPU land in one slice and would otherwise move
the whole ratio. The tables print the ratio of the totals as well.

Servers, databases, temporary files and Redis keys are removed on exit, failure or Ctrl-C. The last line is
``BENCH_JSON {...}`` for aggregators.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

import psycopg
from redis import Redis
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import SQLAlchemyError

import config.models  # noqa: F401 - every table mapped
from config.db import Database, utcnow
from config.migrate import upgrade
from config.queue import OutboxMessage
from logistics.accounts.models import Role
from logistics.accounts.services import create_user
from logistics.accounts.tokens import issue_token
from logistics.agencies.models import AdminUnit, PostOffice, Procedure, ProcedureDocument, Scheme, UnitLevel
from logistics.agencies.refdata import load_reference_data
from logistics.labels.s10 import WEIGHTS, make_item_code
from logistics.labels.signing import LabelSigner
from logistics.orders.errors import RoutingError, ValidationError
from logistics.orders.models import Channel, Order
from tracking.services import book_pickup

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-key-0123456789abcdef0123"  # noqa: S105 - a throw-away bench key
SIGNING_KEY = "bench-label-key-0123456789abcdef"
PASSWORD = "bench-password-123"  # noqa: S105 - a throw-away bench account
BATCH = 200
THREADS = 4  # per gunicorn worker, as ``dossierpost serve`` runs it
SERIAL_BASE = 10_000_000  # generated S10 serials; real bookings take theirs from the sequence, far below
ID_OFFSET = 1000  # generated dossier/order ids start above the template bookings
T0 = datetime(2024, 9, 1, tzinfo=UTC)
ITEM_EVERY_S = 30  # one generated item every 30 s from T0: 1M items span a year
STEP_S = 6 * 3600  # six hours between an item's events
EVENTS = ("collected", "arrived_post_office", "left_post_office")
NAMES = ("Nguyễn Thị Hồng Nhung", "Trần Văn Bình", "Lê Thị Thu Hà", "Phạm Minh Tuấn", "Huỳnh Ngọc Ánh",
         "Võ Văn Kiệt", "Đặng Thị Mai")

STOP = threading.Event()


@dataclass(frozen=True)
class Plan:
    """Sizes of one run."""

    small: int  # generated items before the first round
    large: int  # items the PostgreSQL database grows to
    scans: int  # single scans measured (3 per item)
    batches: int  # batch requests measured (BATCH scans each)
    reads: int  # requests per read endpoint
    connections: int
    workers: int


# Parts each measured endpoint is run in, alternating with the others (see the module docstring).
SLICES = 5
FULL = Plan(small=10_000, large=1_000_000, scans=2_400, batches=24, reads=2_000, connections=8, workers=2)
QUICK = Plan(small=2_000, large=20_000, scans=600, batches=8, reads=600, connections=8, workers=2)


@dataclass
class Result:
    """One endpoint measured on one database."""

    backend: str
    items: int
    events: int
    name: str
    requests: int
    units: int  # scans (a batch request carries BATCH) or reads
    seconds: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    errors: int
    first_error: str = ""
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU ms per unit, by party (CpuMeter)
    # Units per second in each slice, in run order (None: the slice had no request of this endpoint).
    slice_per_s: list[float | None] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        """Units per second."""
        return self.units / self.seconds if self.seconds else 0.0


@dataclass
class Target:
    """One target of the issue, checked."""

    check: str
    value: float
    target: str
    ok: bool


@dataclass
class Report:
    """Everything measured."""

    results: list[Result] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    profiles: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    explains: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --- SQL generation (both dialects) -------------------------------------------------------------------------


class Sql:
    """The dialect-specific fragments of the generator's statements."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"

    def with_series(self) -> str:
        """The integer series ``s(i)`` from ``:a`` to ``:b``, as a leading WITH (SQLite) or nothing (PG)."""
        return "" if self.pg else "WITH RECURSIVE s(i) AS (SELECT :a UNION ALL SELECT i + 1 FROM s WHERE i < :b) "

    def series(self) -> str:
        """The FROM item of the series."""
        return "generate_series(CAST(:a AS integer), CAST(:b AS integer)) AS s(i)" if self.pg else "s"

    def pad8(self, expr: str) -> str:
        """An integer as 8 digits."""
        return f"lpad(CAST({expr} AS text), 8, '0')" if self.pg else f"printf('%08d', {expr})"

    def hex64(self, seed: str) -> str:
        """64 hex characters (a SHA-256-looking hash)."""
        if self.pg:
            return f"(md5(CAST({seed} AS text)) || md5(CAST({seed} AS text) || 'x'))"
        return "lower(hex(randomblob(32)))"

    def key(self, seed: str) -> str:
        """A UUID-looking idempotency key."""
        return f"CAST(CAST(md5('k' || CAST({seed} AS text)) AS uuid) AS text)" if self.pg else (
            "lower(hex(randomblob(16)))")

    def ts(self, seconds: str) -> str:
        """T0 plus ``seconds``, as the column type stores it."""
        if self.pg:
            return f"(CAST(:t0 AS timestamptz) + ({seconds}) * interval '1 second')"
        return f"(strftime('%Y-%m-%d %H:%M:%S', :t0, '+' || ({seconds}) || ' seconds') || '.000000')"

    def json(self, param: str) -> str:
        """A bound JSON document."""
        return f"CAST(:{param} AS json)" if self.pg else f":{param}"

    @property
    def t0(self) -> str:
        """The T0 bind value."""
        return "2024-09-01 00:00:00+00" if self.pg else "2024-09-01 00:00:00"


def check_digit_sql(serial: str) -> str:
    """The S10 check digit of an integer serial expression (``logistics.labels.s10.check_digit`` in SQL)."""
    terms = " + ".join(f"(({serial}) / {10 ** (7 - k)} % 10) * {w}" for k, w in enumerate(WEIGHTS))
    c = f"(11 - ({terms}) % 11)"
    return f"(CASE {c} WHEN 10 THEN 0 WHEN 11 THEN 5 ELSE {c} END)"


# (kind, state after, UPU code, actor role, place): place is office, gps or agency.
Step = tuple[str, str, str | None, str, str]
HEAD: tuple[Step, ...] = (
    ("created", "created", None, "citizen", "office"),
    ("assigned", "assigned", None, "dispatcher", "office"),
    ("collected", "collected", "EMA", "courier", "gps"),
)
LOOP: tuple[Step, ...] = (
    ("arrived_post_office", "at_post_office", "EMB", "courier", "office"),
    ("left_post_office", "out_for_delivery", "EMC", "courier", "office"),
)
HANDED: Step = ("handed_to_agency", "handed_to_agency", "EMI", "courier", "agency")
TAILS: dict[str, tuple[Step, ...]] = {
    "normal": (HANDED, ("receipt_confirmed", "accepted", "EMI", "agency_officer", "agency"),
               ("result_ready", "accepted", None, "agency_officer", "agency")),
    "refused": (HANDED, ("refused", "refused", "EMH", "agency_officer", "agency"),
                ("returned", "returned", "EMH", "courier", "gps")),
    "supplement": (HANDED, ("supplement_requested", "supplement_requested", "EMH", "agency_officer", "agency"),
                   ("receipt_confirmed", "accepted", "EMI", "agency_officer", "agency")),
}
# Item i loops through m post offices (i % 4 -> 1, 2, 2, 3: 8, 10, 10, 12 events, 10 on average); one in 20 is
# refused, one in 20 needed a supplement.
PATHS: dict[str, tuple[Step, ...]] = {
    "i % 20 = 0": HEAD + LOOP * 1 + TAILS["refused"],
    "i % 4 = 0 AND i % 20 <> 0": HEAD + LOOP * 1 + TAILS["normal"],
    "i % 20 = 1": HEAD + LOOP * 2 + TAILS["supplement"],
    "i % 4 IN (1, 2) AND i % 20 <> 1": HEAD + LOOP * 2 + TAILS["normal"],
    "i % 4 = 3": HEAD + LOOP * 3 + TAILS["normal"],
}
ACTOR_NAMES = {"courier": "Nguyễn Văn Tới", "dispatcher": "Lê Văn Điều", "agency_officer": "Trần Thị Mai"}
SEAL_DETAILS = json.dumps({"seal_number": "NP-0001", "id_digits_recorded": True}, ensure_ascii=False)


class Generator:
    """Dossiers, orders and events made by server-side SQL, cloned from a few real bookings (templates)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sql = Sql(db.dialect)
        self.next_index = 1

    def params(self, first: int, last: int) -> dict[str, Any]:
        """The binds every statement shares."""
        return {"a": first, "b": last, "t0": self.sql.t0, "nt": self._count("bench_templates"),
                "nn": len(NAMES), "off": ID_OFFSET, "serial": SERIAL_BASE}

    def _count(self, table: str) -> int:
        with self.db.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608 - fixed names

    def items(self, count: int, *, targets: bool) -> tuple[int, int]:
        """Generate ``count`` items; targets are new (state created, one event), others went the whole way.

        Returns the range of item indexes (order id = ID_OFFSET + index).
        """
        first, last = self.next_index, self.next_index + count - 1
        self.next_index = last + 1
        s, p = self.sql, self.params(first, last)
        if targets:  # booked within the last hour
            p["tbase"] = int((utcnow() - T0).total_seconds()) - 3600
            created = "(:tbase + i % 3600)"
        else:
            created = f"(i * {ITEM_EVERY_S})"
        serial = "(:serial + :off + i)"
        last_step = "0" if targets else f"((CASE i % 4 WHEN 0 THEN 7 WHEN 3 THEN 11 ELSE 9 END) * {STEP_S})"
        state = "'created'" if targets else "(CASE WHEN i % 20 = 0 THEN 'returned' ELSE 'accepted' END)"
        source = f"FROM {s.series()} JOIN bench_templates t ON t.k = i % :nt"
        statements = [
            (f"{s.with_series()}INSERT INTO dossiers (id, procedure_id, agency_id, service_form, channel, "
             "applicant_name, applicant_phone, address_text, admin_unit_id, envelopes, routing, created_at) "
             f"SELECT :off + i, d.procedure_id, d.agency_id, d.service_form, d.channel, n.name, "
             f"'849' || {s.pad8('i % 100000000')}, d.address_text, d.admin_unit_id, 1 + i % 3, d.routing, "
             f"{s.ts(created)} {source} JOIN dossiers d ON d.id = t.dossier_id JOIN bench_names n ON n.k = i % :nn"),
            (f"{s.with_series()}INSERT INTO orders (id, dossier_id, leg, item_code, state, post_office_id, "
             "postage_vnd, created_at, updated_at, version) "
             f"SELECT :off + i, :off + i, 'pickup', 'RA' || {s.pad8(serial)} || CAST({check_digit_sql(serial)} AS "
             f"text) || 'VN', {state}, t.post_office_id, o.postage_vnd, {s.ts(created)}, "
             f"{s.ts(f'{created} + {last_step}')}, 1 {source} JOIN orders o ON o.id = t.order_id"),
        ]
        with self._bulk() as conn:
            for statement in statements:
                conn.execute(text(statement), p)
            paths = {"1 = 1": HEAD[:1]} if targets else PATHS
            for j in range(max(len(path) for path in paths.values())):
                # Step-major: every item's j-th event, then every item's (j+1)-th: an item's events lie far
                # apart in the table, as events recorded over days do.
                by_step: dict[Step, list[str]] = {}
                for cond, path in paths.items():
                    if j < len(path):
                        by_step.setdefault(path[j], []).append(cond)
                for step, conds in by_step.items():
                    self._events(conn, step, j, conds, created=created, p=p)
        return first, last

    def _events(self, conn: Any, step: Step, j: int, conds: list[str], *, created: str, p: dict[str, Any]) -> None:
        s = self.sql
        kind, state, upu, role, place = step
        seed = f"((:off + i) * 16 + {j})"
        when = f"{created} + {j * STEP_S} + i % 3600"
        scan = role == "courier"
        values = {
            "order_id": ":off + i",
            "kind": f"'{kind}'",
            "upu_code": f"'{upu}'" if upu else "NULL",
            "state_after": f"'{state}'",
            "actor_role": f"'{role}'",
            "actor_name": ":actor" if role in ACTOR_NAMES else "NULL",
            "post_office_id": "t.post_office_id" if place == "office" else "NULL",
            "agency_id": "t.agency_id" if place == "agency" else "NULL",
            "lat": "(9.1 + (i % 997) * 0.0002)" if place == "gps" else "NULL",
            "lon": "(105.1 + (i % 991) * 0.0002)" if place == "gps" else "NULL",
            "device_time": s.ts(f"{when} - 4") if scan else "NULL",
            "server_time": s.ts(when),
            "note": ":note" if kind == "created" else "NULL",
            "idempotency_key": s.key(seed) if scan else "NULL",
            "clock_skew_s": "-4" if scan else "NULL",
            "clock_skew_flag": ":flag",
            "details": s.json("details") if kind == "collected" else "NULL",
            "prev_hash": s.hex64(f"{seed} - 1"),
            "hash": s.hex64(seed),
        }
        where = " OR ".join(f"({c})" for c in conds)
        conn.execute(text(
            f"{s.with_series()}INSERT INTO tracking_events ({', '.join(values)}) "  # noqa: S608 - fixed fragments
            f"SELECT {', '.join(values.values())} FROM {s.series()} JOIN bench_templates t ON t.k = i % :nt "
            f"WHERE {where}"),
            {**p, "actor": ACTOR_NAMES.get(role), "note": "Đăng ký thu gom qua kênh web", "flag": False,
             "details": SEAL_DETAILS})

    @contextlib.contextmanager
    def _bulk(self) -> Iterator[Any]:
        """A connection for bulk loading: no per-row FK triggers, no waiting for the WAL flush (PostgreSQL)."""
        with self.db.engine.begin() as conn:
            if self.sql.pg:
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                conn.execute(text("SET LOCAL synchronous_commit = off"))
            yield conn
        if self.sql.pg:
            with self.db.engine.begin() as conn:
                for table in ("dossiers", "orders"):
                    conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))  # noqa: S608

    def grow(self, count: int, chunk: int = 250_000) -> None:
        """Add ``count`` finished items; on PostgreSQL with the event indexes rebuilt once at the end."""
        event_indexes = self.sql.pg and count > 100_000
        if event_indexes:
            with self.db.engine.begin() as conn:
                conn.execute(text("DROP INDEX ix_tracking_events_order_id_id"))
                conn.execute(text("ALTER TABLE tracking_events DROP CONSTRAINT uq_tracking_events_idempotency_key"))
        try:
            done = 0
            while done < count:
                n = min(chunk, count - done)
                started = time.perf_counter()
                self.items(n, targets=False)
                done += n
                print(f"    generated {done:,}/{count:,} items ({time.perf_counter() - started:.1f} s)", flush=True)
        finally:
            if event_indexes:
                started = time.perf_counter()
                with self.db.engine.begin() as conn:
                    conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
                    conn.execute(text("CREATE INDEX ix_tracking_events_order_id_id ON tracking_events (order_id, id)"))
                    conn.execute(text("ALTER TABLE tracking_events ADD CONSTRAINT uq_tracking_events_idempotency_key "
                                      "UNIQUE (idempotency_key)"))
                print(f"    event indexes rebuilt ({time.perf_counter() - started:.1f} s)", flush=True)
        self.settle()

    def settle(self) -> None:
        """Statistics and visibility map up to date, dirty pages written: the bench is not hit by either."""
        started = time.perf_counter()
        with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if self.sql.pg:
                conn.execute(text("VACUUM (ANALYZE) dossiers, orders, tracking_events"))
                conn.execute(text("CHECKPOINT"))
            else:
                conn.execute(text("ANALYZE"))
        print(f"    vacuum/analyze/checkpoint ({time.perf_counter() - started:.1f} s)", flush=True)


# --- database set-up ----------------------------------------------------------------------------------------


@dataclass
class Fixture:
    """A prepared database: where it is, who scans, which tokens read, which documents each procedure needs."""

    backend: str
    db: Database
    gen: Generator
    username: str
    tokens: list[str]
    docs: dict[int, list[dict[str, Any]]]
    filler: list[tuple[int, int]] = field(default_factory=list)  # ranges of finished items (readable)


def prepare(url: str, backend: str) -> Fixture:
    """Migrate, load reference data, book template orders for real, create the courier and the tokens."""
    upgrade(url)
    db = Database(url)
    with db.unit_of_work() as s:
        load_reference_data(s)
    with db.unit_of_work() as s:
        communes = list(s.scalars(select(AdminUnit).where(
            AdminUnit.scheme == Scheme.V2025, AdminUnit.level == UnitLevel.COMMUNE).order_by(AdminUnit.code)))
        procs = list(s.scalars(select(Procedure).where(Procedure.by_post.is_(True)).order_by(Procedure.code)))
        booked: list[Order] = []
        for n in range(200):
            if len(booked) == 16:
                break
            raw = {"applicant_name": NAMES[n % len(NAMES)], "phone": "0912345678", "address": "Số 3 Lưu Tấn Tài",
                   "commune_code": communes[(n * 7) % len(communes)].code,
                   "procedure_code": procs[(n * 5) % len(procs)].code, "service_form": "both"}
            try:
                with s.begin_nested():
                    order, _created = book_pickup(s, raw, indicator="RA", channel=Channel.WEB)
            except (ValidationError, RoutingError):
                continue
            if order.post_office_id is not None and order.dossier.procedure.documents:
                booked.append(order)
        s.execute(update(OutboxMessage).values(done_at=utcnow()))  # their label jobs: long done in real life
        office = s.get(PostOffice, booked[0].post_office_id)
        username = f"bench{uuid.uuid4().hex[:8]}"
        create_user(s, username=username, full_name="Nguyễn Văn Tới", role=Role.COURIER, password=PASSWORD,
                    post_office_code=office.code if office else None)
        tokens = [issue_token(s, name=f"bench system {k}", scopes=["orders:read"]).secret for k in range(16)]
        docs: dict[int, list[dict[str, Any]]] = {}
        for d in s.scalars(select(ProcedureDocument).where(ProcedureDocument.required.is_(True))):
            docs.setdefault(d.procedure_id, []).append({"id": d.id, "form": str(d.form), "quantity": d.quantity})
        templates = [(k, o.dossier_id, o.id, o.post_office_id, o.dossier.agency_id) for k, o in enumerate(booked)]
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_templates (k INTEGER PRIMARY KEY, dossier_id INTEGER, order_id INTEGER, "
                          "post_office_id INTEGER, agency_id INTEGER)"))
        conn.execute(text("INSERT INTO bench_templates VALUES (:k, :d, :o, :p, :a)"),
                     [{"k": k, "d": d, "o": o, "p": p, "a": a} for k, d, o, p, a in templates])
        conn.execute(text("CREATE TABLE bench_names (k INTEGER PRIMARY KEY, name VARCHAR(200))"))
        conn.execute(text("INSERT INTO bench_names VALUES (:k, :n)"), [{"k": k, "n": n} for k, n in enumerate(NAMES)])
    return Fixture(backend, db, Generator(db), username, tokens, docs)


def counts(db: Database) -> tuple[int, int]:
    """(items, events) in the database."""
    with db.engine.connect() as conn:
        items = conn.execute(text("SELECT count(*) FROM orders")).scalar_one()
        events = conn.execute(text("SELECT count(*) FROM tracking_events")).scalar_one()
    return int(items), int(events)


def targets_of(fx: Fixture, first: int, last: int) -> list[tuple[int, str, int]]:
    """(order id, item code, procedure id) of generated target items, checking the generated codes."""
    with fx.db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT o.id, o.item_code, d.procedure_id FROM orders o JOIN dossiers d ON d.id = o.dossier_id "
            "WHERE o.id BETWEEN :a AND :b ORDER BY o.id"), {"a": ID_OFFSET + first, "b": ID_OFFSET + last}).all()
    for order_id, code, _proc in rows[:50]:
        if code != item_code(order_id - ID_OFFSET):
            raise SystemExit(f"generated item code {code} is not a valid S10 code")
    return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]


def item_code(index: int) -> str:
    """The item code the generator gave item ``index``."""
    return make_item_code("RA", SERIAL_BASE + ID_OFFSET + index)


# --- the server and the load --------------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``dossierpost serve`` in its own process group (stopped as a whole)."""

    def __init__(self, env: dict[str, str], workers: int, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.redis_url = env["REDIS_URL"]
        cli = Path(sys.executable).parent / "dossierpost"
        cmd = [str(cli), "serve"] if cli.exists() else [sys.executable, "-m", "web.cli", "serve"]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DOSSIERPOST_", "TEST_"))}
        full_env.update(env, PORT=str(self.port), PUBLIC_BASE_URL=f"http://127.0.0.1:{self.port}")
        with log.open("ab") as err:
            self.proc = subprocess.Popen(  # noqa: S603 - our own CLI, no shell
                [*cmd, "--workers", str(workers), "--threads", str(THREADS)], env=full_env, cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError, HTTPException):
                conn = HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            time.sleep(0.3)
        raise SystemExit(f"server not ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after a grace period."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # workers left behind by a dead master


Req = tuple[str, str, bytes | None, dict[str, str]]  # method, path, body, headers
_client_counter = iter(range(1, 1 << 24))
_counter_lock = threading.Lock()


def client_ip() -> str:
    """A new client address for every request (many citizens and couriers, none near a rate limit)."""
    with _counter_lock:
        n = next(_client_counter)
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def request(method: str, path: str, body: Any = None, **headers: str) -> Req:
    """A request ready to send (JSON body encoded now, not while measuring)."""
    hdrs = {"X-Forwarded-For": client_ip(), "Accept": "application/json", **headers}
    data = None
    if body is not None:
        data = json.dumps(body, ensure_ascii=False).encode()
        hdrs["Content-Type"] = "application/json"
    return method, path, data, hdrs


@dataclass
class Sample:
    """Latencies and outcomes of one endpoint (accumulated over its slices)."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0
    first_error: str = ""
    cpu: Counter[str] = field(default_factory=Counter)  # CPU seconds by party (see CpuMeter)
    slices: list[tuple[int, float]] = field(default_factory=list)  # (requests, seconds) of each run_phase


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(stat.parent.name))
    return kids


@dataclass
class CpuMeter:
    """CPU seconds spent during a phase by each party: the gunicorn processes, the database's server processes
    (PostgreSQL client backends of the bench database, so not autovacuum, which after the growth to 1M items
    can cost more than the requests; SQLite runs inside gunicorn), Redis, and this load generator. The
    meter's own connection is counted too: leaving it out, a pooled connection that had done the growth
    counted its whole past when the next reading came through another connection.

    Throughput on a shared 2-core machine moves with whatever else runs; the CPU a request costs the whole
    system moves much less, so it is printed beside each rate (``cpu ms/req``) as the capacity figure.
    """

    server_pid: int
    db: Database
    redis_url: str

    def read(self) -> dict[str, float]:
        """Cumulative CPU seconds by party, now."""
        backends: list[int] = []
        if self.db.dialect == "postgresql":
            with self.db.engine.connect() as conn:
                backends = list(conn.execute(text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_type = 'client backend'")).scalars())
        redis = Redis.from_url(self.redis_url, socket_connect_timeout=2)
        try:
            info = redis.info("cpu")
        finally:
            redis.close()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "web": sum(_proc_cpu(p) for p in [self.server_pid, *_children(self.server_pid)]),
            "database": sum(_proc_cpu(p) for p in backends),
            "redis": float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
            "load generator": usage.ru_utime + usage.ru_stime,
            "_backends": float(len(backends)),
        } | {f"_pid{p}": _proc_cpu(p) for p in backends}

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> Counter[str]:
        """CPU seconds by party between two readings (a backend that appeared meanwhile counts from zero)."""
        out: Counter[str] = Counter()
        for party in ("web", "redis", "load generator"):
            out[party] = after[party] - before[party]
        out["database"] = sum(v - before.get(k, 0.0) for k, v in after.items() if k.startswith("_pid"))
        return out


def run_phase(port: int, lists: list[list[Req]], ok: set[int], sample: Sample) -> None:
    """Send each list on its own keep-alive connection, all at once; add the outcome to ``sample``."""
    barrier = threading.Barrier(len(lists) + 1)
    lat: list[list[float]] = [[] for _ in lists]
    errors: list[list[str]] = [[] for _ in lists]

    def worker(k: int) -> None:
        conn = HTTPConnection("127.0.0.1", port, timeout=120)
        barrier.wait()
        for method, path, body, headers in lists[k]:
            if STOP.is_set():
                break
            started = time.perf_counter()
            status, data = send(conn, method, path, body, headers)
            lat[k].append(time.perf_counter() - started)
            if status not in ok:
                errors[k].append(f"{status} {method} {path}: {data[:300]!r}")
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(len(lists))]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    elapsed = time.perf_counter() - started
    sample.seconds += elapsed
    sample.slices.append((sum(len(x) for x in lat), elapsed))
    for k in range(len(lists)):
        sample.latencies.extend(lat[k])
        sample.errors += len(errors[k])
        if errors[k] and not sample.first_error:
            sample.first_error = errors[k][0]


def send(conn: HTTPConnection, method: str, path: str, body: bytes | None,
         headers: dict[str, str]) -> tuple[int, bytes]:
    """One request on a keep-alive connection, reconnecting once if the server closed it."""
    for attempt in range(2):
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (HTTPException, OSError) as exc:
            conn.close()
            if attempt:
                return 599, str(exc).encode()
    return 599, b""


def measure(port: int, endpoints: dict[str, tuple[list[list[Req]], set[int]]], slices: int = SLICES,
            meter: CpuMeter | None = None) -> dict[str, Sample]:
    """Run the endpoints alternately, each in ``slices`` parts (per-connection order kept)."""
    samples = {name: Sample() for name in endpoints}
    for h in range(slices):
        for name, (lists, ok) in endpoints.items():
            part = [lst[len(lst) * h // slices:len(lst) * (h + 1) // slices] for lst in lists]
            cpu_before = meter.read() if meter is not None else {}
            run_phase(port, part, ok, samples[name])
            if meter is not None:
                samples[name].cpu.update(CpuMeter.spent(cpu_before, meter.read()))
    return samples


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def spread(items: list[Any], n: int) -> list[list[Any]]:
    """``items`` dealt to ``n`` connections."""
    return [items[k::n] for k in range(n)]


def login(port: int, username: str) -> str:
    """Log the courier in through the log-in form; returns the session cookie."""
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login", headers={"X-Forwarded-For": client_ip()})
    resp = conn.getresponse()
    html = resp.read().decode()
    cookie = (resp.getheader("Set-Cookie") or "").split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if token is None:
        raise SystemExit("no CSRF token on /login")
    form = urlencode({"username": username, "password": PASSWORD, "csrf_token": token.group(1)})
    conn.request("POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie, "X-Forwarded-For": client_ip()})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    if resp.status != 302:
        raise SystemExit(f"log-in refused ({resp.status})")
    return (resp.getheader("Set-Cookie") or "").split(";")[0]


class OutboxDrain:
    """Stand-in for the RQ workers: marks dispatched outbox messages done (nothing else runs them here)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-drain", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            with contextlib.suppress(SQLAlchemyError), self.db.engine.begin() as conn:
                conn.execute(update(OutboxMessage).where(
                    OutboxMessage.done_at.is_(None), OutboxMessage.dispatched_at.is_not(None)).values(done_at=utcnow()))

    def stop(self) -> None:
        """Stop draining."""
        self._stop.set()
        self._thread.join(5)


# --- profiling ----------------------------------------------------------------------------------------------


class Profiler:
    """py-spy sampling the gunicorn workers while a phase runs; ``top()`` summarises where the time went."""

    def __init__(self, server: Server, out: Path) -> None:
        self.out = out
        pyspy = Path(sys.executable).parent / "py-spy"
        self.proc: subprocess.Popen[bytes] | None = None
        if not pyspy.exists():
            print("    (py-spy not installed: pip install -e '.[dev]')")
            return
        self.proc = subprocess.Popen(  # noqa: S603 - our own venv's py-spy
            [str(pyspy), "record", "--pid", str(server.proc.pid), "--subprocesses", "--rate", "200",
             "--format", "raw", "--output", str(out), "--nonblocking", "--idle"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(1.5)  # attach

    def stop(self) -> None:
        """Stop sampling (py-spy writes its file on SIGINT)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def top(self, n: int = 18) -> list[tuple[str, float]]:
        """Where the request samples went: by layer (first), then this project's functions (inclusive)."""
        if not self.out.exists():
            return []
        layers: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        total = 0
        for line in self.out.read_text(errors="replace").splitlines():
            stack, _sep, count = line.rpartition(" ")
            frames = stack.split(";")
            if not count.isdigit() or not any("wsgi_app" in f for f in frames):
                continue  # idle threads waiting for work, the master, the outbox relay's thread
            total += int(count)
            layers[_layer(frames)] += int(count)
            for name in {_frame_name(f) for f in frames}:
                if name:
                    inclusive[name] += int(count)
        if not total:
            return []
        return [(f"[layer] {k}", 100 * c / total) for k, c in layers.most_common()] + [
            (k, 100 * c / total) for k, c in inclusive.most_common(n)]


_LAYERS = (("psycopg/", "database round trips (psycopg, incl. waiting)"),
           ("sqlite3", "database (sqlite3)"),
           ("redis/", "redis (rate limit, RQ push)"),
           ("jinja2/", "templates (jinja2)"),
           ("sqlalchemy/", "SQLAlchemy (Python side)"))


def _layer(frames: list[str]) -> str:
    for key, layer in _LAYERS:
        if any(key in f for f in frames):
            return layer
    leaf = frames[-1] if frames else ""
    return "project code (Python)" if _frame_name(leaf) else "flask/werkzeug/gunicorn/other"


def _frame_name(frame: str) -> str:
    """``function (path)`` for a frame of this project's code, else ''."""
    match = re.match(r"(.+?) \((.+?)(?::\d+)?\)$", frame.strip())
    if match is None:
        return ""
    func, path = match.groups()
    if "site-packages" in path or not any(f"{part}/" in path for part in ("tracking", "web", "logistics", "config")):
        return ""
    return f"{func} ({path.split(str(ROOT) + '/')[-1]})"


# --- query plans --------------------------------------------------------------------------------------------


def explain(fx: Fixture, target: tuple[int, str, int], code: str) -> list[str]:
    """The plans of the hot paths' SELECTs, captured from real requests in this process (one scan, three reads)."""
    from config.settings import Settings  # noqa: PLC0415 - the web stack only for this
    from web import create_app  # noqa: PLC0415

    app = create_app(Settings(env="test", database_url=fx.db.url, secret_key=SECRET, label_signing_key=SIGNING_KEY,
                              inprocess_jobs=False, bench_endpoints=True), db=fx.db, start_jobs=False)
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    client.post("/login", data={"username": fx.username, "password": PASSWORD,
                                "csrf_token": token.group(1) if token else ""})
    signer = LabelSigner([SIGNING_KEY.encode()])
    captured: list[tuple[str, str, Any]] = []
    label = [""]

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "rate_limit" not in statement:
            captured.append((label[0], statement, parameters))

    requests: list[tuple[str, Callable[[], Any]]] = [
        ("scan", lambda: client.post("/api/v1/scans", json={
            "qr": signer.tracking_url("https://x", target[1]), "event": "collected",
            "idempotency_key": str(uuid.uuid4()), "seal_number": "NP-0001", "documents": fx.docs.get(target[2], []),
            "id_number_last4": "4321"})),
        ("tracking api", lambda: client.get(f"/api/v1/tracking/{code}")),
        ("tracking page", lambda: client.get(f"/t/{code}?s={signer.sign(code)}")),
        ("ceiling read", lambda: client.get(f"/api/bench/read/{code}")),
    ]
    event.listen(fx.db.engine, "before_cursor_execute", capture)
    try:
        for name, call in requests:
            label[0] = name
            call()
    finally:
        event.remove(fx.db.engine, "before_cursor_execute", capture)
    lines = []
    with fx.db.engine.connect() as conn:
        for name, statement, parameters in captured:
            plan = [row[0] for row in conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) " + statement, parameters)]
            access = sorted({m.group(0) for ln in plan for m in [re.search(
                r"(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)( Backward)?( using \w+)? on \w+", ln)] if m})
            took = next((ln.split(":")[1].strip() for ln in plan if ln.startswith("Execution Time")), "?")
            tables = re.search(r"FROM (\w+)", statement)
            lines.append(f"{name:<13} {tables.group(1) if tables else '?':<22} {took:>10}  {'; '.join(access)}")
        conn.rollback()
    return lines


# --- one round of measurements ------------------------------------------------------------------------------


@dataclass
class Round:
    """What a round needs: the fixture, the running server, the courier's cookie, the plan."""

    fx: Fixture
    server: Server
    cookie: str
    plan: Plan
    report: Report
    profile_dir: Path | None
    signer: LabelSigner = field(default_factory=lambda: LabelSigner([SIGNING_KEY.encode()]))

    @property
    def meter(self) -> CpuMeter:
        """CPU accounting of the measured phases."""
        return CpuMeter(self.server.proc.pid, self.fx.db, self.server.redis_url)

    def scan(self, code: str, proc: int, event: str) -> dict[str, Any]:
        """One valid scan of ``event`` for the item."""
        raw: dict[str, Any] = {"qr": self.signer.tracking_url("https://x", code), "event": event,
                               "idempotency_key": str(uuid.uuid4()), "lat": 9.18, "lon": 105.15,
                               "device_time": utcnow().isoformat()}
        if event == "collected":
            raw.update(seal_number="NP-0001", documents=self.fx.docs.get(proc, []), id_number_last4="4321")
        return raw

    def scan_lists(self, targets: list[tuple[int, str, int]]) -> list[list[dict[str, Any]]]:
        """Each connection's scans: its items collected, then arrived, then left (in order per item)."""
        return [[self.scan(c, p, e) for e in EVENTS for _o, c, p in group]
                for group in spread(targets, self.plan.connections)]

    def post_scans(self, lists: list[list[dict[str, Any]]]) -> list[list[Req]]:
        """One scan per request."""
        return [[request("POST", "/api/v1/scans", raw, Cookie=self.cookie) for raw in lst] for lst in lists]

    def post_batches(self, lists: list[list[dict[str, Any]]]) -> list[list[Req]]:
        """BATCH scans per request."""
        return [[request("POST", "/api/v1/scans", {"scans": lst[i:i + BATCH]}, Cookie=self.cookie)
                 for i in range(0, len(lst), BATCH)] for lst in lists]

    def ceiling_writes(self, targets: list[tuple[int, str, int]]) -> list[list[Req]]:
        """The ceiling: as many writes per item as scans."""
        return [[request("POST", "/api/bench/write", {"order_id": o, "idempotency_key": str(uuid.uuid4())})
                 for _e in EVENTS for o, _c, _p in group] for group in spread(targets, self.plan.connections)]

    def new_targets(self, n: int) -> list[tuple[int, str, int]]:
        """``n`` freshly generated items waiting for collection."""
        first, last = self.fx.gen.items(n, targets=True)
        return targets_of(self.fx, first, last)

    def run(self) -> None:
        """Scans then reads, on the current database."""
        n, per_item = self.plan.connections, len(EVENTS)
        targets = {"warm": self.new_targets(n * 4), "single": self.new_targets(self.plan.scans // per_item),
                   "ceiling": self.new_targets(self.plan.scans // per_item),
                   "batch": self.new_targets(self.plan.batches * BATCH // per_item)}
        explain_target = self.new_targets(1)[0]
        self.fx.gen.settle()
        items, events = counts(self.fx.db)
        if self.fx.backend == "postgresql":
            plans = explain(self.fx, explain_target, item_code(self.fx.filler[-1][1]))
            self.report.explains[f"{items:,} items"] = plans
            print("\n".join(f"    EXPLAIN {line}" for line in plans), flush=True)
        print(f"  measuring: {self.fx.backend} {items:,} items / {events:,} events", flush=True)
        self.scans(targets, items, events)
        self.reads(items, events)

    def _result(self, name: str, sample: Sample, units_per_request: int, items: int, events: int) -> Result:
        lat = sample.latencies
        r = Result(self.fx.backend, items, events, name, len(lat), len(lat) * units_per_request, sample.seconds,
                   1000 * percentile(lat, 50), 1000 * percentile(lat, 99), 1000 * sum(lat) / max(1, len(lat)),
                   sample.errors, sample.first_error,
                   {party: round(1000 * s / max(1, r_units), 3) for party, s in sample.cpu.items()
                    if (r_units := len(lat) * units_per_request)},
                   [round(n * units_per_request / sec, 1) if n and sec > 0 else None for n, sec in sample.slices])
        self.report.results.append(r)
        unit = "scans/s" if name.startswith("scan") or name == "ceiling write" else "req/s"
        cpu = (f"  cpu {sum(r.cpu_ms.values()):5.2f} ms/{unit.split('/', maxsplit=1)[0][:-1]} ("
               + ", ".join(f"{party} {ms:.2f}" for party, ms in r.cpu_ms.items()) + ")") if r.cpu_ms else ""
        print(f"    {name:<16} {r.requests:>6} req  {r.per_s:8.0f} {unit:<8} p50 {r.p50_ms:6.1f} ms  "
              f"p99 {r.p99_ms:6.1f} ms{cpu}" + (f"  ERRORS {r.errors}: {r.first_error}" if r.errors else ""),
              flush=True)
        return r

    def scans(self, targets: dict[str, list[tuple[int, str, int]]], items: int, events: int) -> None:
        """Single scans and batches beside the write ceiling."""
        warm = targets["warm"]
        # Warm-up: every connection, thread and worker has run the path once before the clock starts.
        measure(self.server.port, {
            "warm scans": (self.post_scans(self.scan_lists(warm)), {200, 201}),
            "warm ceiling": (self.ceiling_writes(warm), {201}),
        }, slices=1)
        endpoints = {
            "ceiling write": (self.ceiling_writes(targets["ceiling"]), {201}),
            "scan single": (self.post_scans(self.scan_lists(targets["single"])), {200, 201}),
            f"scan batch{BATCH}": (self.post_batches(self.scan_lists(targets["batch"])), {200}),
        }
        samples = measure(self.server.port, endpoints, meter=self.meter)
        for name, sample in samples.items():
            self._result(name, sample, BATCH if "batch" in name else 1, items, events)
        if self.profiling:
            extra = self.new_targets(self.plan.scans // len(EVENTS))
            self.profiled("scan single", self.post_scans(self.scan_lists(extra)), {200, 201})

    def reads(self, items: int, events: int) -> None:
        """Tracking reads of random finished items beside the read ceiling."""
        n, reads = self.plan.connections, self.plan.reads
        ranges = self.fx.filler
        weights = [last - first + 1 for first, last in ranges]

        def codes(k: int) -> list[str]:  # uniform over every finished item
            picked = random.choices(ranges, weights=weights, k=k)
            return [item_code(random.randint(first, last)) for first, last in picked]

        def lists(make: Callable[[str, int], Req], k: int) -> list[list[Req]]:
            return spread([make(code, j) for j, code in enumerate(codes(k))], n)

        tokens = self.fx.tokens
        makers: dict[str, Callable[[str, int], Req]] = {
            "ceiling read": lambda c, _j: request("GET", f"/api/bench/read/{c}"),
            "tracking api": lambda c, _j: request("GET", f"/api/v1/tracking/{c}"),
            "tracking page": lambda c, _j: request("GET", f"/t/{c}?s={self.signer.sign(c)}", Accept="text/html"),
            "order api": lambda c, j: request("GET", f"/api/v1/orders/{c}",
                                              Authorization=f"Bearer {tokens[j % len(tokens)]}"),
        }
        measure(self.server.port, {f"warm {k}": (lists(m, n * 5), {200}) for k, m in makers.items()}, slices=1)
        samples = measure(self.server.port, {k: (lists(m, reads), {200}) for k, m in makers.items()},
                          meter=self.meter)
        for name, sample in samples.items():
            self._result(name, sample, 1, items, events)
        if self.profiling:
            for name in ("tracking api", "tracking page"):
                self.profiled(name, lists(makers[name], reads), {200})

    @property
    def profiling(self) -> bool:
        """Whether this round profiles (PostgreSQL's first round, with --profile)."""
        return self.profile_dir is not None and self.fx.backend == "postgresql"

    def profiled(self, name: str, lists: list[list[Req]], ok: set[int]) -> None:
        """Run one endpoint alone under py-spy (not counted in the results)."""
        if self.profile_dir is None:
            return
        profiler = Profiler(self.server, self.profile_dir / f"pg-{name.replace(' ', '-')}.txt")
        try:
            run_phase(self.server.port, lists, ok, Sample())
        finally:
            profiler.stop()
        self.report.profiles[f"postgresql {name}"] = profiler.top()


# --- the run ------------------------------------------------------------------------------------------------


def server_env(url: str, redis_url: str) -> dict[str, str]:
    """The production-shaped environment of the served app, with the bench ceilings on."""
    return {"DATABASE_URL": url, "REDIS_URL": redis_url, "SECRET_KEY": SECRET, "LABEL_SIGNING_KEY": SIGNING_KEY,
            "TRUSTED_PROXIES": "1", "DOSSIERPOST_BENCH_ENDPOINTS": "1", "LOG_LEVEL": "WARNING",
            "DOSSIERPOST_ENV": "development"}


def pick_redis(base: str) -> str:
    """An empty Redis database (its keys are deleted at the end)."""
    for n in (14, 13, 12, 11, 10):
        url = f"{base.rstrip('/')}/{n}"
        conn = Redis.from_url(url, socket_connect_timeout=2)
        try:
            if conn.dbsize() == 0:
                return url
        finally:
            conn.close()
    raise SystemExit("no empty Redis database among 10-14")


def clean_redis(url: str) -> None:
    """Delete what the run left in Redis (RQ's queues and jobs, rate-limit counters)."""
    conn = Redis.from_url(url, socket_connect_timeout=2)
    try:
        for pattern in ("rq:*", "dossierpost:*"):
            keys = list(conn.scan_iter(pattern, count=1000))
            for i in range(0, len(keys), 1000):
                conn.delete(*keys[i:i + 1000])
    finally:
        conn.close()


@contextlib.contextmanager
def serving(stack: contextlib.ExitStack, fx: Fixture, redis_url: str, plan: Plan, log: Path) -> Iterator[Server]:
    """The server and the outbox stand-in for one round."""
    server = Server(server_env(fx.db.url, redis_url), plan.workers, log)
    stack.callback(server.stop)
    drain = OutboxDrain(fx.db)
    try:
        yield server
    finally:
        drain.stop()
        server.stop()


def bench_backend(stack: contextlib.ExitStack, fx: Fixture, args: argparse.Namespace, *, plan: Plan, report: Report,
                  tmp: Path) -> None:
    """Both rounds on one backend (the large one on PostgreSQL only)."""
    log = tmp / f"server-{fx.backend}.log"
    started = time.perf_counter()
    fx.filler.append(fx.gen.items(plan.small, targets=False))
    fx.gen.settle()
    print(f"  {plan.small:,} items generated in {time.perf_counter() - started:.1f} s", flush=True)
    profile_dir = (args.profile_dir or tmp) if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    with serving(stack, fx, args.redis_url, plan, log) as server:
        Round(fx, server, login(server.port, fx.username), plan, report, profile_dir).run()
    if fx.backend != "postgresql" or args.no_large:
        return
    print(f"  growing to {plan.large:,} items (~{plan.large * 10:,} events) with server-side SQL", flush=True)
    started = time.perf_counter()
    first = fx.gen.next_index
    fx.gen.grow(plan.large - plan.small)
    fx.filler.append((first, fx.gen.next_index - 1))
    grown = f"grew PostgreSQL by {plan.large - plan.small:,} items in {time.perf_counter() - started:.0f} s"
    report.notes.append(grown)
    print(f"  {grown}", flush=True)
    with serving(stack, fx, args.redis_url, plan, log) as server:
        Round(fx, server, login(server.port, fx.username), plan, report, None).run()


def pg_database(stack: contextlib.ExitStack, admin: str, name: str) -> str | None:
    """A fresh PostgreSQL database dropped at exit; None when the server is not reachable."""
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL: skipped ({exc.__class__.__name__})")
        return None

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    stack.callback(drop)
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


# --- report -------------------------------------------------------------------------------------------------


def find(report: Report, backend: str, items_min: int, items_max: int, name: str) -> Result | None:
    """The result of ``name`` on ``backend`` with an item count in the range."""
    for r in report.results:
        if r.backend == backend and r.name == name and items_min <= r.items <= items_max:
            return r
    return None


def sizes(report: Report, backend: str) -> list[int]:
    """The distinct database sizes measured on ``backend``, smallest first."""
    return sorted({r.items for r in report.results if r.backend == backend})


def paired_ratio(path: Result, ceiling: Result) -> float:
    """The median of the per-slice ratios of ``path`` to ``ceiling`` (the ratio of totals without slices)."""
    pairs = [a / b for a, b in zip(path.slice_per_s, ceiling.slice_per_s, strict=False) if a and b]
    if len(pairs) < 3:  # a median of fewer says nothing more than the totals
        return path.per_s / ceiling.per_s if ceiling.per_s else 0.0
    pairs.sort()
    mid = len(pairs) // 2
    return pairs[mid] if len(pairs) % 2 else (pairs[mid - 1] + pairs[mid]) / 2


def check_targets(report: Report) -> None:
    """The issue's targets, from the results (ratios: the median of paired slices, see ``paired_ratio``)."""
    for backend in ("sqlite", "postgresql"):
        for items in sizes(report, backend):
            ceiling = find(report, backend, items, items, "ceiling write")
            single = find(report, backend, items, items, "scan single")
            batch = find(report, backend, items, items, f"scan batch{BATCH}")
            where = f"{backend} {items:,} items"
            if ceiling and single:
                ratio = paired_ratio(single, ceiling)
                report.targets.append(Target(f"{where}: scan single / ceiling write", ratio, ">= 0.60", ratio >= 0.6))
            if single and batch:
                ratio = paired_ratio(batch, single)
                report.targets.append(Target(f"{where}: batch / single scans/s", ratio, ">= 3", ratio >= 3))
            read_ceiling = find(report, backend, items, items, "ceiling read")
            for name in ("tracking api", "tracking page"):
                r = find(report, backend, items, items, name)
                if r and read_ceiling:
                    ratio = paired_ratio(r, read_ceiling)
                    report.targets.append(Target(f"{where}: {name} / ceiling read", ratio, ">= 0.50", ratio >= 0.5))
    pg = sizes(report, "postgresql")
    if len(pg) >= 2:
        for name in ("tracking api", "tracking page"):
            small = find(report, "postgresql", pg[0], pg[0], name)
            large = find(report, "postgresql", pg[-1], pg[-1], name)
            if small and large and small.p99_ms:
                ratio = large.p99_ms / small.p99_ms
                report.targets.append(Target(f"postgresql: {name} p99 at {pg[-1]:,} / at {pg[0]:,} items", ratio,
                                             "<= 1.5", ratio <= 1.5))


def print_tables(report: Report, plan: Plan) -> None:
    """The results beside their ceilings, the targets and the growth table."""
    vs = {"scan single": "ceiling write", f"scan batch{BATCH}": "scan single", "tracking api": "ceiling read",
          "tracking page": "ceiling read", "order api": "ceiling read"}
    print(f"\n== HTTP, gunicorn {plan.workers} workers x {THREADS} threads, {plan.connections} keep-alive connections"
          " (scans/s for scan paths, req/s for reads; ratio = path / the row named in 'vs') ==")
    print(f"{'backend':<10} {'items':>9} {'events':>10}  {'path':<15} {'req':>5} {'per s':>8} {'p50 ms':>7} "
          f"{'p99 ms':>7}  {'vs':<13} {'ratio':>6}")
    for r in report.results:
        ref = find(report, r.backend, r.items, r.items, vs.get(r.name, ""))
        ratio = f"{r.per_s / ref.per_s:6.2f}" if ref and ref.per_s else ""
        print(f"{r.backend:<10} {r.items:>9,} {r.events:>10,}  {r.name:<15} {r.requests:>5} {r.per_s:>8.0f} "
              f"{r.p50_ms:>7.1f} {r.p99_ms:>7.1f}  {vs.get(r.name, '') if ref else '':<13} {ratio:>6}"
              + (f"  errors {r.errors}" if r.errors else ""))
    pg = sizes(report, "postgresql")
    if len(pg) >= 2:
        print(f"\n== Growth, PostgreSQL: time per operation at {pg[0]:,} vs {pg[-1]:,} items "
              "(mean and p99 latency under the same load; a batch request carries 200 scans) ==")
        print(f"{'operation':<16} {'mean ms':>8} {'p99 ms':>7} {'per s':>7}   {'mean ms':>8} {'p99 ms':>7} "
              f"{'per s':>7}   {'p99 x':>6}")
        for name in dict.fromkeys(r.name for r in report.results if r.backend == "postgresql"):
            a, b = find(report, "postgresql", pg[0], pg[0], name), find(report, "postgresql", pg[-1], pg[-1], name)
            if a and b:
                print(f"{name:<16} {a.mean_ms:>8.1f} {a.p99_ms:>7.1f} {a.per_s:>7.0f}   {b.mean_ms:>8.1f} "
                      f"{b.p99_ms:>7.1f} {b.per_s:>7.0f}   {b.p99_ms / a.p99_ms if a.p99_ms else 0:>6.2f}")
    print("\n== Targets (issue #8; a ratio is the median of the paired slices' ratios) ==")
    for t in report.targets:
        print(f"  {'ok  ' if t.ok else 'MISS'} {t.check}: {t.value:.2f} (target {t.target})")


def print_details(report: Report) -> None:
    """Query plans, profiles and notes."""
    for key, plans in report.explains.items():
        print(f"\n== EXPLAIN ANALYZE of the hot paths' SELECTs at {key} (request, first table, time, access paths) ==")
        for line in plans:
            print(f"  {line}")
    for key, rows in report.profiles.items():
        print(f"\n== py-spy profile {key}: inclusive share of request samples ==")
        for name, share in rows:
            print(f"  {share:5.1f}%  {name}")
    for note in report.notes:
        print(f"  note: {note}")


# --- main ---------------------------------------------------------------------------------------------------


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def plan_of(args: argparse.Namespace) -> Plan:
    """The run's sizes and server shape from the command line."""
    plan = QUICK if args.quick else FULL
    if args.large:
        plan = Plan(**{**asdict(plan), "large": args.large})
    if args.connections:
        plan = Plan(**{**asdict(plan), "connections": args.connections})
    if args.threads:
        global THREADS  # noqa: PLW0603 - one run, one server shape
        THREADS = args.threads
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run (~2 min)")
    parser.add_argument("--profile", action="store_true", help="py-spy the PostgreSQL workers in the first round")
    parser.add_argument("--profile-dir", type=Path, help="keep py-spy's raw stacks here (default: discarded)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--connections", type=int, help="keep-alive connections of the load generator")
    parser.add_argument("--threads", type=int, help="threads per gunicorn worker")
    parser.add_argument("--no-large", action="store_true", help="skip growing PostgreSQL to the large size")
    parser.add_argument("--large", type=int, help="items of the large PostgreSQL round")
    parser.add_argument("--pg-admin", default="host=127.0.0.1 port=5432 dbname=postgres user=postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server (an empty db 10-14 is used)")
    args = parser.parse_args()
    plan = plan_of(args)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background (SIG_IGN)
    report = Report()
    started = time.perf_counter()
    print(f"bench_http: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; plan {plan}", flush=True)
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench_http_") as tmp_name:
        stack.callback(STOP.set)
        tmp = Path(tmp_name)
        args.redis_url = pick_redis(args.redis)
        stack.callback(clean_redis, args.redis_url)
        try:
            if not args.no_sqlite:
                print("SQLite:", flush=True)
                fx = prepare(f"sqlite:///{tmp / 'bench.db'}", "sqlite")
                stack.callback(fx.db.dispose)
                bench_backend(stack, fx, args, plan=plan, report=report, tmp=tmp)
            url = pg_database(stack, args.pg_admin, f"bench_http_{os.getpid()}")
            if url is not None:
                print("PostgreSQL:", flush=True)
                fx = prepare(url, "postgresql")
                stack.callback(fx.db.dispose)
                bench_backend(stack, fx, args, plan=plan, report=report, tmp=tmp)
        except KeyboardInterrupt:
            print("\ninterrupted: cleaning up", flush=True)
            raise
        finally:
            STOP.set()
    check_targets(report)
    print_tables(report, plan)
    print_details(report)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    print("BENCH_JSON " + json.dumps({
        "bench": "bench_http", "quick": args.quick, "workers": plan.workers, "threads": THREADS,
        "connections": plan.connections,
        "results": [{**asdict(r), "per_s": round(r.per_s, 1)} for r in report.results],
        "targets": [asdict(t) for t in report.targets],
        "profiles": report.profiles, "explains": report.explains, "notes": report.notes,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
