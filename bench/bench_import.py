"""Order intake: a 10,000-row CSV import and single bookings, on SQLite and PostgreSQL, through the real intake.

Run from the repository root: ``python bench/bench_import.py [ROWS] [--quick] [--single N]``. Every order gets
its dossier, routing, S10 code, ``created`` event and outbox rows (label, notification), as in production.
Half the rows name the commune by code, half only by a free-text address in the old or new structure (with
and without diacritics), so the address matcher is measured too. Prints the import time and rows/s, the
re-run of the same file (nothing duplicated), and single bookings (one unit of work each, as a web form or
an API call) for comparison. Target (#3, #8): 10,000 rows on SQLite in under 30 s. PostgreSQL is skipped
when the server is not reachable.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import select

import config.models  # noqa: F401 - every table mapped
from config.db import Database
from config.migrate import upgrade
from logistics.agencies.models import AdminUnit, Procedure, Scheme, UnitLevel
from logistics.agencies.refdata import load_reference_data
from logistics.orders.imports import create_batch, read_rows, run_import
from logistics.orders.models import Channel
from logistics.text import strip_diacritics
from tracking.services import book_pickup, book_pickups


def make_csv(db: Database, rows: int) -> bytes:
    rng = random.Random(3)
    with db.unit_of_work() as s:
        communes = s.scalars(select(AdminUnit).where(AdminUnit.level == UnitLevel.COMMUNE)).all()
        new = [u for u in communes if u.scheme == Scheme.V2025]
        old = [u for u in communes if u.scheme == Scheme.LEGACY]
        procs = [p.code for p in s.scalars(select(Procedure).where(Procedure.by_post.is_(True)))]
        new_names = [u.name for u in new]
        old_names = [f"{u.name}, {u.parent.name}" for u in old if u.parent is not None]
        codes = [u.code for u in new]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["external_ref", "applicant_name", "phone", "address", "commune_code", "procedure_code",
                "service_form", "envelopes"])
    for i in range(rows):
        street = f"Số {rng.randint(1, 300)} Lý Thường Kiệt"
        if i % 2:
            address, code = street, rng.choice(codes)
        else:
            place = rng.choice(new_names if i % 4 else old_names)
            address = f"{street}, {place}"
            if i % 8 == 0:
                address = strip_diacritics(address).lower()
            code = ""
        w.writerow([f"BENCH-{i:06d}", "Nguyễn Văn An", f"09{rng.randint(10_000_000, 99_999_999)}", address, code,
                    rng.choice(procs), rng.choice(["send_only", "both"]), 1])
    return out.getvalue().encode()


def _fresh(url: str) -> Database:
    upgrade(url)
    db = Database(url)
    with db.unit_of_work() as s:
        load_reference_data(s)
    return db


def _single(db: Database, content: bytes, count: int) -> float:
    """Orders/s booked one by one, one unit of work each (a web form or a single API call)."""
    rows = [row.fields | {"external_ref": f"ONE-{row.fields['external_ref']}"}
            for row, _ in zip(read_rows("bench.csv", content), range(count), strict=False)]
    started = time.perf_counter()
    for raw in rows:
        with db.unit_of_work() as s:
            book_pickup(s, raw, indicator="RA", channel=Channel.API, actor_role="api")
    return len(rows) / (time.perf_counter() - started)


def _import(db: Database, content: bytes) -> tuple[float, float, int]:
    """(seconds for the file, seconds for re-running it, orders created)."""
    create = partial(book_pickups, indicator="RA", channel=Channel.IMPORT, actor_role="import")
    started = time.perf_counter()
    with db.unit_of_work() as s:
        batch_id = create_batch(s, "bench.csv", content).id
    batch = run_import(db, batch_id, create)
    elapsed = time.perf_counter() - started
    assert batch.created_count + batch.error_count == batch.total_rows  # noqa: S101 - a bench sanity check
    print(f"  import: {batch.total_rows} rows in {elapsed:.1f} s = {batch.total_rows / elapsed:,.0f} rows/s "
          f"(created {batch.created_count}, needs review {batch.review_count}, errors {batch.error_count})")
    started = time.perf_counter()
    with db.unit_of_work() as s:
        again = create_batch(s, "bench.csv", content).id
    batch = run_import(db, again, create)
    rerun = time.perf_counter() - started
    print(f"  re-run of the same file: {batch.existing_count} already there, {batch.created_count} created, "
          f"{rerun:.1f} s")
    return elapsed, rerun, batch.existing_count


def _pg_url(admin_dsn: str, name: str) -> str | None:
    try:
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as exc:
        print(f"  PostgreSQL skipped: {exc}".splitlines()[0])
        return None
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rows", nargs="?", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 rows, 50 single bookings")
    parser.add_argument("--single", type=int, default=300, help="orders booked one by one")
    parser.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    rows, single_count = (1_000, 50) if args.quick else (args.rows, args.single)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        print(f"SQLite ({rows} rows):")
        db = _fresh(f"sqlite:///{tmp}/bench.db")
        content = make_csv(db, rows)
        elapsed, rerun, _ = _import(db, content)
        single = _single(db, content, single_count)
        print(f"  single bookings: {single:,.0f} orders/s (one unit of work each, {single_count} orders)")
        results["SQLite"] = {"import_s": elapsed, "rows_per_s": rows / elapsed, "single": single, "rerun_s": rerun}
        db.dispose()
    name = "bench_import_pg"
    url = _pg_url(args.pg_admin, name)
    if url is not None:
        print(f"PostgreSQL ({rows} rows):")
        db = _fresh(url)
        try:
            elapsed, rerun, _ = _import(db, content)
            single = _single(db, content, single_count)
            print(f"  single bookings: {single:,.0f} orders/s (one unit of work each, {single_count} orders)")
            results["PostgreSQL"] = {"import_s": elapsed, "rows_per_s": rows / elapsed, "single": single,
                                     "rerun_s": rerun}
        finally:
            db.dispose()
            with psycopg.connect(args.pg_admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")
    print(f"\n{'backend':<11} {'import s':>9} {'rows/s':>8} {'single/s':>9} {'bulk/single':>12}")
    for backend, r in results.items():
        print(f"{backend:<11} {r['import_s']:>9.1f} {r['rows_per_s']:>8,.0f} {r['single']:>9,.0f} "
              f"{r['rows_per_s'] / r['single']:>11.1f}x")
    out_rows: list[dict[str, object]] = []
    for backend, r in results.items():
        target = rows >= 10_000 and backend == "SQLite"
        out_rows.append({"path": f"intake: bulk import of {rows:,} rows ({backend})", "figure": round(r["import_s"], 1),
                         "unit": "s", "target": "< 30 s" if target else None,
                         "met": r["import_s"] < 30 if target else None})
        out_rows.append({"path": f"intake: single bookings ({backend})", "figure": round(r["single"], 1),
                         "unit": "orders/s", "ceiling": None, "target": None, "met": None})
        out_rows.append({"path": f"intake: import vs single ({backend})", "figure": round(r["rows_per_s"], 1),
                         "unit": "rows/s", "ratio": round(r["rows_per_s"] / r["single"], 2), "target": None,
                         "met": None})
    print("BENCH_JSON " + json.dumps({"bench": "bench_import", "rows": out_rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
