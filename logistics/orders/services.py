"""Order intake: validate a pickup request, route it, give it an S10 item code.

Services flush and never commit; the caller's unit of work commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, literal_column, select, update
from sqlalchemy.orm import Session, aliased

from config.db import utcnow
from config.queue import enqueue
from logistics.agencies.models import (
    AdminUnit,
    AdminUnitSuccessor,
    Agency,
    PostOffice,
    Procedure,
    Scheme,
    UnitLevel,
)
from logistics.fees.models import FeeReduction, Zone
from logistics.fees.services import BASE_WEIGHT_G, quote, transport_days  # noqa: F401 - BASE_WEIGHT_G re-exported
from logistics.fees.services import postage as _postage
from logistics.labels.s10 import make_item_code
from logistics.orders.errors import OrderError, OrderNotFound, RoutingError, ValidationError
from logistics.orders.models import (
    S10_SERIAL_SEQUENCE,
    Channel,
    Dossier,
    LabelRendering,
    Leg,
    Order,
    OrderState,
    SerialCounter,
    ServiceForm,
)
from logistics.routing.addresses import AddressMatch, resolve_address
from logistics.routing.gazetteer import Gazetteer, UnitRef, load_gazetteer
from logistics.routing.services import RoutingPolicy, resolve_agency, serving_post_office, zone_between
from logistics.text import InvalidPhone, has_control_chars, normalize_phone

MAX_ENVELOPES = 20
MAX_NOTES = 1000


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
    # How the free-text address resolved; ``commune_from_code`` when the client named the commune by code.
    address_match: AddressMatch | None = None
    commune_from_code: bool = True
    commune_code: str | None = None  # as given (a legacy code is kept to explain the routing)

    @property
    def needs_review(self) -> bool:
        """Whether a dispatcher must confirm the commune before the order proceeds."""
        return not self.commune_from_code and self.address_match is not None and not self.address_match.resolved


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
    if has_control_chars(value):
        errors[name] = "Chứa ký tự điều khiển không hợp lệ. / Contains invalid control characters."
        return None
    value = " ".join(value.split())
    if len(value) > max_len:
        errors[name] = f"Tối đa {max_len} ký tự. / At most {max_len} characters."
        return None
    return value


def resolve_commune(session: Session, code: str) -> AdminUnit | None:
    """Find the 2025 commune for a GSO code, accepting a legacy commune code and mapping it forward."""
    gaz = load_gazetteer(session)
    ref = gaz.commune_2025(code)
    if ref is None:
        legacy = gaz.legacy_commune(code)
        ref = gaz.main_successor(legacy.id) if legacy is not None else None
    if ref is not None:
        return _unit(session, ref.id)
    # Not in the (cached) gazetteer: ask the database, in case reference data changed a moment ago.
    unit = session.scalar(
        select(AdminUnit).where(
            AdminUnit.scheme == Scheme.V2025, AdminUnit.level == UnitLevel.COMMUNE, AdminUnit.code == code
        )
    )
    if unit is not None:
        return unit
    legacy_unit = aliased(AdminUnit)
    return session.scalar(
        select(AdminUnit)
        .join(AdminUnitSuccessor, AdminUnitSuccessor.unit_id == AdminUnit.id)
        .join(legacy_unit, AdminUnitSuccessor.legacy_unit_id == legacy_unit.id)
        .where(legacy_unit.scheme == Scheme.LEGACY, legacy_unit.level == UnitLevel.COMMUNE, legacy_unit.code == code)
        .order_by(AdminUnitSuccessor.is_main.desc())
        .limit(1)
    )


def _cached(session: Session, kind: str, key: str, load: Any) -> Any:
    """Reference rows looked up by code, remembered for the session (a request, a job, an import chunk)."""
    cache: dict[tuple[str, str], Any] = session.info.setdefault("dossierpost_refcache", {})
    if (kind, key) not in cache:
        cache[kind, key] = load()
    return cache[kind, key]


def _unit(session: Session, unit_id: int) -> AdminUnit | None:
    """An administrative unit by id, held for the session.

    The identity map keeps objects only weakly, so a bulk intake would otherwise reload the same few communes
    row after row.
    """
    unit: AdminUnit | None = _cached(session, "unit", str(unit_id), lambda: session.get(AdminUnit, unit_id))
    return unit


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
    code = _text(raw, "commune_code", errors, max_len=10, required=False)
    if code is None:
        return None
    unit = resolve_commune(session, code)
    if unit is None:
        errors["commune_code"] = "Không tìm thấy xã/phường này. / Unknown commune code."
    return unit


def _address_unit(session: Session, gaz: Gazetteer, match: AddressMatch) -> AdminUnit:
    """The commune an address resolved to, or the provisional one while a dispatcher reviews it.

    Ambiguous: the best candidate; unknown: the commune of the provincial service center (the province's
    seat, whose post office handles what cannot be placed). Either way the order is held in review.
    """
    if match.unit is not None:
        unit_id = match.unit.id
    elif match.candidates:
        unit_id = match.candidates[0].unit.id
    else:
        from logistics.agencies.models import AgencyKind  # noqa: PLC0415 - only for the rare unknown address

        centers = gaz.active_agencies(AgencyKind.PROVINCE_CENTER)
        if not centers:
            raise RoutingError("Không có Trung tâm Phục vụ hành chính công tỉnh trong dữ liệu tham chiếu.")
        unit_id = centers[0].unit_id
    unit = _unit(session, unit_id)
    if unit is None:  # pragma: no cover - the gazetteer is read from the same tables
        raise RoutingError("Dữ liệu tham chiếu đã thay đổi; vui lòng thử lại.")
    return unit


def _procedure(session: Session, raw: Mapping[str, Any], errors: dict[str, str]) -> Procedure | None:
    code = _text(raw, "procedure_code", errors, max_len=40, label="thủ tục / procedure")
    if code is None:
        return None
    procedure: Procedure | None = _cached(session, "procedure", code,
                        lambda: session.scalar(select(Procedure).where(Procedure.code == code)))
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
    reduction: FeeReduction | None = _cached(session, "reduction", code,
                        lambda: session.scalar(select(FeeReduction).where(FeeReduction.code == code)))
    if reduction is None:
        errors["reduction_code"] = "Không có đối tượng miễn giảm này. / Unknown reduction group."
    return reduction


def validate_pickup_request(session: Session, raw: Mapping[str, Any], *,
                            gazetteer: Gazetteer | None = None) -> PickupRequest:
    """Check every field of a pickup request; raise ``ValidationError`` listing all problems at once.

    ``commune_code`` is optional: without it the free-text address is resolved (old or new structure). An
    address that does not resolve unambiguously does not fail the request: the order is created and held for
    a dispatcher's review (``PickupRequest.needs_review``), its candidates kept.
    """
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
    match: AddressMatch | None = None
    from_code = "commune_code" in raw and raw.get("commune_code") not in (None, "")
    if address and "commune_code" not in errors:
        gaz = gazetteer or load_gazetteer(session)
        match = resolve_address(gaz, address)
        if unit is None and not from_code:
            unit = _address_unit(session, gaz, match)
    if errors or not (name and phone and address and unit and procedure and service_form):
        raise ValidationError(errors)
    return PickupRequest(name, phone, address, unit, procedure, service_form, envelopes, notes,
                         external_ref, reduction, match, from_code,
                         str(raw["commune_code"]).strip() if from_code else None)


def route_agency(session: Session, procedure: Procedure, unit: AdminUnit, *,
                 policy: RoutingPolicy | None = None) -> tuple[Agency, dict[str, Any]]:
    """Choose the competent agency and explain why (see ``logistics.routing.services.resolve_agency``)."""
    gaz = load_gazetteer(session)
    desk, decision = resolve_agency(gaz, procedure_code=procedure.code, level=procedure.level,
                                    agency_kind=procedure.agency_kind, unit=gaz.unit(unit.id), policy=policy)
    agency = session.get(Agency, desk.id)
    if agency is None:  # pragma: no cover - the gazetteer is read from the same tables
        raise RoutingError("Dữ liệu tham chiếu đã thay đổi; vui lòng thử lại.")
    return agency, {**decision.to_json(), "agency": agency.code}


def serving_post_office_of(session: Session, unit: AdminUnit) -> PostOffice:
    """The post office serving a commune: by service area, else the nearest active one (geodesic)."""
    gaz = load_gazetteer(session)
    ref, _decision = serving_post_office(gaz, gaz.unit(unit.id))
    office = session.get(PostOffice, ref.id)
    if office is None:  # pragma: no cover
        raise RoutingError("Dữ liệu tham chiếu đã thay đổi; vui lòng thử lại.")
    return office


def postage(session: Session, zone: Zone, *, envelopes: int, both_ways: bool,
            reduction: FeeReduction | None) -> int:
    """Postage in whole VND for the base weight tier (kept for callers; see ``logistics.fees.services``)."""
    return _postage(session, zone, envelopes=envelopes, both_ways=both_ways, reduction=reduction)


def allocate_serial(session: Session) -> int:
    """Next S10 serial, unique across processes and machines.

    PostgreSQL: ``nextval`` (never rolls back, so no two transactions ever see the same value).
    SQLite: an UPDATE ... RETURNING on the counter row inside the write transaction, which SQLite
    serialises.
    """
    pool: list[int] | None = session.info.get("dossierpost_s10_pool")
    if pool:
        return pool.pop(0)
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


def reserve_serials(session: Session, count: int) -> None:
    """Reserve ``count`` serials for this session's next orders in one statement (bulk intake).

    SQLite: a block from the counter row inside the write transaction, so it is as unique as single serials.
    PostgreSQL: ``count`` values of the sequence in one round trip. Serials reserved but not used are skipped
    (gaps are allowed, see docs/design-notes.md). Reserving also means no query runs between building an
    order and flushing it, so a bulk intake's orders go to the database in one batched statement.
    """
    if count <= 0:
        return
    if session.get_bind().dialect.name == "postgresql":
        values = session.scalars(
            select(S10_SERIAL_SEQUENCE.next_value()).select_from(
                func.generate_series(1, count).table_valued(literal_column("n")))).all()
        session.info["dossierpost_s10_pool"] = sorted(int(v) for v in values)
        return
    top = session.execute(
        update(SerialCounter).where(SerialCounter.name == "s10")
        .values(value=SerialCounter.value + count).returning(SerialCounter.value)
    ).scalar_one_or_none()
    if top is None:
        session.add(SerialCounter(name="s10", value=count))
        session.flush()
        top = count
    session.info["dossierpost_s10_pool"] = list(range(int(top) - count + 1, int(top) + 1))


def new_item_code(session: Session, indicator: str) -> str:
    """A fresh S10 item code for the given service indicator."""
    return make_item_code(indicator, allocate_serial(session))


def _legacy_of(gaz: Gazetteer, req: PickupRequest) -> UnitRef | None:
    raw_code = req.commune_code
    if req.commune_from_code:
        if raw_code and gaz.commune_2025(raw_code) is None:
            return gaz.legacy_commune(raw_code)
        return None
    match = req.address_match
    return match.legacy if match is not None and match.unit is not None and match.unit.id == req.unit.id else None


def plan_routing(session: Session, req: PickupRequest, *, policy: RoutingPolicy | None = None,
                 gazetteer: Gazetteer | None = None) -> dict[str, Any]:
    """Every routing decision for a request (agency, post office, zone, fees, time limits), explained."""
    gaz = gazetteer or load_gazetteer(session)
    unit = gaz.unit(req.unit.id)
    legacy = _legacy_of(gaz, req)
    desk, decision = resolve_agency(gaz, procedure_code=req.procedure.code, level=req.procedure.level,
                                    agency_kind=req.procedure.agency_kind, unit=unit, legacy=legacy, policy=policy)
    office, office_decision = serving_post_office(gaz, unit)
    zone, zone_decision = zone_between(gaz, unit, desk, policy=policy)
    both = req.service_form == ServiceForm.BOTH
    fees = quote(session, zone, envelopes=req.envelopes, both_ways=both, reduction=req.reduction,
                 gov_fee_vnd=req.procedure.gov_fee_vnd)
    routing: dict[str, Any] = {
        **decision.to_json(),
        "agency": desk.code,
        "agency_id": desk.id,
        "post_office": office.code,
        "post_office_id": office.id,
        "post_office_decision": office_decision.to_json(),
        "zone": zone.value,
        "zone_decision": zone_decision.to_json(),
        "fees": fees.to_json(),
        "transport_days": {"pickup": transport_days(zone), "result": transport_days(zone) if both else None},
        "point": list(unit.point) if unit.point else None,
        "decided_at": utcnow().isoformat(),
    }
    match = req.address_match
    if match is not None:
        routing["address"] = match.to_json()
        if req.commune_from_code and match.unit is not None and match.unit.id != unit.id:
            routing["address"]["warning"] = (
                f"Địa chỉ ghi {match.unit.name} nhưng mã xã/phường là {unit.name}; đã theo mã xã/phường.")
    else:
        routing["address"] = {"status": "code", "text": req.address}
    routing["needs_review"] = req.needs_review
    if req.needs_review:
        routing["provisional"] = True
        routing["explanation"] = ("TẠM THỜI, chờ điều phối viên xác nhận địa chỉ: " + routing["explanation"])
    return routing


@dataclass(frozen=True)
class Booking:
    """The outcome of one request of a booking: its order and whether it is new, or why it was refused."""

    order: Order | None
    created: bool = False
    error: OrderError | None = None

    @property
    def errors(self) -> dict[str, str]:
        """The refusal as field → message (a validation error names its fields; others are about the row)."""
        if isinstance(self.error, ValidationError):
            return self.error.errors
        return {"row": str(self.error).splitlines()[0][:300]} if self.error is not None else {}


def create_pickup_orders(session: Session, requests: Sequence[PickupRequest], *, indicator: str, channel: Channel,
                         policy: RoutingPolicy | None = None,
                         gazetteer: Gazetteer | None = None) -> list[Order | OrderError]:
    """Create dossiers with their pickup legs, all in one flush; the caller records each first event.

    Each state is CREATED, or NEEDS_REVIEW when the address did not resolve to one commune. A request that
    cannot be routed (no competent agency, no tariff) gets its error in its place and writes nothing. Serials
    are reserved before anything is added, so nothing flushes half-built rows and the dossiers and orders go
    out as one batched INSERT each.
    """
    gaz = gazetteer or load_gazetteer(session)
    plans: list[dict[str, Any] | OrderError] = []
    for req in requests:
        try:
            plans.append(plan_routing(session, req, policy=policy, gazetteer=gaz))
        except OrderError as exc:
            plans.append(exc)
    reserve_serials(session, sum(1 for plan in plans if not isinstance(plan, OrderError)))
    out: list[Order | OrderError] = []
    for req, routing in zip(requests, plans, strict=True):
        if isinstance(routing, OrderError):
            out.append(routing)
            continue
        dossier = Dossier(
            procedure=req.procedure,
            agency_id=routing["agency_id"],
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
        order = Order(
            dossier=dossier,
            leg=Leg.PICKUP,
            item_code=new_item_code(session, indicator),
            state=OrderState.NEEDS_REVIEW if req.needs_review else OrderState.CREATED,
            post_office_id=routing["post_office_id"],
            postage_vnd=routing["fees"]["postage_vnd"],
        )
        session.add(dossier)
        session.add(order)
        out.append(order)
    session.info.pop("dossierpost_s10_pool", None)
    session.flush()
    return out


def create_pickup_order(session: Session, req: PickupRequest, *, indicator: str, channel: Channel,
                        policy: RoutingPolicy | None = None, gazetteer: Gazetteer | None = None) -> Order:
    """Create one dossier and its pickup leg (``create_pickup_orders`` for one); routing errors are raised."""
    result = create_pickup_orders(session, [req], indicator=indicator, channel=channel, policy=policy,
                                  gazetteer=gazetteer)[0]
    if isinstance(result, OrderError):
        raise result
    return result


def confirm_address(session: Session, order: Order, commune_code: str, *, by: str,
                    policy: RoutingPolicy | None = None) -> Order:
    """A dispatcher's choice of commune for an order held in address review: route it again for real.

    Updates the dossier (commune, agency, routing) and the order (post office, postage), drops labels
    rendered with the provisional routing and requests new ones. The caller records the event that moves
    the order on (``created``).
    """
    if order.state != OrderState.NEEDS_REVIEW:
        raise ValidationError({"state": "Đơn này không chờ xác nhận địa chỉ. / This order is not in review."})
    unit = resolve_commune(session, commune_code)
    if unit is None:
        raise ValidationError({"commune_code": "Không tìm thấy xã/phường này. / Unknown commune code."})
    dossier = order.dossier
    previous = dict(dossier.routing or {})
    gaz = load_gazetteer(session)
    match = resolve_address(gaz, dossier.address_text)
    reduction_code = (previous.get("fees") or {}).get("reduction")
    reduction = session.scalar(select(FeeReduction).where(FeeReduction.code == reduction_code)) if reduction_code \
        else None
    req = PickupRequest(dossier.applicant_name, dossier.applicant_phone, dossier.address_text, unit,
                        dossier.procedure, dossier.service_form, dossier.envelopes, dossier.notes,
                        dossier.external_ref, reduction, match, commune_from_code=True, commune_code=commune_code)
    routing = plan_routing(session, req, policy=policy, gazetteer=gaz)
    routing["address"] = {**(previous.get("address") or {}), "status": "confirmed",
                          "unit": {"code": unit.code, "name": unit.name}, "confirmed_by": by,
                          "confirmed_at": utcnow().isoformat()}
    routing["needs_review"] = False
    dossier.admin_unit = unit
    dossier.agency_id = routing["agency_id"]
    dossier.routing = routing
    order.post_office_id = routing["post_office_id"]
    order.postage_vnd = routing["fees"]["postage_vnd"]
    session.execute(delete(LabelRendering).where(LabelRendering.order_id == order.id))
    session.flush()
    session.expire(dossier, ["agency"])
    session.expire(order, ["post_office"])
    enqueue(session, "workers.jobs.labels.render_label", queue="labels",
            dedup_key=f"label:{order.id}:{routing['decided_at']}", order_id=order.id)
    return order


def orders_in_review(session: Session, *, post_office_id: int | None = None) -> list[Order]:
    """Orders held for address review, oldest first (one post office's, or all)."""
    stmt = select(Order).where(Order.state == OrderState.NEEDS_REVIEW).order_by(Order.id)
    if post_office_id is not None:
        stmt = stmt.where(Order.post_office_id == post_office_id)
    return list(session.scalars(stmt).unique())


def orders_by_external_ref(session: Session, external_refs: Iterable[str]) -> dict[str, Order]:
    """The pickup orders of dossiers created earlier with these external references (one query per 500).

    Most references are new (a booking, an import chunk): the answer comes from the unique index, without
    flushing the session.
    """
    refs = sorted(set(external_refs))
    found: dict[str, Order] = {}
    with session.no_autoflush:
        for start in range(0, len(refs), 500):
            rows = session.execute(
                select(Dossier.external_ref, Order).join(Order, Order.dossier_id == Dossier.id)
                .where(Dossier.external_ref.in_(refs[start:start + 500]), Order.leg == Leg.PICKUP))
            found.update({ref: order for ref, order in rows.unique() if ref is not None})
    return found


def find_by_external_ref(session: Session, external_ref: str) -> Order | None:
    """The pickup order of the dossier created earlier with this external reference, if any."""
    return orders_by_external_ref(session, [external_ref]).get(external_ref)


def get_order(session: Session, item_code: str) -> Order:
    """The order with this item code; ``OrderNotFound`` otherwise."""
    order = session.scalar(select(Order).where(Order.item_code == item_code))
    if order is None:
        raise OrderNotFound(item_code)
    return order


def count_orders(session: Session) -> int:
    """How many orders exist (for the dashboard and tests)."""
    return int(session.scalar(select(func.count(Order.id))) or 0)
