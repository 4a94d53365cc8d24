"""The citizen's read model: what the public tracking page may show, without personal data."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, lazyload

from logistics.agencies.models import Agency, PostOffice
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


def _place(ev: TrackingEvent, office_name: str | None, agency_name: str | None) -> str | None:
    if agency_name or office_name:
        return agency_name or office_name
    if ev.lat is not None and ev.lon is not None:
        return f"GPS {ev.lat:.4f}, {ev.lon:.4f}"
    return None


def _reason(ev: TrackingEvent) -> str | None:
    if ev.kind == EventKind.DELIVERY_FAILED and ev.reason_code in set(FailureReason):
        return FAILURE_TEXT[FailureReason(ev.reason_code)]
    return None


# What the public view reads of an order: its dossier with the procedure and agency (names only shown), nothing
# else (no post office, no administrative units, no checklist), in one statement.
_PUBLIC_LOAD: Final = (
    lazyload("*"),
    joinedload(Order.dossier).lazyload("*"),
    joinedload(Order.dossier).joinedload(Dossier.procedure).lazyload("*"),
    joinedload(Order.dossier).joinedload(Dossier.agency).lazyload("*"),
)


def public_order(session: Session, item_code: str) -> Order:
    """The order with this (normalised) code, loaded for ``public_tracking``; ``OrderNotFound`` otherwise.

    ``logistics.orders.services.get_order`` loads everything an order page may need (eight tables and the
    procedure's checklist, two statements); the public view needs three of them.
    """
    order = session.scalar(select(Order).where(Order.item_code == item_code).options(*_PUBLIC_LOAD))
    if order is None:
        raise OrderNotFound(item_code)
    return order


def public_tracking(session: Session, order: Order) -> PublicTracking:
    """The public view of the dossier that ``order`` belongs to (both legs), using indexed reads only.

    One statement reads every leg with its events (``uq_orders_dossier_id_leg``, then
    ``ix_tracking_events_order_id_id``); the portal status is derived from what it read.
    """
    dossier = order.dossier
    rows = session.execute(
        select(Order.id, Order.item_code, Order.leg, Order.state, TrackingEvent, PostOffice.name, Agency.name)
        .outerjoin(TrackingEvent, TrackingEvent.order_id == Order.id)
        .outerjoin(PostOffice, PostOffice.id == TrackingEvent.post_office_id)
        .outerjoin(Agency, Agency.id == TrackingEvent.agency_id)
        .where(Order.dossier_id == dossier.id)
        .order_by(Order.id, TrackingEvent.id)
    ).all()
    legs: dict[int, PublicLeg] = {}
    for order_id, item_code, leg, state, ev, office_name, agency_name in rows:
        if order_id not in legs:
            legs[order_id] = PublicLeg(item_code, leg, LEG_TEXT[leg], state, STATE_TEXT[state], [])
        if ev is not None:
            legs[order_id].events.append(PublicEvent(ev.kind, EVENT_TEXT[ev.kind], ev.upu_code, ev.server_time,
                                                     _place(ev, office_name, agency_name), _reason(ev)))
    states = {leg.leg: leg.state for leg in legs.values()}
    status = derive_portal_status(  # as ``portal_status`` answers, from the rows already read
        states.get(Leg.PICKUP), states.get(Leg.RESULT),
        result_recorded=any(e.kind == EventKind.RESULT_READY for leg in legs.values() if leg.leg == Leg.PICKUP
                            for e in leg.events))
    return PublicTracking(
        item_code=order.item_code,
        applicant=mask_name(dossier.applicant_name),
        procedure=dossier.procedure.name,
        agency=dossier.agency.name,
        legs=list(legs.values()),
        portal_status=status,
        portal_text=PORTAL_TEXT[status],
    )


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
