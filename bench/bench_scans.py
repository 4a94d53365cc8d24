"""Scan-ingest throughput: one scan per transaction vs batches, SQLite and PostgreSQL, service vs HTTP.

Run from the repository root: ``python -m bench.bench_scans [--orders N] [--batch B] [--pg-admin DSN]``.
Each mode gets its own fresh orders and scans each of them three times (collected with the full checklist,
seal and ID digits; arrived at the post office; left it), so every scan is a real transition with its
requirements checked, its hash-chain link, its version check and its reactions (outbox rows).

* ``service single``: one ``record_scan`` per unit of work (a phone online, scan by scan).
* ``service batch``: ``record_scans`` of B scans per unit of work (an offline phone replaying its queue).
* ``http single`` / ``http batch``: the same through ``POST /api/v1/scans`` with a logged-in courier, in
  the Flask test client (the WSGI stack without a socket: routing, auth, JSON, unit of work, audit).

PostgreSQL is skipped when the server is not reachable.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select

import config.models  # noqa: F401 - every table mapped
from config.db import Database
from config.migrate import upgrade
from config.settings import Settings
from logistics.accounts.models import Role
from logistics.accounts.services import create_user
from logistics.agencies.models import AdminUnit, Procedure, ProcedureLevel, Scheme, UnitLevel
from logistics.agencies.refdata import load_reference_data
from logistics.labels.signing import LabelSigner
from logistics.orders.models import Channel, Order
from tracking.actors import Actor
from tracking.delivery import tracking_key
from tracking.scans import ScanContext, record_scan, record_scans
from tracking.services import book_pickup

PASSWORD = "bench-password-123"  # noqa: S105 - a throw-away bench database
SECRET = "bench-secret-key-0123456789abcdef0123"  # noqa: S105 - a throw-away bench key
SIGNING_KEY = "bench-label-key-0123456789abcdef"
EVENTS = ("collected", "arrived_post_office", "left_post_office")
Booked = list[tuple[int, str, int | None, list[dict[str, Any]]]]


def _book(db: Database, n: int) -> Booked:
    with db.unit_of_work() as s:
        commune = s.scalars(select(AdminUnit).where(
            AdminUnit.scheme == Scheme.V2025, AdminUnit.level == UnitLevel.COMMUNE).order_by(AdminUnit.code)).first()
        proc = s.scalars(select(Procedure).where(
            Procedure.by_post.is_(True), Procedure.level == ProcedureLevel.COMMUNE).order_by(Procedure.code)).first()
        if commune is None or proc is None:
            raise SystemExit("reference data missing")
        orders: list[Order] = []
        for _ in range(n):
            order, _created = book_pickup(s, {
                "applicant_name": "Nguyễn Thị Hồng Nhung", "phone": "0912345678", "address": "Số 3 Lưu Tấn Tài",
                "commune_code": commune.code, "procedure_code": proc.code, "service_form": "both",
            }, indicator="RA", channel=Channel.API)
            orders.append(order)
        docs = [{"id": d.id, "form": str(d.form), "quantity": d.quantity} for d in proc.documents if d.required]
        return [(o.id, o.item_code, o.post_office_id, docs) for o in orders]


def _scans(signer: LabelSigner, orders: Booked) -> list[dict[str, Any]]:
    raws = []
    for event in EVENTS:  # every order's first scan, then every order's second... (a realistic interleaving)
        for _id, code, _po, docs in orders:
            raw: dict[str, Any] = {"qr": signer.tracking_url("https://x", code), "event": event,
                                   "idempotency_key": str(uuid.uuid4()), "lat": 9.18, "lon": 105.15}
            if event == "collected":
                raw.update(seal_number="NP-0001", documents=docs, id_number_last4="4321")
            raws.append(raw)
    return raws


RATES: dict[tuple[str, str], float] = {}  # (backend, mode) -> scans/s, for the BENCH_JSON line


def _timed(label: str, count: int, run: Callable[[], int], backend: str = "") -> None:
    started = time.perf_counter()
    ok = run()
    elapsed = time.perf_counter() - started
    RATES[backend, label.split(maxsplit=1)[0] + (" batch" if "batch" in label else " single")] = count / elapsed
    print(f"  {label:<16} {count:>6} scans  {elapsed:6.2f} s  {count / elapsed:8.0f} scans/s  (accepted {ok})")


def bench(db: Database, backend: str, n_orders: int, batch: int) -> None:
    signer = LabelSigner([SIGNING_KEY.encode()])
    ctx = ScanContext(signer=signer, key=tracking_key(SECRET))
    print(f"{backend}:")

    orders = _book(db, n_orders)
    actor = Actor(role="courier", name="Nguyễn Văn Tới", post_office_id=orders[0][2])
    raws = _scans(signer, orders)

    def service_single() -> int:
        ok = 0
        for raw in raws:
            with db.unit_of_work() as s:
                ok += record_scan(s, raw, actor=actor, ctx=ctx).ok
        return ok

    _timed("service single", len(raws), service_single, backend)

    raws = _scans(signer, _book(db, n_orders))

    def service_batch() -> int:
        ok = 0
        for i in range(0, len(raws), batch):
            with db.unit_of_work() as s:
                ok += sum(o.ok for o in record_scans(s, raws[i:i + batch], actor=actor, ctx=ctx))
        return ok

    _timed(f"service batch{batch}", len(raws), service_batch, backend)

    from config.ratelimit import Limit  # noqa: PLC0415
    from web import create_app, limits  # noqa: PLC0415 - the web stack only for the HTTP modes

    # One courier sending over a thousand scans a minute from one address would be throttled (429) by the
    # per-caller API limits: lift them, as for the fuzz test; their cost stays in the measured path.
    limits.API_PER_ADDRESS = Limit("api-address-bench", 10**6, 60)
    limits.API_PER_TOKEN = Limit("api-token-bench", 10**6, 60)

    settings = Settings(env="test", database_url=db.url, secret_key=SECRET, label_signing_key=SIGNING_KEY,
                        inprocess_jobs=False)
    app = create_app(settings, db=db, start_jobs=False)
    client = app.test_client()
    with db.unit_of_work() as s:
        office_code = s.get(Order, orders[0][0]).post_office.code  # type: ignore[union-attr]
        username = f"bench{uuid.uuid4().hex[:8]}"
        create_user(s, username=username, full_name="Nguyễn Văn Tới", role=Role.COURIER, password=PASSWORD,
                    post_office_code=office_code)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    if token is None:
        raise SystemExit("no CSRF token on /login")
    client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)})

    raws = _scans(signer, _book(db, n_orders))

    def http_single() -> int:
        return sum(client.post("/api/v1/scans", json=raw).status_code == 201 for raw in raws)

    _timed("http single", len(raws), http_single, backend)

    raws = _scans(signer, _book(db, n_orders))

    def http_batch() -> int:
        ok = 0
        for i in range(0, len(raws), batch):
            resp = client.post("/api/v1/scans", json={"scans": raws[i:i + batch]})
            if resp.status_code >= 400:
                raise RuntimeError(f"batch refused: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
            ok += resp.get_json()["accepted"]
        return ok

    _timed(f"http batch{batch}", len(raws), http_batch, backend)


def _prepare(url: str) -> Database:
    upgrade(url)
    db = Database(url)
    with db.unit_of_work() as s:
        load_reference_data(s)
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 orders per mode: a smoke run")
    parser.add_argument("--orders", type=int, help="orders per mode (3 scans each; default 200, quick 40)")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pg-admin", default="host=127.0.0.1 port=5432 dbname=postgres user=postgres")
    parser.add_argument("--pg-db", default="dp_bench_scans")
    args = parser.parse_args()
    args.orders = args.orders or (40 if args.quick else 200)
    run(args)
    print_bench_json(args)


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = _prepare(f"sqlite:///{Path(tmp) / 'bench.db'}")
        bench(db, "SQLite", args.orders, args.batch)
        db.dispose()
    try:
        with psycopg.connect(args.pg_admin, autocommit=True, connect_timeout=2) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_db}"')
            conn.execute(f'CREATE DATABASE "{args.pg_db}" ENCODING \'UTF8\' TEMPLATE template0')
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL: skipped ({exc.__class__.__name__})")
        return
    db = _prepare(f"postgresql://postgres@127.0.0.1:5432/{args.pg_db}")
    try:
        bench(db, "PostgreSQL", args.orders, args.batch)
    finally:
        db.dispose()
        with psycopg.connect(args.pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_db}"')


def print_bench_json(args: argparse.Namespace) -> None:
    """The figures for bench/summary.py: each mode, HTTP beside the same work without the HTTP stack."""
    rows = []
    for backend in dict.fromkeys(b for b, _ in RATES):
        for mode, ceiling_mode in (("service single", None), ("service batch", "service single"),
                                   ("http single", "service single"), ("http batch", "service batch")):
            figure = RATES.get((backend, mode))
            if figure is None:
                continue
            ceiling = RATES.get((backend, ceiling_mode)) if ceiling_mode else None
            size = f"batches of {args.batch}" if "batch" in mode else "one per transaction"
            rows.append({"path": f"scans: {backend} {mode.split()[0]}, {size}", "figure": round(figure, 1),
                         "unit": "scans/s", "ceiling": None if ceiling is None else round(ceiling, 1),
                         "ceiling_path": ceiling_mode, "ratio": None if not ceiling else round(figure / ceiling, 3),
                         "target": None, "met": None})
    print("BENCH_JSON " + json.dumps({"bench": "bench_scans", "quick": args.quick, "rows": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
