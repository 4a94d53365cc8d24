"""The dossier's status in the national portal's vocabulary (one-stop status codes 1–10).

Derived from the legs' states (never stored, so it cannot drift from the custody record). Code 6
(financial obligation requested) has no event in the postal flow yet and is never derived.
"""

from __future__ import annotations

import enum
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.orders.models import Dossier, Leg, Order, OrderState
from tracking.models import EventKind, TrackingEvent


class PortalStatus(enum.IntEnum):
    """One-stop status codes as used to sync with the national portal (channel 3 = public postal service)."""

    REGISTERED = 1
    RECEIVED = 2
    NOT_RECEIVED = 3
    PROCESSING = 4
    SUPPLEMENT_REQUESTED = 5
    FINANCIAL_OBLIGATION = 6
    WITHDRAWN = 7
    STOPPED = 8
    DONE = 9
    RESULT_RETURNED = 10


PORTAL_TEXT: Final[dict[PortalStatus, str]] = {
    PortalStatus.REGISTERED: "Mới đăng ký",
    PortalStatus.RECEIVED: "Đã tiếp nhận",
    PortalStatus.NOT_RECEIVED: "Không được tiếp nhận",
    PortalStatus.PROCESSING: "Đang xử lý",
    PortalStatus.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung",
    PortalStatus.FINANCIAL_OBLIGATION: "Yêu cầu thực hiện nghĩa vụ tài chính",
    PortalStatus.WITHDRAWN: "Công dân yêu cầu rút hồ sơ",
    PortalStatus.STOPPED: "Dừng xử lý",
    PortalStatus.DONE: "Đã xử lý xong",
    PortalStatus.RESULT_RETURNED: "Đã trả kết quả",
}

_PICKUP: Final[dict[OrderState, PortalStatus]] = {
    OrderState.REFUSED: PortalStatus.NOT_RECEIVED,
    OrderState.RETURNED: PortalStatus.NOT_RECEIVED,  # a refused dossier, back with the citizen
    OrderState.ACCEPTED: PortalStatus.RECEIVED,
    OrderState.SUPPLEMENT_REQUESTED: PortalStatus.SUPPLEMENT_REQUESTED,
    OrderState.CANCELLED: PortalStatus.WITHDRAWN,
    OrderState.LOST: PortalStatus.STOPPED,
}


def derive_portal_status(pickup_state: OrderState | None, result_state: OrderState | None,
                         *, result_recorded: bool) -> PortalStatus:
    """The status from the legs' states (pure; ``result_recorded``: a ``result_ready`` event exists)."""
    if result_state is not None:
        if result_state == OrderState.DELIVERED:
            return PortalStatus.RESULT_RETURNED
        return PortalStatus.STOPPED if result_state == OrderState.LOST else PortalStatus.DONE
    if result_recorded:
        return PortalStatus.DONE
    if pickup_state is None:
        return PortalStatus.REGISTERED
    return _PICKUP.get(pickup_state, PortalStatus.REGISTERED)


def portal_status(session: Session, dossier: Dossier) -> PortalStatus:
    """The dossier's current national-portal status."""
    rows = session.execute(select(Order.leg, Order.state).where(Order.dossier_id == dossier.id)).all()
    states: dict[Leg, OrderState] = {row.leg: row.state for row in rows}
    recorded = False
    pickup_id = session.scalar(select(Order.id).where(Order.dossier_id == dossier.id, Order.leg == Leg.PICKUP))
    if Leg.RESULT not in states and pickup_id is not None:
        recorded = session.scalar(select(TrackingEvent.id).where(
            TrackingEvent.order_id == pickup_id, TrackingEvent.kind == EventKind.RESULT_READY).limit(1)) is not None
    return derive_portal_status(states.get(Leg.PICKUP), states.get(Leg.RESULT), result_recorded=recorded)
