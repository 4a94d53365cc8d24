"""Order intake: validate a pickup request, route it, give it an S10 item code.

Services flush and never commit; the caller's unit of work commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from geopy.distance import geodesic
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from logistics.agencies.models import (
    AdminUnit,
    AdminUnitSuccessor,
    Agency,
    AgencyKind,
    PostOffice,
    PostOfficeArea,
    Procedure,
    ProcedureLevel,
    Scheme,
    UnitLevel,
)
from logistics.fees.models import FeeReduction, TariffRate, Zone
from logistics.labels.s10 import make_item_code
from logistics.orders.errors import OrderNotFound, RoutingError, ValidationError
from logistics.orders.models import (
    S10_SERIAL_SEQUENCE,
    Channel,
    Dossier,
    Leg,
    Order,
    OrderState,
    SerialCounter,
    ServiceForm,
)
from logistics.text import InvalidPhone, normalize_phone

MAX_ENVELOPES = 20
MAX_NOTES = 1000
BASE_WEIGHT_G = 100  # the booking does not weigh the dossier; the courier re-weighs at pickup


@dataclass(frozen=True)
class PickupRequest:
    """A validated request for a pickup order."""

    applicant_name: str
    phone: str
    address: str
    unit: AdminUnit  # the applicant's 2025 commune
    procedure: Procedure
    service_form: ServiceForm
    envelopes: int
    notes: str | None
    external_ref: str | None
    reduction: FeeReduction | None


def _text(
    raw: Mapping[str, Any], name: str, errors: dict[str, str], *, max_len: int, required: bool = True, label: str = ""
) -> str | None:
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[name] = f"Vui lòng nhập {label}. / {label} is required." if label else "Bắt buộc. / Required."
        return None
    if not isinstance(value, str):
        errors[name] = "Phải là chuỗi ký tự. / Must be a string."
        return None
    value = " ".join(value.split())
    if len(value) > max_len:
        errors[name] = f"Tối đa {max_len} ký tự. / At most {max_len} characters."
        return None
    return value


def resolve_commune(session: Session, code: str) -> AdminUnit | None:
    """Find the 2025 commune for a GSO code, accepting a legacy commune code and mapping it forward."""
    unit = session.scalar(
        select(AdminUnit).where(
            AdminUnit.scheme == Scheme.V2025, AdminUnit.level == UnitLevel.COMMUNE, AdminUnit.code == code
        )
    )
    if unit is not None:
        return unit
    legacy = aliased(AdminUnit)
    return session.scalar(
        select(AdminUnit)
        .join(AdminUnitSuccessor, AdminUnitSuccessor.unit_id == AdminUnit.id)
        .join(legacy, AdminUnitSuccessor.legacy_unit_id == legacy.id)
        .where(legacy.scheme == Scheme.LEGACY, legacy.level == UnitLevel.COMMUNE, legacy.code == code)
        .order_by(AdminUnitSuccessor.is_main.desc())
        .limit(1)
    )


def _phone(raw: Mapping[str, Any], errors: dict[str, str]) -> str | None:
    text = _text(raw, "phone", errors, max_len=30, label="số điện thoại / phone")
    if text is None:
        return None
    try:
        return normalize_phone(text)
    except InvalidPhone as exc:
        errors["phone"] = f"{exc} / Not a Vietnamese phone number."
        return None


def _commune(session: Session, raw: Mapping[str, Any], errors: dict[str, str]) -> AdminUnit | None:
    code = _text(raw, "commune_code", errors, max_len=10, label="xã/phường / commune")
    if code is None:
        return None
    unit = resolve_commune(session, code)
    if unit is None:
        errors["commune_code"] = "Không tìm thấy xã/phường này. / Unknown commune code."
    return unit


def _procedure(session: Session, raw: Mapping[str, Any], errors: dict[str, str]) -> Procedure | None:
    code = _text(raw, "procedure_code", errors, max_len=40, label="thủ tục / procedure")
    if code is None:
        return None
    procedure = session.scalar(select(Procedure).where(Procedure.code == code))
    if procedure is None:
        errors["procedure_code"] = "Không có thủ tục này trong danh mục. / Unknown procedure."
    elif not procedure.by_post:
        reason = procedure.in_person_reason or "thủ tục phải thực hiện trực tiếp"
        errors["procedure_code"] = (
            f"Thủ tục này không nhận qua bưu chính: {reason}. / This procedure must be done in person."
        )
        return None
    return procedure


def _service_form(raw: Mapping[str, Any], errors: dict[str, str]) -> ServiceForm | None:
    value = raw.get("service_form", ServiceForm.SEND_ONLY.value)
    if value in (ServiceForm.SEND_ONLY.value, ServiceForm.BOTH.value):
        return ServiceForm(value)
    errors["service_form"] = (
        "Hình thức phải là 'send_only' (chỉ gửi hồ sơ) hoặc 'both' (gửi hồ sơ và nhận kết quả). / "
        "Must be send_only or both."
    )
    return None


def _envelopes(raw: Mapping[str, Any], errors: dict[str, str]) -> int:
    value = raw.get("envelopes", 1)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        errors["envelopes"] = "Số phong bì phải là số nguyên. / Must be a whole number."
        return 1
    if not 1 <= value <= MAX_ENVELOPES:
        errors["envelopes"] = f"Số phong bì từ 1 đến {MAX_ENVELOPES}. / Between 1 and {MAX_ENVELOPES}."
    return value


def _reduction(session: Session, raw: Mapping[str, Any], errors: dict[str, str]) -> FeeReduction | None:
    code = _text(raw, "reduction_code", errors, max_len=40, required=False)
    if code is None:
        return None
    reduction = session.scalar(select(FeeReduction).where(FeeReduction.code == code))
    if reduction is None:
        errors["reduction_code"] = "Không có đối tượng miễn giảm này. / Unknown reduction group."
    return reduction


def validate_pickup_request(session: Session, raw: Mapping[str, Any]) -> PickupRequest:
    """Check every field of a pickup request; raise ``ValidationError`` listing all problems at once."""
    errors: dict[str, str] = {}
    name = _text(raw, "applicant_name", errors, max_len=200, label="họ tên / name")
    phone = _phone(raw, errors)
    address = _text(raw, "address", errors, max_len=400, label="địa chỉ / address")
    unit = _commune(session, raw, errors)
    procedure = _procedure(session, raw, errors)
    service_form = _service_form(raw, errors)
    envelopes = _envelopes(raw, errors)
    notes = _text(raw, "notes", errors, max_len=MAX_NOTES, required=False)
    external_ref = _text(raw, "external_ref", errors, max_len=100, required=False)
    reduction = _reduction(session, raw, errors)
    if errors or not (name and phone and address and unit and procedure and service_form):
        raise ValidationError(errors)
    return PickupRequest(name, phone, address, unit, procedure, service_form, envelopes, notes,
                         external_ref, reduction)


def route_agency(session: Session, procedure: Procedure, unit: AdminUnit) -> tuple[Agency, dict[str, Any]]:
    """Choose the competent agency and explain why.

    Province-level procedures go to the provincial service center. Since 1 July 2025 districts no longer
    exist: commune-level procedures and the former district-level ones are received by the applicant's
    commune desk.
    """
    inputs = {"procedure": procedure.code, "level": str(procedure.level), "commune": unit.code}
    if procedure.level == ProcedureLevel.PROVINCE or procedure.agency_kind == AgencyKind.PROVINCE_CENTER:
        agency = session.scalar(
            select(Agency).where(Agency.kind == AgencyKind.PROVINCE_CENTER, Agency.active.is_(True))
            .order_by(Agency.id).limit(1)
        )
        rule = "province_level_to_province_center"
        why = "Thủ tục cấp tỉnh: nộp tại Trung tâm Phục vụ hành chính công tỉnh."
    else:
        agency = session.scalar(
            select(Agency).where(
                Agency.kind == AgencyKind.COMMUNE_DESK, Agency.admin_unit_id == unit.id, Agency.active.is_(True)
            ).limit(1)
        )
        rule = "commune_desk_of_applicant" if procedure.level == ProcedureLevel.COMMUNE else (
            "former_district_level_to_commune_desk"
        )
        level_text = "xã" if procedure.level == ProcedureLevel.COMMUNE else "huyện (cũ)"
        why = f"Thủ tục cấp {level_text}: nộp tại bộ phận một cửa của {unit.name}."
    if agency is None:
        raise RoutingError(f"Không tìm thấy cơ quan tiếp nhận cho thủ tục {procedure.code} tại {unit.name}.")
    return agency, {"rule": rule, "inputs": inputs, "agency": agency.code, "explanation": why}


def serving_post_office(session: Session, unit: AdminUnit) -> PostOffice:
    """The post office serving a commune: by service area, else the nearest active one (geodesic)."""
    office = session.scalar(
        select(PostOffice).join(PostOfficeArea, PostOfficeArea.post_office_id == PostOffice.id)
        .where(PostOfficeArea.admin_unit_id == unit.id, PostOffice.active.is_(True)).limit(1)
    )
    if office is not None:
        return office
    offices = session.scalars(select(PostOffice).where(PostOffice.active.is_(True))).all()
    if not offices:
        raise RoutingError("Chưa có bưu cục nào trong dữ liệu tham chiếu.")
    if unit.lat is None or unit.lon is None:
        return offices[0]
    here = (unit.lat, unit.lon)
    return min(offices, key=lambda o: geodesic(here, (o.lat, o.lon)).meters)


def postage(session: Session, zone: Zone, *, envelopes: int, both_ways: bool,
            reduction: FeeReduction | None) -> int:
    """Postage in whole VND: the tariff's price for the zone's lightest tier, per item and per leg."""
    price = session.scalar(
        select(TariffRate.price_vnd).where(TariffRate.zone == zone, TariffRate.max_weight_g >= BASE_WEIGHT_G)
        .order_by(TariffRate.max_weight_g).limit(1)
    )
    if price is None:
        raise RoutingError(f"Biểu cước chưa có giá cho vùng {zone}.")
    total = price * envelopes * (2 if both_ways else 1)
    if reduction is not None:
        total = total * (100 - reduction.percent) // 100
    return total


def allocate_serial(session: Session) -> int:
    """Next S10 serial, unique across processes and machines.

    PostgreSQL: ``nextval`` (never rolls back, so no two transactions ever see the same value).
    SQLite: an UPDATE ... RETURNING on the counter row inside the write transaction, which SQLite
    serialises.
    """
    if session.get_bind().dialect.name == "postgresql":
        return int(session.execute(S10_SERIAL_SEQUENCE.next_value()).scalar_one())
    value = session.execute(
        update(SerialCounter).where(SerialCounter.name == "s10")
        .values(value=SerialCounter.value + 1).returning(SerialCounter.value)
    ).scalar_one_or_none()
    if value is None:
        session.add(SerialCounter(name="s10", value=1))
        session.flush()
        return 1
    return int(value)


def new_item_code(session: Session, indicator: str) -> str:
    """A fresh S10 item code for the given service indicator."""
    return make_item_code(indicator, allocate_serial(session))


def create_pickup_order(session: Session, req: PickupRequest, *, indicator: str, channel: Channel) -> Order:
    """Create the dossier and its pickup leg (state CREATED); the caller records the first event."""
    agency, routing = route_agency(session, req.procedure, req.unit)
    office = serving_post_office(session, req.unit)
    zone = Zone.IN_DISTRICT if agency.admin_unit_id == req.unit.id else Zone.INTER_DISTRICT
    routing["post_office"] = office.code
    routing["zone"] = str(zone)
    dossier = Dossier(
        procedure=req.procedure,
        agency=agency,
        service_form=req.service_form,
        channel=channel,
        external_ref=req.external_ref,
        applicant_name=req.applicant_name,
        applicant_phone=req.phone,
        address_text=req.address,
        admin_unit=req.unit,
        envelopes=req.envelopes,
        notes=req.notes,
        routing=routing,
    )
    session.add(dossier)
    order = Order(
        dossier=dossier,
        leg=Leg.PICKUP,
        item_code=new_item_code(session, indicator),
        state=OrderState.CREATED,
        post_office=office,
        postage_vnd=postage(session, zone, envelopes=req.envelopes,
                            both_ways=req.service_form == ServiceForm.BOTH, reduction=req.reduction),
    )
    session.add(order)
    session.flush()
    return order


def find_by_external_ref(session: Session, external_ref: str) -> Order | None:
    """The pickup order of the dossier created earlier with this external reference, if any."""
    return session.scalar(
        select(Order).join(Dossier).where(Dossier.external_ref == external_ref, Order.leg == Leg.PICKUP)
    )


def get_order(session: Session, item_code: str) -> Order:
    """The order with this item code; ``OrderNotFound`` otherwise."""
    order = session.scalar(select(Order).where(Order.item_code == item_code))
    if order is None:
        raise OrderNotFound(item_code)
    return order


def count_orders(session: Session) -> int:
    """How many orders exist (for the dashboard and tests)."""
    return int(session.scalar(select(func.count(Order.id))) or 0)
