"""Bulk import: 10,000 CSV rows into a fresh SQLite database through the real intake (events, outbox rows).

Half the rows name the commune by code, half only by a free-text address in the old or new structure (with
and without diacritics), so the address matcher is measured too. Prints rows/s.
"""

from __future__ import annotations

import csv
import io
import random
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

import config.models  # noqa: F401 - every table mapped
from config.db import Database
from config.migrate import upgrade
from logistics.agencies.models import AdminUnit, Procedure, Scheme, UnitLevel
from logistics.agencies.refdata import load_reference_data
from logistics.orders.imports import create_batch, run_import
from logistics.orders.models import Channel
from logistics.text import strip_diacritics
from tracking.services import book_pickups

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000


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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        db = Database(url)
        with db.unit_of_work() as s:
            load_reference_data(s)
        content = make_csv(db, ROWS)
        create = partial(book_pickups, indicator="RA", channel=Channel.IMPORT, actor_role="import")
        started = time.perf_counter()
        with db.unit_of_work() as s:
            batch_id = create_batch(s, "bench.csv", content).id
        batch = run_import(db, batch_id, create)
        elapsed = time.perf_counter() - started
        print(f"import: {batch.total_rows} rows in {elapsed:.1f} s = {batch.total_rows / elapsed:,.0f} rows/s "
              f"(created {batch.created_count}, needs review {batch.review_count}, errors {batch.error_count}) "
              f"on SQLite")
        started = time.perf_counter()
        with db.unit_of_work() as s:
            again = create_batch(s, "bench.csv", content).id
        batch = run_import(db, again, create)
        elapsed = time.perf_counter() - started
        print(f"re-run of the same file: {batch.existing_count} already there, {batch.created_count} created, "
              f"{elapsed:.1f} s")
        db.dispose()


if __name__ == "__main__":
    main()
