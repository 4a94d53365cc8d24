"""The citizen's read model: what the public tracking page may show, without personal data."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session, joinedload, lazyload

from logistics.agencies.models import Agency, PostOffice, Procedure
from logistics.orders.errors import OrderNotFound
from logistics.orders.models import Dossier, Leg, Order, OrderState
from logistics.text import mask_name
from tracking.delivery import FAILURE_TEXT, FailureReason
from tracking.models import AgencyReceipt, EventKind, TrackingEvent
from tracking.portal import PORTAL_TEXT, PortalStatus, derive_portal_status

PHONE_DIGITS = 4

EVENT_TEXT: dict[EventKind, str] = {
    EventKind.CREATED: "Đăng ký",
    EventKind.ASSIGNED: "Phân công bưu tá",
    EventKind.COLLECTED: "Đã nhận hồ sơ từ người dân",
    EventKind.ARRIVED_POST_OFFICE: "Đến bưu cục",
    EventKind.LEFT_POST_OFFICE: "Rời bưu cục",
    EventKind.OUT_FOR_DELIVERY: "Đang chuyển phát",
    EventKind.HANDED_TO_AGENCY: "Đã bàn giao cho cơ quan",
    EventKind.RECEIPT_CONFIRMED: "Cơ quan xác nhận đã nhận",
    EventKind.REFUSED: "Cơ quan từ chối hồ sơ",
    EventKind.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung hồ sơ",
    EventKind.RESULT_READY: "Có kết quả",
    EventKind.DELIVERY_FAILED: "Phát không thành công",
    EventKind.DELIVERED: "Đã phát thành công",
    EventKind.RETURNED: "Đã hoàn trả",
    EventKind.CANCELLED: "Đã hủy",
    EventKind.LOST: "Thất lạc",
}

STATE_TEXT: dict[OrderState, str] = {
    OrderState.CREATED: "Đã tạo",
    OrderState.NEEDS_REVIEW: "Cần kiểm tra địa chỉ",
    OrderState.ASSIGNED: "Đã phân công",
    OrderState.COLLECTED: "Đã nhận hồ sơ",
    OrderState.AT_POST_OFFICE: "Tại bưu cục",
    OrderState.OUT_FOR_DELIVERY: "Đang chuyển phát",
    OrderState.HANDED_TO_AGENCY: "Đã bàn giao cho cơ quan",
    OrderState.ACCEPTED: "Cơ quan đã tiếp nhận",
    OrderState.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung hồ sơ",
    OrderState.REFUSED: "Cơ quan từ chối hồ sơ",
    OrderState.DELIVERY_FAILED: "Phát không thành công",
    OrderState.DELIVERED: "Đã phát thành công",
    OrderState.RETURNED: "Đã hoàn trả",
    OrderState.CANCELLED: "Đã hủy",
    OrderState.LOST: "Thất lạc",
}

LEG_TEXT: dict[Leg, str] = {Leg.PICKUP: "Chiều gửi hồ sơ", Leg.RESULT: "Chiều trả kết quả"}


@dataclass(frozen=True)
class PublicEvent:
    """One line of the public timeline: what, when (server time), where (office, agency or GPS point)."""

    kind: EventKind
    text: str
    upu_code: str | None
    time: datetime
    place: str | None
    reason: str | None = None  # why a delivery failed (from the fixed list; no free text)


@dataclass(frozen=True)
class PublicLeg:
    """One leg as the public sees it."""

    item_code: str
    leg: Leg
    leg_text: str
    state: OrderState
    state_text: str
    events: list[PublicEvent]


@dataclass(frozen=True)
class PublicTracking:
    """A dossier's journey with personal data masked."""

    item_code: str
    applicant: str  # masked
    procedure: str
    agency: str
    legs: list[PublicLeg]
    portal_status: PortalStatus = PortalStatus.REGISTERED
    portal_text: str = ""


@dataclass(frozen=True)
class PersonalDetails:
    """What the citizen sees after proving it is their dossier."""

    applicant_name: str
    phone: str
    address: str
    commune: str
    dossier_code: str | None
    submitted_at: datetime | None
    appointment_date: date | None


def _place(lat: float | None, lon: float | None, office_name: str | None, agency_name: str | None) -> str | None:
    if agency_name or office_name:
        return agency_name or office_name
    if lat is not None and lon is not None:
        return f"GPS {lat:.4f}, {lon:.4f}"
    return None


def _reason(kind: EventKind, reason_code: str | None) -> str | None:
    if kind == EventKind.DELIVERY_FAILED and reason_code in set(FailureReason):
        return FAILURE_TEXT[FailureReason(reason_code)]
    return None


# What the public view reads, in one prebuilt Core statement (no ORM objects; SQLAlchemy keeps the statement's
# cache key): the scanned order's dossier with its procedure and agency names, then every leg of that dossier
# with its events and their places. Each step is an index lookup (``uq_orders_item_code``, the primary keys,
# ``uq_orders_dossier_id_leg``, ``ix_tracking_events_order_id_id``), so it stays as fast at any size.
_T: Final = {name: cast("Table", model.__table__) for name, model in (
    ("orders", Order), ("dossiers", Dossier), ("procedures", Procedure), ("agencies", Agency),
    ("events", TrackingEvent), ("offices", PostOffice))}
_SCANNED: Final = _T["orders"].alias("scanned")
_LEG: Final = _T["orders"].alias("leg")
_EVENT_AGENCY: Final = _T["agencies"].alias("event_agency")
_D, _P, _A, _E, _PO = (_T[n].c for n in ("dossiers", "procedures", "agencies", "events", "offices"))
_PUBLIC_VIEW: Final = (
    select(_D.applicant_name, _P.name, _A.name, _LEG.c.id, _LEG.c.item_code, _LEG.c.leg, _LEG.c.state, _E.kind,
           _E.upu_code, _E.server_time, _E.lat, _E.lon, _E.reason_code, _PO.name, _EVENT_AGENCY.c.name)
    .select_from(
        _SCANNED.join(_T["dossiers"], _D.id == _SCANNED.c.dossier_id)
        .join(_T["procedures"], _P.id == _D.procedure_id)
        .join(_T["agencies"], _A.id == _D.agency_id)
        .join(_LEG, _LEG.c.dossier_id == _D.id)
        .outerjoin(_T["events"], _E.order_id == _LEG.c.id)
        .outerjoin(_T["offices"], _PO.id == _E.post_office_id)
        .outerjoin(_EVENT_AGENCY, _EVENT_AGENCY.c.id == _E.agency_id))
    .where(_SCANNED.c.item_code == bindparam("code"))
    .order_by(_LEG.c.id, _E.id)
)


def public_tracking(session: Session, item_code: str) -> PublicTracking:
    """The public view of the dossier that the item with this (normalised) code belongs to, both legs.

    ``OrderNotFound`` when no item has the code. One statement (``_PUBLIC_VIEW``); the portal status is derived
    from what it read.
    """
    rows = session.connection().execute(_PUBLIC_VIEW, {"code": item_code}).all()
    if not rows:
        raise OrderNotFound(item_code)
    applicant, procedure, agency = rows[0][:3]
    legs: dict[int, PublicLeg] = {}
    for (_a, _p, _g, order_id, code, leg, state, kind, upu_code, server_time, lat, lon, reason_code,
         office_name, agency_name) in rows:
        if order_id not in legs:
            legs[order_id] = PublicLeg(code, leg, LEG_TEXT[leg], state, STATE_TEXT[state], [])
        if kind is not None:
            legs[order_id].events.append(PublicEvent(kind, EVENT_TEXT[kind], upu_code, server_time,
                                                     _place(lat, lon, office_name, agency_name),
                                                     _reason(kind, reason_code)))
    states = {leg.leg: leg.state for leg in legs.values()}
    status = derive_portal_status(  # as ``portal_status`` answers, from the rows already read
        states.get(Leg.PICKUP), states.get(Leg.RESULT),
        result_recorded=any(e.kind == EventKind.RESULT_READY for leg in legs.values() if leg.leg == Leg.PICKUP
                            for e in leg.events))
    return PublicTracking(
        item_code=item_code,
        applicant=mask_name(applicant),
        procedure=procedure,
        agency=agency,
        legs=list(legs.values()),
        portal_status=status,
        portal_text=PORTAL_TEXT[status],
    )


# What the personal details read of an order: its dossier with the commune, in one statement.
_PERSONAL_LOAD: Final = (
    lazyload("*"),
    joinedload(Order.dossier).lazyload("*"),
    joinedload(Order.dossier).joinedload(Dossier.admin_unit),
)


def verified_order(session: Session, item_code: str) -> Order:
    """The order with this (normalised) code, for a citizen who proved it is theirs; ``OrderNotFound`` otherwise."""
    order = session.scalar(select(Order).where(Order.item_code == item_code).options(*_PERSONAL_LOAD))
    if order is None:
        raise OrderNotFound(item_code)
    return order


def phone_matches(order: Order, digits: str) -> bool:
    """Whether ``digits`` are the last four digits of the applicant's phone (constant-time comparison)."""
    clean = "".join(ch for ch in digits if ch.isdigit())
    expected = order.dossier.applicant_phone[-PHONE_DIGITS:]
    return len(clean) == PHONE_DIGITS and hmac.compare_digest(clean.encode(), expected.encode())


def personal_details(session: Session, order: Order) -> PersonalDetails:
    """The personal part of the dossier (only after ``phone_matches``)."""
    dossier = order.dossier
    receipt = session.scalar(
        select(AgencyReceipt).where(AgencyReceipt.dossier_id == dossier.id).order_by(AgencyReceipt.id.desc()).limit(1)
    )
    phone = dossier.applicant_phone
    local = "0" + phone[2:] if phone.startswith("84") else phone
    return PersonalDetails(
        applicant_name=dossier.applicant_name,
        phone=local,
        address=dossier.address_text,
        commune=dossier.admin_unit.full_name,
        dossier_code=dossier.dossier_code,
        submitted_at=receipt.submitted_at if receipt else None,
        appointment_date=dossier.appointment_date,
    )
