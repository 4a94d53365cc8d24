"""A courier's daily run: the day's pickups and deliveries ordered into a short route.

Nearest neighbour from the post office, then 2-opt until no exchange shortens the closed tour; distances are
geodesic (geopy) between the stops' points (the geocoded address, else the commune's centroid; the agency desk
for hand-overs and result collection). Stops at the same point are visited together.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from typing import Any

from geopy.distance import geodesic
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.db import utcnow
from logistics.accounts.models import User
from logistics.agencies.models import PostOffice
from logistics.orders.errors import RoutingError
from logistics.orders.models import Leg, Order, OrderState
from logistics.routing.couriers import OPEN_STATES
from logistics.routing.models import CourierRun

Point = tuple[float, float]
EPSILON_M = 1e-6  # 2-opt stops when no exchange saves more than this

ACTION_TEXT = {
    "pickup": "Thu gom hồ sơ tại nhà người dân",
    "deliver_to_agency": "Giao hồ sơ cho bộ phận một cửa",
    "collect_from_agency": "Nhận kết quả tại bộ phận một cửa",
    "deliver_to_citizen": "Phát kết quả cho người dân",
}


@dataclass(frozen=True)
class Stop:
    """One thing to do at one place."""

    order_id: int
    item_code: str
    action: str
    point: Point
    label: str  # who: the applicant or the agency
    address: str

    def to_json(self) -> dict[str, Any]:
        """As stored in ``CourierRun.stops``."""
        return {"order_id": self.order_id, "item_code": self.item_code, "action": self.action,
                "lat": self.point[0], "lon": self.point[1], "label": self.label, "address": self.address}


def _citizen_point(order: Order) -> Point | None:
    point = (order.dossier.routing or {}).get("point")
    if isinstance(point, list) and len(point) == 2:  # noqa: PLR2004 - [lat, lon]
        return float(point[0]), float(point[1])
    unit = order.dossier.admin_unit
    return (unit.lat, unit.lon) if unit.lat is not None and unit.lon is not None else None


def stop_for(order: Order) -> Stop | None:
    """What the courier does for ``order`` today, and where (None when nothing is to be done)."""
    d = order.dossier
    agency = d.agency
    agency_point = (agency.lat, agency.lon) if agency.lat is not None and agency.lon is not None else None
    citizen = (d.applicant_name, f"{d.address_text}, {d.admin_unit.name}")
    at_agency = (agency.name, agency.address)
    collecting = order.state in (OrderState.CREATED, OrderState.ASSIGNED)
    if order.leg == Leg.PICKUP:
        action, point, (label, address) = (("pickup", _citizen_point(order), citizen) if collecting
                                           else ("deliver_to_agency", agency_point, at_agency))
    else:
        action, point, (label, address) = (("collect_from_agency", agency_point, at_agency) if collecting
                                           else ("deliver_to_citizen", _citizen_point(order), citizen))
    if point is None:
        return None
    return Stop(order.id, order.item_code, action, point, label, address)


def route_length(depot: Point, points: list[Point]) -> float:
    """Metres of the closed tour depot → points in order → depot."""
    tour = [depot, *points, depot]
    return sum(float(geodesic(a, b).meters) for a, b in itertools.pairwise(tour))


def _matrix(points: list[Point]) -> list[list[float]]:
    n = len(points)
    m = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            m[i][j] = m[j][i] = 0.0 if points[i] == points[j] else float(geodesic(points[i], points[j]).meters)
    return m


def order_stops(depot: Point, points: list[Point]) -> list[int]:
    """Visiting order (indices into ``points``) of a short closed tour from ``depot``: NN + 2-opt.

    Stops at the same point (one address, or one commune's centroid for addresses not geocoded) are one
    place to the tour and visited together, in creation order: a busy courier's 300 items in a few dozen
    places cost a few dozen squared distances, not 300 squared (geodesic distances are ~40 µs each).
    """
    places: dict[Point, list[int]] = {}
    for i, point in enumerate(points):
        places.setdefault(point, []).append(i)
    unique = list(places)
    return [i for place in _tour(depot, unique) for i in places[unique[place]]]


def _tour(depot: Point, points: list[Point]) -> list[int]:
    """Visiting order of distinct ``points``: nearest neighbour from the depot, then 2-opt."""
    if len(points) <= 1:
        return list(range(len(points)))
    pts = [depot, *points]
    dist = _matrix(pts)
    n = len(pts)
    tour = [0]
    left = set(range(1, n))
    while left:
        last = tour[-1]
        nxt = min(left, key=lambda j: (dist[last][j], j))
        tour.append(nxt)
        left.remove(nxt)
    tour.append(0)
    improved = True
    while improved:
        improved = False
        for i in range(1, n - 1):
            for k in range(i + 1, n):
                a, b, c, e = tour[i - 1], tour[i], tour[k], tour[k + 1]
                delta = dist[a][c] + dist[b][e] - dist[a][b] - dist[c][e]
                if delta < -EPSILON_M:
                    tour[i:k + 1] = reversed(tour[i:k + 1])
                    improved = True
    return [j - 1 for j in tour[1:-1]]


@dataclass(frozen=True)
class RunPlan:
    """A planned run: stops in order, its length, and the length in creation order for comparison."""

    courier_id: int
    post_office_id: int
    run_date: date
    depot: Point
    stops: list[Stop]
    total_m: float
    baseline_m: float

    @property
    def ratio(self) -> float:
        """Planned length / creation-order length (below 1 is shorter)."""
        return self.total_m / self.baseline_m if self.baseline_m else 1.0


def plan_stops(courier_id: int, office: PostOffice, day: date, stops: list[Stop]) -> RunPlan:
    """Order given stops into a run from and back to ``office``."""
    depot = (office.lat, office.lon)
    by_creation = sorted(stops, key=lambda s: s.order_id)
    order = order_stops(depot, [s.point for s in by_creation])
    planned = [by_creation[i] for i in order]
    return RunPlan(courier_id, office.id, day, depot, planned, route_length(depot, [s.point for s in planned]),
                   route_length(depot, [s.point for s in by_creation]))


def plan_run(session: Session, courier: User, day: date) -> RunPlan:
    """Plan ``courier``'s run for ``day`` over their open orders, and keep it (replacing an earlier plan)."""
    if courier.post_office_id is None:
        raise RoutingError("Bưu tá chưa thuộc bưu cục nào.")
    office = session.get(PostOffice, courier.post_office_id)
    if office is None:
        raise RoutingError("Không tìm thấy bưu cục của bưu tá.")
    orders = session.scalars(
        select(Order).where(Order.courier_id == courier.id, Order.state.in_(OPEN_STATES)).order_by(Order.id)
    ).unique()
    stops = [s for o in orders if (s := stop_for(o)) is not None]
    plan = plan_stops(courier.id, office, day, stops)
    run = session.scalar(select(CourierRun).where(CourierRun.courier_id == courier.id, CourierRun.run_date == day))
    if run is None:
        run = CourierRun(courier_id=courier.id, post_office_id=office.id, run_date=day)
        session.add(run)
    run.post_office_id = office.id
    run.stops = [s.to_json() for s in plan.stops]
    run.total_m = plan.total_m
    run.baseline_m = plan.baseline_m
    run.planned_at = utcnow()
    session.flush()
    return plan


def saved_run(session: Session, courier_id: int, day: date) -> CourierRun | None:
    """The kept plan of a courier's day, if planned."""
    return session.scalar(select(CourierRun).where(CourierRun.courier_id == courier_id, CourierRun.run_date == day))
