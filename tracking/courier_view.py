"""What the courier app shows: today's run, and for a scanned item the events allowed with their requirements.

The allowed events come from the transition table (``tracking.states``); this module only filters them to the
ones a courier records in the field and attaches what the courier must capture for each (the phone then asks
for exactly that). The app caches this per item, so a phone that goes offline can still offer the right
buttons; the server re-checks every scan when it arrives.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, time
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from logistics.accounts.models import Role, Staff, User
from logistics.agencies.models import DocumentForm
from logistics.orders.models import Leg, Order, OrderState, ServiceForm
from logistics.routing.runs import saved_run
from tracking.citizen import delivery_address
from tracking.delivery import FAILURE_TEXT, FailureReason
from tracking.models import EventKind
from tracking.public import LEG_TEXT, STATE_TEXT
from tracking.scans import SCANNABLE
from tracking.states import TERMINAL, allowed_events, can_transition, next_state

E = EventKind

# Events a courier records with the phone, in the order of the journey (what the scan API lets a courier
# scan; the hand-over to an agency goes through the hand-over record instead).
COURIER_EVENTS: Final[tuple[EventKind, ...]] = tuple(
    e for e in (E.COLLECTED, E.ARRIVED_POST_OFFICE, E.LEFT_POST_OFFICE, E.OUT_FOR_DELIVERY, E.DELIVERED,
                E.DELIVERY_FAILED, E.RETURNED)
    if e in SCANNABLE[str(Role.COURIER)]
)

# What the courier does, in the words of the button (the timeline's wording is the citizen's).
ACTION_TEXT: Final[dict[EventKind, str]] = {
    E.COLLECTED: "Nhận hồ sơ",
    E.ARRIVED_POST_OFFICE: "Đến bưu cục",
    E.LEFT_POST_OFFICE: "Rời bưu cục",
    E.OUT_FOR_DELIVERY: "Đi phát",
    E.DELIVERED: "Phát thành công",
    E.DELIVERY_FAILED: "Phát không thành công",
    E.RETURNED: "Hoàn trả",
}

# The fixed list of failed-attempt reasons, as the tracking core defines it.
FAILURE_REASONS: Final[tuple[tuple[str, str], ...]] = tuple((r.value, FAILURE_TEXT[r]) for r in FailureReason)

DOCUMENT_FORM_TEXT: Final[dict[DocumentForm, str]] = {
    DocumentForm.ORIGINAL: "Bản chính",
    DocumentForm.COPY: "Bản sao",
    DocumentForm.CERTIFIED_COPY: "Bản sao chứng thực",
}


@dataclass(frozen=True)
class ChecklistLine:
    """One document the courier counts at collection."""

    id: int  # the procedure document's id, sent back with the scan
    name: str
    form: str
    form_text: str
    quantity: int
    required: bool


@dataclass(frozen=True)
class Requirements:
    """What the courier must capture with an event."""

    checklist: list[ChecklistLine] = field(default_factory=list)
    seal_number: bool = False
    id_digits: bool = False  # the applicant's ID last 4 digits, recorded at collection for the result's delivery
    identity_check: bool = False
    one_time_code: bool = False
    failure_reasons: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class CourierAction:
    """One event the courier may record now."""

    event: str
    text: str
    next_state: str
    next_state_text: str
    requirements: Requirements


@dataclass(frozen=True)
class CourierItem:
    """A scanned or assigned item as the courier app needs it."""

    item_code: str
    leg: str
    leg_text: str
    state: str
    state_text: str
    applicant_name: str
    applicant_phone: str
    address: str
    procedure: str
    agency: str
    agency_code: str
    agency_address: str
    envelopes: int
    lat: float | None
    lon: float | None
    actions: list[CourierAction]
    # A pickup on its way to the agency desk is handed over through a hand-over record, not a scan.
    handover_ready: bool
    # The actions of every state the item can reach, so an offline phone can chain scans (collect, then
    # arrive at the office) before the server has answered; the server re-checks each on replay.
    plan: dict[str, list[CourierAction]]
    stop: int | None = None  # position in today's run

    def as_json(self) -> dict[str, Any]:
        """Plain JSON for the app (and its offline cache)."""
        return asdict(self)


def requirements_for(order: Order, event: EventKind) -> Requirements:
    """The courier-side requirements of ``event`` on ``order``."""
    if event == E.COLLECTED and order.leg == Leg.PICKUP:
        docs = [
            ChecklistLine(d.id, d.name, d.form.value, DOCUMENT_FORM_TEXT[d.form], d.quantity, d.required)
            for d in order.dossier.procedure.documents
        ]
        return Requirements(checklist=docs, seal_number=True,
                            id_digits=order.dossier.service_form == ServiceForm.BOTH)
    if event == E.COLLECTED:  # the result, collected at the agency desk against the slip, sealed
        return Requirements(seal_number=True)
    if event == E.DELIVERED:
        return Requirements(identity_check=True, one_time_code=True)
    if event == E.DELIVERY_FAILED:
        return Requirements(failure_reasons=list(FAILURE_REASONS))
    return Requirements()


def courier_actions(order: Order, state: OrderState | None = None) -> list[CourierAction]:
    """The courier events allowed in ``state`` (the order's own by default), in the order of the journey."""
    state = order.state if state is None else state
    allowed = allowed_events(order.leg, state)
    actions = []
    for event in COURIER_EVENTS:
        if event in allowed:
            after = next_state(order.leg, state, event)
            actions.append(CourierAction(event.value, ACTION_TEXT[event], after.value, STATE_TEXT[after],
                                         requirements_for(order, event)))
    return actions


def courier_plan(order: Order) -> dict[str, list[CourierAction]]:
    """The courier actions of each state the order may reach from now (see ``CourierItem.plan``)."""
    plan: dict[str, list[CourierAction]] = {}
    todo = [order.state]
    while todo:
        state = todo.pop()
        if state.value in plan:
            continue
        plan[state.value] = courier_actions(order, state)
        todo.extend(OrderState(a.next_state) for a in plan[state.value])
    return plan


def courier_item(session: Session, order: Order, stop: int | None = None) -> CourierItem:
    """The courier's view of one order (personal data included: the courier meets the citizen).

    A result leg goes to the address the citizen chose for the result, when they chose one.
    """
    d = order.dossier
    pickup_side = order.leg == Leg.PICKUP
    address, unit = (d.address_text, d.admin_unit) if pickup_side else delivery_address(session, d)
    return CourierItem(
        item_code=order.item_code,
        leg=order.leg.value,
        leg_text=LEG_TEXT[order.leg],
        state=order.state.value,
        state_text=STATE_TEXT[order.state],
        applicant_name=d.applicant_name,
        applicant_phone=d.applicant_phone,
        address=f"{address}, {unit.name}",
        procedure=d.procedure.name,
        agency=d.agency.name,
        agency_code=d.agency.code,
        agency_address=d.agency.address,
        envelopes=d.envelopes,
        lat=(unit.lat if pickup_side or order.state != OrderState.CREATED else d.agency.lat),
        lon=(unit.lon if pickup_side or order.state != OrderState.CREATED else d.agency.lon),
        actions=courier_actions(order),
        handover_ready=order.leg == Leg.PICKUP and can_transition(order.leg, order.state, E.HANDED_TO_AGENCY),
        plan=courier_plan(order),
        stop=stop,
    )


def may_handle(courier: User | Staff, order: Order) -> bool:
    """A courier handles their own assignments and the items of their post office."""
    return order.courier_id == courier.id or (
        courier.post_office_id is not None and order.post_office_id == courier.post_office_id
    )


def _run_order(orders: list[Order]) -> list[Order]:
    """Order stops not in a planned run into a short route: nearest neighbour from the post office.

    The dispatcher's planned run (``logistics.routing.runs``) is the authority; this orders what was assigned
    after the run was planned, or everything when no run was planned today.
    """
    if not orders:
        return []
    office = orders[0].post_office
    here = (office.lat, office.lon) if office else (orders[0].dossier.admin_unit.lat or 0.0,
                                                     orders[0].dossier.admin_unit.lon or 0.0)
    left = list(orders)
    route: list[Order] = []
    while left:
        def dist(o: Order, origin: tuple[float, float] = here) -> float:
            u = o.dossier.admin_unit
            return ((u.lat or 0.0) - origin[0]) ** 2 + ((u.lon or 0.0) - origin[1]) ** 2

        nxt = min(left, key=lambda o: (dist(o), o.id))
        left.remove(nxt)
        route.append(nxt)
        here = (nxt.dossier.admin_unit.lat or 0.0, nxt.dossier.admin_unit.lon or 0.0)
    return route


def courier_assignments(session: Session, courier: User | Staff, *, now: datetime | None = None,
                        tz_name: str = "Asia/Ho_Chi_Minh") -> list[CourierItem]:
    """The courier's open assignments in run order; items finished today stay listed (struck through)."""
    tz = ZoneInfo(tz_name)
    today = (now or datetime.now(tz)).astimezone(tz).date()
    start_of_day = datetime.combine(today, time.min, tzinfo=tz)
    orders = list(session.scalars(
        select(Order).where(
            Order.courier_id == courier.id,
            or_(Order.state.not_in(tuple(TERMINAL)), Order.updated_at >= start_of_day),
        ).order_by(Order.id)
    ))
    # The run the dispatcher planned for today (routing), then anything assigned since, in a short order.
    run = saved_run(session, courier.id, today)
    planned_ids = [int(stop["order_id"]) for stop in (run.stops if run else []) if "order_id" in stop]
    by_id = {o.id: o for o in orders}
    route = [by_id.pop(i) for i in dict.fromkeys(planned_ids) if i in by_id]
    route += _run_order(list(by_id.values()))
    return [courier_item(session, o, stop=n) for n, o in enumerate(route, start=1)]
