"""The citizen's read model: what the public tracking page may show, without personal data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.agencies.models import Agency, PostOffice
from logistics.orders.models import Leg, Order, OrderState
from logistics.text import mask_name
from tracking.models import EventKind, TrackingEvent

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
    """One line of the public timeline."""

    kind: EventKind
    text: str
    upu_code: str | None
    time: datetime
    place: str | None


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


def public_tracking(session: Session, order: Order) -> PublicTracking:
    """The public view of the dossier that ``order`` belongs to (both legs), using indexed reads only."""
    dossier = order.dossier
    legs: list[PublicLeg] = []
    for leg_order in session.scalars(select(Order).where(Order.dossier_id == dossier.id).order_by(Order.id)):
        rows = session.execute(
            select(TrackingEvent, PostOffice.name, Agency.name)
            .outerjoin(PostOffice, PostOffice.id == TrackingEvent.post_office_id)
            .outerjoin(Agency, Agency.id == TrackingEvent.agency_id)
            .where(TrackingEvent.order_id == leg_order.id)
            .order_by(TrackingEvent.id)
        ).all()
        events = [
            PublicEvent(ev.kind, EVENT_TEXT[ev.kind], ev.upu_code, ev.server_time, agency_name or office_name)
            for ev, office_name, agency_name in rows
        ]
        legs.append(PublicLeg(leg_order.item_code, leg_order.leg, LEG_TEXT[leg_order.leg], leg_order.state,
                              STATE_TEXT[leg_order.state], events))
    return PublicTracking(
        item_code=order.item_code,
        applicant=mask_name(dossier.applicant_name),
        procedure=dossier.procedure.name,
        agency=dossier.agency.name,
        legs=legs,
    )
