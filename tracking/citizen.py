"""The citizen's choice of where the result is delivered (when it differs from the pickup address).

Only a citizen who proved the dossier is theirs reaches this (the public page's verification); the choice
can be changed until the result leaves for delivery, and the courier app shows it for the result leg.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from config.db import Base, UTCDateTime, utcnow
from logistics.agencies.models import AdminUnit
from logistics.orders.models import Dossier, Leg, Order, OrderState, ServiceForm
from logistics.orders.services import resolve_commune
from tracking.errors import TrackingError

MAX_ADDRESS: Final = 400
# Until the courier leaves with the result, the address can still change.
CHANGEABLE: Final = frozenset({OrderState.CREATED, OrderState.ASSIGNED, OrderState.COLLECTED,
                               OrderState.AT_POST_OFFICE})


class ResultAddress(Base):
    """Where the citizen wants the result delivered; absent: the pickup address."""

    __tablename__ = "result_addresses"

    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), primary_key=True)
    address_text: Mapped[str] = mapped_column(String(MAX_ADDRESS))
    admin_unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), index=True)  # 2025 commune
    chosen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    admin_unit: Mapped[AdminUnit] = relationship(lazy="joined")


class AddressRefused(TrackingError):  # noqa: N818 - reads as the fact it reports
    """The result address cannot be set (bad input, a send-only dossier, the result already on its way)."""

    code = "address_refused"


def result_address(session: Session, dossier_id: int) -> ResultAddress | None:
    """The citizen's chosen result address, if any."""
    return session.get(ResultAddress, dossier_id)


def delivery_address(session: Session, dossier: Dossier) -> tuple[str, AdminUnit]:
    """Where the result goes: the chosen address, else the pickup address."""
    chosen = result_address(session, dossier.id)
    if chosen is not None:
        return chosen.address_text, chosen.admin_unit
    return dossier.address_text, dossier.admin_unit


def choose_result_address(session: Session, dossier: Dossier, *, address: str, commune_code: str) -> ResultAddress:
    """Record (or change) the result address; the commune may be given in the old or the new structure."""
    if dossier.service_form == ServiceForm.SEND_ONLY:
        raise AddressRefused("Hồ sơ chỉ gửi đi, không có chiều trả kết quả. / A send-only dossier has no result "
                             "delivery.")
    result_leg = session.scalar(select(Order).where(Order.dossier_id == dossier.id, Order.leg == Leg.RESULT))
    if result_leg is not None and result_leg.state not in CHANGEABLE:
        raise AddressRefused("Kết quả đã được chuyển đi, không thể đổi địa chỉ. / The result is already on its way.")
    text = " ".join(address.split())
    if not text:
        raise AddressRefused("Cần địa chỉ nhận kết quả. / An address is required.", details={"field": "address"})
    if len(text) > MAX_ADDRESS:
        raise AddressRefused(f"Địa chỉ tối đa {MAX_ADDRESS} ký tự. / At most {MAX_ADDRESS} characters.",
                             details={"field": "address"})
    unit = resolve_commune(session, commune_code.strip())
    if unit is None:
        raise AddressRefused("Xã/phường không hợp lệ. / Unknown commune.", details={"field": "commune_code"})
    row = session.get(ResultAddress, dossier.id)
    if row is None:
        row = ResultAddress(dossier_id=dossier.id, address_text=text, admin_unit_id=unit.id)
        session.add(row)
    else:
        row.address_text, row.admin_unit_id = text, unit.id
    row.chosen_at = utcnow()
    session.flush()
    session.refresh(row)
    return row
