"""Which agency, which post office, which zone: each decision with its rule, its inputs and a Vietnamese reason.

A dossier sent to the wrong agency is the worst failure the service can have, so every decision is explained
and stored with the dossier (``Dossier.routing``), shown to dispatchers and returned by the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from geopy.distance import geodesic

from config.settings import Settings
from logistics.agencies.models import AgencyKind, ProcedureLevel, Scheme, UnitLevel
from logistics.fees.models import Zone
from logistics.orders.errors import RoutingError
from logistics.routing.gazetteer import Gazetteer, PlaceRef, UnitRef

# Districts were abolished and Decree 118/2025 took effect on this day.
REFORM_DATE = date(2025, 7, 1)


@dataclass(frozen=True)
class RoutingPolicy:
    """The configurable parts of routing (from settings; tests build their own)."""

    # Decree 118/2025: a dossier may be received at any competent desk in the province; choose the nearest.
    any_desk_in_province: bool = False
    # Where the former district-level procedures go since 1 July 2025: the applicant's commune desk, or the
    # provincial center.
    former_district_to: AgencyKind = AgencyKind.COMMUNE_DESK
    # Per-procedure override of the receiving desk kind (procedure code -> kind), e.g. a procedure the
    # province decided to centralise.
    procedure_overrides: dict[str, AgencyKind] = field(default_factory=dict)
    # Zones: "commune" treats the same 2025 commune as in-district (the default after the reform);
    # "former_district" uses the districts that existed before 1 July 2025.
    in_district_basis: str = "commune"

    @classmethod
    def from_settings(cls, settings: Settings) -> RoutingPolicy:
        """The policy the deployment's settings describe."""
        return cls(any_desk_in_province=settings.routing_any_desk,
                   former_district_to=AgencyKind(settings.routing_former_district_to))


@dataclass(frozen=True)
class Decision:
    """One routing decision: what was chosen and why."""

    rule: str
    inputs: dict[str, Any]
    explanation: str

    def to_json(self) -> dict[str, Any]:
        """The decision as stored and shown."""
        return {"rule": self.rule, "inputs": self.inputs, "explanation": self.explanation}


def _distance_m(a: tuple[float, float] | None, b: tuple[float, float] | None) -> float:
    if a is None or b is None:
        return float("inf")
    return float(geodesic(a, b).meters)


def _legacy_province(gaz: Gazetteer, legacy: UnitRef) -> UnitRef:
    return gaz.province_of(legacy.id)


def resolve_agency(  # noqa: C901, PLR0912 - one rule per procedure level and structure, read top to bottom
    gaz: Gazetteer,
    *,
    procedure_code: str,
    level: ProcedureLevel,
    agency_kind: AgencyKind,
    unit: UnitRef,
    legacy: UnitRef | None = None,
    policy: RoutingPolicy | None = None,
    origin: tuple[float, float] | None = None,
    on: date | None = None,
) -> tuple[PlaceRef, Decision]:
    """The competent one-stop desk for a procedure and the applicant's unit.

    ``unit`` is the applicant's 2025 commune; ``legacy`` the pre-reform commune when the address named one.
    ``on`` before 1 July 2025 routes in the old structure (district desks, the two provincial centers).
    ``origin`` is where the applicant is (for Decree 118's nearest desk); default the commune's centroid.
    """
    policy = policy or RoutingPolicy()
    inputs: dict[str, Any] = {"procedure": procedure_code, "level": level.value, "agency_kind": agency_kind.value,
                              "commune": unit.code, "commune_name": unit.name,
                              "legacy_commune": legacy.code if legacy else None,
                              "any_desk_in_province": policy.any_desk_in_province}
    if on is not None:
        inputs["date"] = on.isoformat()
    if on is not None and on < REFORM_DATE:
        return _resolve_legacy(gaz, level, unit, legacy, inputs)

    kind = policy.procedure_overrides.get(procedure_code)
    if kind is not None:
        rule, why_level = "procedure_override", "theo cấu hình riêng cho thủ tục này"
    elif level == ProcedureLevel.PROVINCE or agency_kind == AgencyKind.PROVINCE_CENTER:
        kind, rule, why_level = AgencyKind.PROVINCE_CENTER, "province_level_to_province_center", "Thủ tục cấp tỉnh"
    elif level == ProcedureLevel.DISTRICT or agency_kind == AgencyKind.DISTRICT_DESK:
        kind = policy.former_district_to
        rule = ("former_district_level_to_commune_desk" if kind == AgencyKind.COMMUNE_DESK
                else "former_district_level_to_province_center")
        why_level = "Thủ tục cấp huyện (cũ; từ 1/7/2025 không còn cấp huyện)"
    else:
        kind, rule, why_level = AgencyKind.COMMUNE_DESK, "commune_desk_of_applicant", "Thủ tục cấp xã"

    desks = [d for d in gaz.active_agencies(kind) if gaz.province_of(d.unit_id).id == gaz.province_of(unit.id).id
             or kind != AgencyKind.COMMUNE_DESK]
    if not desks:
        raise RoutingError(f"Không có bộ phận tiếp nhận loại {kind.value} đang hoạt động cho thủ tục {procedure_code}.")
    here = origin or unit.point
    if kind == AgencyKind.COMMUNE_DESK:
        own = [d for d in desks if d.unit_id == unit.id]
        if policy.any_desk_in_province:
            desk = min(desks, key=lambda d: (_distance_m(here, d.point), d.unit_id != unit.id, d.id))
            rule = "nearest_competent_desk_decree_118"
            km = _distance_m(here, desk.point) / 1000
            why = (f"{why_level}: theo Nghị định 118/2025 được nộp tại bất kỳ bộ phận một cửa cấp xã nào trong tỉnh; "
                   f"chọn nơi gần nhất: {desk.name} (cách {km:.1f} km).")
        else:
            if not own:
                raise RoutingError(f"{unit.name} chưa có bộ phận một cửa trong dữ liệu tham chiếu.")
            desk = own[0]
            why = f"{why_level}: nộp tại bộ phận một cửa của {unit.name} (nơi cư trú của người nộp)."
    else:
        desk = min(desks, key=lambda d: (_distance_m(here, d.point), d.id)) if len(desks) > 1 else desks[0]
        why = f"{why_level}: nộp tại {desk.name}."
    if legacy is not None:
        why += f" Địa chỉ ghi theo đơn vị cũ ({legacy.name}), nay thuộc {unit.name}."
    inputs["chosen_kind"] = kind.value
    return desk, Decision(rule, inputs, why)


def _resolve_legacy(gaz: Gazetteer, level: ProcedureLevel, unit: UnitRef, legacy: UnitRef | None,
                    inputs: dict[str, Any]) -> tuple[PlaceRef, Decision]:
    """Routing as it was before 1 July 2025 (for dossiers dated then, and historical checks)."""
    if legacy is None:
        # An address in the new structure for an old date: take the main legacy predecessor.
        preds = [gaz.units[i] for i in gaz.predecessors.get(unit.id, [])]
        preds.sort(key=lambda u: (not any(m for n, m in gaz.successors.get(u.id, []) if n == unit.id), u.code))
        if not preds:
            raise RoutingError(f"Không xác định được đơn vị hành chính cũ của {unit.name}.")
        legacy = preds[0]
    district = gaz.units[legacy.parent_id] if legacy.parent_id else None
    province = _legacy_province(gaz, legacy)
    every = list(gaz.agencies.values())
    if level == ProcedureLevel.PROVINCE:
        desk = next((a for a in every if a.kind == AgencyKind.PROVINCE_CENTER.value and a.unit_id == province.id), None)
        rule, why = "legacy_province_center", f"Trước 1/7/2025, thủ tục cấp tỉnh nộp tại trung tâm của {province.name}."
    elif level == ProcedureLevel.DISTRICT:
        desk = next((a for a in every if a.kind == AgencyKind.DISTRICT_DESK.value and district
                     and a.unit_id == district.id), None)
        rule = "legacy_district_desk"
        why = f"Trước 1/7/2025, thủ tục cấp huyện nộp tại bộ phận một cửa của {district.name if district else '?'}."
    else:
        # Commune desks of the old structure are not in the reference data; their successor's desk took over.
        new = gaz.main_successor(legacy.id) or unit
        desk = next((a for a in gaz.active_agencies(AgencyKind.COMMUNE_DESK) if a.unit_id == new.id), None)
        rule = "legacy_commune_to_successor_desk"
        why = f"Thủ tục cấp xã của {legacy.name} (cũ): bộ phận một cửa của {new.name} đã tiếp nhận."
    if desk is None:
        raise RoutingError(f"Không tìm thấy cơ quan tiếp nhận (cấu trúc cũ) cho {legacy.name}.")
    inputs["legacy_commune"] = legacy.code
    inputs["legacy_district"] = district.code if district else None
    return desk, Decision(rule, inputs, why)


def serving_post_office(gaz: Gazetteer, unit: UnitRef, *, origin: tuple[float, float] | None = None,
                        ) -> tuple[PlaceRef, Decision]:
    """The post office serving a 2025 commune: by service area, else the nearest active office (geodesic)."""
    office_id = gaz.office_by_unit.get(unit.id)
    if office_id is not None:
        office = gaz.post_offices[office_id]
        return office, Decision("service_area", {"commune": unit.code},
                                f"{office.name} phục vụ {unit.name} (vùng phục vụ).")
    offices = sorted((o for o in gaz.post_offices.values() if o.active), key=lambda o: o.id)
    if not offices:
        raise RoutingError("Chưa có bưu cục nào trong dữ liệu tham chiếu.")
    here = origin or unit.point
    office = min(offices, key=lambda o: (_distance_m(here, o.point), o.id))
    km = _distance_m(here, office.point) / 1000
    return office, Decision("nearest_post_office", {"commune": unit.code},
                            f"{unit.name} chưa thuộc vùng phục vụ nào; chọn bưu cục gần nhất: {office.name} "
                            f"({km:.1f} km).")


def zone_between(gaz: Gazetteer, unit: UnitRef, agency: PlaceRef, *, policy: RoutingPolicy | None = None,
                 ) -> tuple[Zone, Decision]:
    """The tariff and time-limit zone between the applicant's commune and the agency desk."""
    policy = policy or RoutingPolicy()
    agency_unit = gaz.units[agency.unit_id]
    same_province = gaz.province_of(unit.id).code == gaz.province_of(agency_unit.id).code or (
        agency_unit.scheme == Scheme.LEGACY and gaz.province_of(unit.id).scheme == Scheme.V2025)
    if policy.in_district_basis == "former_district":
        same = bool(gaz.former_districts(unit.id) & gaz.former_districts(agency_unit.id)) or (
            agency_unit.level == UnitLevel.DISTRICT and agency_unit.id in gaz.former_districts(unit.id))
        basis = "cùng huyện cũ"
    else:
        same = agency_unit.id == unit.id
        basis = "cùng xã/phường"
    if same:
        zone, why = Zone.IN_DISTRICT, f"Nội huyện ({basis})."
    elif same_province:
        zone, why = Zone.INTER_DISTRICT, "Liên huyện (khác xã/phường, cùng tỉnh)."
    else:
        zone, why = Zone.INTER_PROVINCE, "Liên tỉnh."
    return zone, Decision(f"zone_{zone.value}", {"commune": unit.code, "agency_unit": agency_unit.code,
                                                 "basis": policy.in_district_basis}, why)
