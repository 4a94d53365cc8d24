"""The manager's figures: volumes per day, on-time rates, items at risk, failed attempts by reason.

On-time rates are given per agency, post office and procedure. Every figure is a plain table (header +
rows), so any of them exports as CSV/XLSX.

On time, for the post's part of the journey (Circular 17's J+n): a pickup leg is on time when it was handed
to the agency by the leg's due date, counted from its collection; a result leg when its first delivery
attempt happened by the due date counted from its collection at the agency (the clock stops at the first
attempt). The zone comes from the dossier's stored routing decision.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.agencies.models import Agency, PostOffice, Procedure
from logistics.calendar import add_working_days
from logistics.fees.models import Zone
from logistics.fees.services import leg_deadline
from logistics.orders.models import Dossier, Leg, Order, OrderState
from tracking.delivery import FAILURE_TEXT, FailureReason
from tracking.models import EventKind, TrackingEvent
from tracking.public import LEG_TEXT, STATE_TEXT

E = EventKind
DONE_EVENT: Final[dict[Leg, tuple[EventKind, ...]]] = {
    Leg.PICKUP: (E.HANDED_TO_AGENCY,),
    Leg.RESULT: (E.DELIVERED, E.DELIVERY_FAILED),  # the first attempt stops the clock
}
IN_TRANSIT: Final = (OrderState.COLLECTED, OrderState.AT_POST_OFFICE, OrderState.OUT_FOR_DELIVERY)


@dataclass
class Table:
    """A titled table: what the page shows and what the exports write."""

    name: str
    title: str
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class Dashboard:
    """The figures of one period."""

    start: date
    end: date
    volumes: Table
    on_time_agency: Table
    on_time_post_office: Table
    on_time_procedure: Table
    at_risk: Table
    failures: Table
    on_time_total: int = 0
    done_total: int = 0

    @property
    def on_time_rate(self) -> float | None:
        """Share of legs finished on time in the period (None when none finished)."""
        return self.on_time_total / self.done_total if self.done_total else None

    def tables(self) -> dict[str, Table]:
        """Every table by name (the export URLs name them)."""
        return {t.name: t for t in (self.volumes, self.on_time_agency, self.on_time_post_office,
                                    self.on_time_procedure, self.at_risk, self.failures)}


def _zone(dossier: Dossier) -> Zone:
    try:
        return Zone(str((dossier.routing or {}).get("zone", Zone.INTER_DISTRICT.value)))
    except ValueError:
        return Zone.INTER_DISTRICT


def _slip(dossier: Dossier) -> bool:
    return bool((dossier.routing or {}).get("appointment_slip"))


def _local_bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return datetime.combine(start, time.min, tzinfo=tz), datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)


def _rate_rows(groups: dict[str, list[bool]]) -> list[list[Any]]:
    counted = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [[name, len(flags), sum(flags), round(100 * sum(flags) / len(flags), 1) if flags else None]
            for name, flags in counted]


def dashboard(session: Session, *, start: date, end: date, tz_name: str = "Asia/Ho_Chi_Minh",
              today: date | None = None) -> Dashboard:
    """The figures from ``start`` to ``end`` (local dates, inclusive)."""
    tz = ZoneInfo(tz_name)
    lo, hi = _local_bounds(start, end, tz)
    today = today or datetime.now(tz).date()
    volumes = _volumes(session, start, end, lo=lo, hi=hi, tz=tz)
    rates, on_time_total, done_total = _on_time(session, lo, hi, tz_name)
    header = ["Tên", "Số bưu gửi đã xong", "Đúng hạn", "Tỷ lệ đúng hạn (%)"]
    return Dashboard(
        start=start, end=end, volumes=volumes,
        on_time_agency=Table("on_time_agency", "Tỷ lệ đúng hạn theo cơ quan", ["Cơ quan", *header[1:]],
                             _rate_rows(rates["agency"])),
        on_time_post_office=Table("on_time_post_office", "Tỷ lệ đúng hạn theo bưu cục", ["Bưu cục", *header[1:]],
                                  _rate_rows(rates["post_office"])),
        on_time_procedure=Table("on_time_procedure", "Tỷ lệ đúng hạn theo thủ tục", ["Thủ tục", *header[1:]],
                                _rate_rows(rates["procedure"])),
        at_risk=_at_risk(session, today, tz_name),
        failures=_failures(session, lo, hi),
        on_time_total=on_time_total, done_total=done_total,
    )


def _volumes(session: Session, start: date, end: date, *, lo: datetime, hi: datetime, tz: ZoneInfo) -> Table:
    counts: dict[date, Counter[str]] = {start + timedelta(days=n): Counter() for n in range((end - start).days + 1)}
    kinds = (E.CREATED, E.COLLECTED, E.HANDED_TO_AGENCY, E.DELIVERED, E.DELIVERY_FAILED)
    rows = session.execute(
        select(TrackingEvent.kind, TrackingEvent.server_time, Order.leg)
        .join(Order, Order.id == TrackingEvent.order_id)
        .where(TrackingEvent.server_time >= lo, TrackingEvent.server_time < hi, TrackingEvent.kind.in_(kinds))
    ).all()
    for kind, at, leg in rows:
        day = at.astimezone(tz).date()
        if day not in counts:
            continue
        if kind == E.CREATED and leg == Leg.PICKUP:
            counts[day]["booked"] += 1
        elif kind == E.COLLECTED and leg == Leg.PICKUP:
            counts[day]["collected"] += 1
        elif kind == E.HANDED_TO_AGENCY:
            counts[day]["handed"] += 1
        elif kind == E.DELIVERED:
            counts[day]["delivered"] += 1
        elif kind == E.DELIVERY_FAILED:
            counts[day]["failed"] += 1
    return Table(
        "volumes", "Sản lượng theo ngày",
        ["Ngày", "Đặt lịch", "Nhận hồ sơ", "Bàn giao cơ quan", "Phát thành công", "Phát không thành công"],
        [[d, c["booked"], c["collected"], c["handed"], c["delivered"], c["failed"]] for d, c in sorted(counts.items())],
    )


def _on_time(session: Session, lo: datetime, hi: datetime,
             tz_name: str) -> tuple[dict[str, dict[str, list[bool]]], int, int]:
    """Legs whose clock stopped in the period, grouped, with whether each was on time."""
    done_kinds = (E.HANDED_TO_AGENCY, E.DELIVERED, E.DELIVERY_FAILED)
    finished = session.execute(
        select(TrackingEvent.order_id, TrackingEvent.kind, TrackingEvent.server_time)
        .where(TrackingEvent.server_time >= lo, TrackingEvent.server_time < hi, TrackingEvent.kind.in_(done_kinds))
        .order_by(TrackingEvent.id)
    ).all()
    first_done: dict[int, datetime] = {}
    for order_id, _kind, at in finished:
        first_done.setdefault(order_id, at)
    groups: dict[str, dict[str, list[bool]]] = {"agency": defaultdict(list), "post_office": defaultdict(list),
                                                "procedure": defaultdict(list)}
    if not first_done:
        return groups, 0, 0
    ids = list(first_done)
    collected: dict[int, datetime] = {}
    earlier_done: set[int] = set()
    for order_id, kind, at in session.execute(
        select(TrackingEvent.order_id, TrackingEvent.kind, TrackingEvent.server_time)
        .where(TrackingEvent.order_id.in_(ids), TrackingEvent.kind.in_((E.COLLECTED, *done_kinds)))
        .order_by(TrackingEvent.id)
    ):
        if kind == E.COLLECTED:
            collected.setdefault(order_id, at)
        elif at < first_done[order_id]:
            earlier_done.add(order_id)  # a later attempt: the clock stopped before the period
    rows = session.execute(
        select(Order, Dossier, Agency.name, PostOffice.name, Procedure.name)
        .join(Dossier, Dossier.id == Order.dossier_id)
        .join(Agency, Agency.id == Dossier.agency_id)
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .outerjoin(PostOffice, PostOffice.id == Order.post_office_id)
        .where(Order.id.in_(ids))
    ).all()
    on_time_total = done_total = 0
    for order, dossier, agency_name, office_name, procedure_name in rows:
        if order.id in earlier_done or order.id not in collected:
            continue
        due = leg_deadline(collected[order.id], _zone(dossier), appointment_slip=_slip(dossier)).due
        ok = first_done[order.id].astimezone(ZoneInfo(tz_name)).date() <= due
        done_total += 1
        on_time_total += ok
        groups["agency"][agency_name].append(ok)
        groups["post_office"][office_name or "—"].append(ok)
        groups["procedure"][procedure_name].append(ok)
    return groups, on_time_total, done_total


def _at_risk(session: Session, today: date, tz_name: str) -> Table:
    """Legs in the post's hands whose due date is today or the next working day, or already past."""
    horizon = add_working_days(today, 1)
    rows = session.execute(
        select(Order, Dossier, TrackingEvent.server_time, PostOffice.name)
        .join(Dossier, Dossier.id == Order.dossier_id)
        .join(TrackingEvent, (TrackingEvent.order_id == Order.id) & (TrackingEvent.kind == E.COLLECTED))
        .outerjoin(PostOffice, PostOffice.id == Order.post_office_id)
        .where(Order.state.in_(IN_TRANSIT))
        .order_by(Order.id)
    ).all()
    out: list[list[Any]] = []
    seen: set[int] = set()
    for order, dossier, collected_at, office_name in rows:
        if order.id in seen:
            continue
        seen.add(order.id)
        due = leg_deadline(collected_at, _zone(dossier), appointment_slip=_slip(dossier)).due
        if due > horizon:
            continue
        status = "Quá hạn" if due < today else "Sắp đến hạn"
        out.append([order.item_code, LEG_TEXT[order.leg], STATE_TEXT[order.state], due, status, office_name or "—",
                    dossier.agency.name])
    del tz_name
    out.sort(key=lambda r: (r[3], r[0]))
    return Table("at_risk", "Bưu gửi có nguy cơ trễ hạn",
                 ["Mã bưu gửi", "Chiều", "Trạng thái", "Hạn", "Tình trạng", "Bưu cục", "Cơ quan"], out)


def _failures(session: Session, lo: datetime, hi: datetime) -> Table:
    counts = Counter(session.scalars(
        select(TrackingEvent.reason_code).where(TrackingEvent.kind == E.DELIVERY_FAILED,
                                                TrackingEvent.server_time >= lo, TrackingEvent.server_time < hi)
    ))
    rows = []
    for code, n in counts.most_common():
        try:
            text = FAILURE_TEXT[FailureReason(str(code))]
        except ValueError:
            text = str(code or "—")
        rows.append([text, n])
    return Table("failures", "Phát không thành công theo lý do", ["Lý do", "Số lần"], rows)
