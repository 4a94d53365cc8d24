"""Route length of planned courier runs (nearest neighbour + 2-opt, geodesic) against creation order.

On the demo data (``seed_demo``): every post office's open pickups as one run from and back to the office,
planned vs visited in creation order. Prints each office and the overall ratio; then the same on a larger
demo (300 bookings), and the demo couriers' own runs after balanced assignment.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

import config.models
from config.db import Database
from config.migrate import upgrade
from logistics.agencies.models import PostOffice
from logistics.agencies.refdata import load_reference_data
from logistics.orders.models import Order, OrderState
from logistics.routing.couriers import active_couriers, plan_assignments
from logistics.routing.runs import plan_run, plan_stops, stop_for
from tracking.demo import seed_demo

TODAY = date(2026, 3, 2)  # a fixed Monday: the figures do not depend on the day the bench runs


def per_office(db: Database, label: str) -> tuple[float, float]:
    """Print each office's run; the total planned and creation-order lengths in metres."""
    total = baseline = 0.0
    lines = []
    started = time.perf_counter()
    with db.unit_of_work() as s:
        for office in s.scalars(select(PostOffice).order_by(PostOffice.code)):
            orders = s.scalars(select(Order).where(Order.post_office_id == office.id,
                                                   Order.state == OrderState.CREATED)).unique().all()
            stops = [st for o in orders if (st := stop_for(o)) is not None]
            if len(stops) < 3:
                continue
            plan = plan_stops(0, office, TODAY, stops)
            total += plan.total_m
            baseline += plan.baseline_m
            lines.append(f"  {office.code} {len(stops):3d} stops: {plan.total_m / 1000:7.1f} km planned vs "
                         f"{plan.baseline_m / 1000:7.1f} km creation order (ratio {plan.ratio:.2f})")
    print(f"{label}:")
    print("\n".join(lines))
    ratio = total / baseline if baseline else 1.0
    print(f"  overall: {total / 1000:.1f} km vs {baseline / 1000:.1f} km -> route-length ratio {ratio:.2f} "
          f"({(1 - ratio) * 100:.0f}% shorter), planned in {time.perf_counter() - started:.2f}s")
    return total, baseline


def courier_runs(db: Database) -> None:
    with db.unit_of_work() as s:
        office_id = next(c.post_office_id for c in s.scalars(select(config.models.User).where(
            config.models.User.username == "buuta1")))
        for order, courier in plan_assignments(s, office_id):
            order.courier_id, order.state = courier.id, OrderState.ASSIGNED
        s.flush()
        for courier in active_couriers(s, office_id):
            plan = plan_run(s, courier, TODAY)
            print(f"  {courier.username}: {len(plan.stops)} stops, {plan.total_m / 1000:.1f} km planned vs "
                  f"{plan.baseline_m / 1000:.1f} km creation order (ratio {plan.ratio:.2f})")


def main() -> None:
    quick = "--quick" in sys.argv[1:]  # the demo size only: a smoke run
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for bookings in (36,) if quick else (36, 300):
            url = f"sqlite:///{tmp}/routes{bookings}.db"
            upgrade(url)
            db = Database(url)
            with db.unit_of_work() as s:
                load_reference_data(s)
            with db.unit_of_work() as s:
                seed_demo(s, indicator="RA", bookings=bookings)
            total, baseline = per_office(db, f"demo data, {bookings} bookings, one run per post office")
            # Shorter is better: the figure is the planned length, beside visiting in creation order.
            rows.append({"path": f"routes: {bookings} bookings, planned vs creation order",
                         "figure": round(total / 1000, 1), "unit": "km", "ceiling": round(baseline / 1000, 1),
                         "ceiling_path": "creation order", "ratio": round(total / baseline, 3) if baseline else None,
                         "target": None, "met": None})
            if bookings == 300:
                print("demo couriers after balanced assignment:")
                courier_runs(db)
            db.dispose()
    print("BENCH_JSON " + json.dumps({"bench": "bench_routes", "quick": quick, "rows": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
