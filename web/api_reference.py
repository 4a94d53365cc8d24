"""Reference data for systems, read-only: procedures, agencies, administrative units, post offices.

Callers: a token with ``reference:read``, or any staff session. The citizen-facing catalogue
(``/api/v1/procedures``, ``/api/v1/communes``) stays public; these are the fuller lists a one-stop system or
the national portal keeps in sync with (ids of checklist lines, both administrative structures with their
successors, post offices with their service areas).
"""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, Field, RootModel
from sqlalchemy import select

from logistics.accounts.models import Role
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
from web.api_auth import api_require
from web.context import db_session
from web.openapi import operation
from web.schemas import Strict

bp = Blueprint("api_reference", __name__)

SCOPE = "reference:read"
STAFF = (Role.COURIER, Role.DISPATCHER, Role.AGENCY_OFFICER, Role.MANAGER, Role.ADMIN)
ROLES = tuple(r.value for r in STAFF)


class RefDocumentOut(BaseModel):
    """One line of a procedure's checklist; ``id`` is what a collection scan's ``documents`` lists."""

    id: int
    name: str
    form: str
    quantity: int
    required: bool


class RefProcedureOut(BaseModel):
    """A procedure of the published catalogue."""

    code: str
    name: str
    field: str
    level: str
    agency_kind: str
    by_post: bool
    in_person_reason: str | None
    processing_days: int
    gov_fee_vnd: int
    fee_note: str | None
    documents: list[RefDocumentOut]


class RefProcedureList(RootModel[list[RefProcedureOut]]):
    """Procedures, by code."""


class ProcedureQuery(Strict):
    """Filters of the procedure list."""

    level: Literal[tuple(v.value for v in ProcedureLevel)] | None = None  # type: ignore[valid-type]
    by_post: bool | None = Field(default=None, description="true: only procedures available by post")


@operation(bp, "/api/v1/reference/procedures", method="GET", tags=("reference",), scope=SCOPE, roles=ROLES,
           query=ProcedureQuery, responses={200: RefProcedureList},
           summary="Danh mục thủ tục (đầy đủ) / Procedures with their checklists")
@api_require(SCOPE, *STAFF)
def procedures(query: ProcedureQuery) -> Response:
    """The procedure catalogue with checklist ids, fees and why a procedure must be done in person."""
    stmt = select(Procedure).order_by(Procedure.code)
    if query.level:
        stmt = stmt.where(Procedure.level == ProcedureLevel(query.level))
    if query.by_post is not None:
        stmt = stmt.where(Procedure.by_post.is_(query.by_post))
    return jsonify([
        {"code": p.code, "name": p.name, "field": p.field, "level": p.level.value,
         "agency_kind": p.agency_kind.value, "by_post": p.by_post, "in_person_reason": p.in_person_reason,
         "processing_days": p.processing_days, "gov_fee_vnd": p.gov_fee_vnd, "fee_note": p.fee_note,
         "documents": [{"id": d.id, "name": d.name, "form": d.form.value, "quantity": d.quantity,
                        "required": d.required} for d in p.documents]}
        for p in db_session().scalars(stmt)
    ])


class RefUnit(BaseModel):
    """The commune (2025) where a desk or office sits."""

    code: str
    name: str


class RefAgencyOut(BaseModel):
    """An agency's one-stop desk (the ``agency_code`` of tokens, orders and webhooks)."""

    code: str
    name: str
    kind: str
    address: str
    phone: str | None
    commune: RefUnit
    lat: float | None
    lon: float | None
    active: bool


class RefAgencyList(RootModel[list[RefAgencyOut]]):
    """Agencies, by code."""


class AgencyQuery(Strict):
    """Filters of the agency list."""

    kind: Literal[tuple(k.value for k in AgencyKind)] | None = None  # type: ignore[valid-type]
    active: bool | None = None


@operation(bp, "/api/v1/reference/agencies", method="GET", tags=("reference",), scope=SCOPE, roles=ROLES,
           query=AgencyQuery, responses={200: RefAgencyList},
           summary="Cơ quan tiếp nhận (bộ phận một cửa) / Agencies' one-stop desks")
@api_require(SCOPE, *STAFF)
def agencies(query: AgencyQuery) -> Response:
    """Every agency desk, former district desks (inactive since 1/7/2025) included unless filtered."""
    stmt = select(Agency).order_by(Agency.code)
    if query.kind:
        stmt = stmt.where(Agency.kind == AgencyKind(query.kind))
    if query.active is not None:
        stmt = stmt.where(Agency.active.is_(query.active))
    return jsonify([
        {"code": a.code, "name": a.name, "kind": a.kind.value, "address": a.address, "phone": a.phone,
         "commune": {"code": a.admin_unit.code, "name": a.admin_unit.name}, "lat": a.lat, "lon": a.lon,
         "active": a.active}
        for a in db_session().scalars(stmt)
    ])


class SuccessorOut(BaseModel):
    """A 2025 commune that took over (part of) a legacy commune."""

    code: str
    main: bool


class RefAdminUnitOut(BaseModel):
    """An administrative unit; GSO codes repeat between the two structures, so (scheme, level, code) is the key."""

    scheme: str
    level: str
    code: str
    name: str
    full_name: str
    parent_code: str | None
    lat: float | None
    lon: float | None
    successors: list[SuccessorOut] | None = Field(
        default=None, description="Legacy communes: the 2025 commune(s) replacing them")


class RefAdminUnitList(RootModel[list[RefAdminUnitOut]]):
    """Administrative units."""


class AdminUnitQuery(Strict):
    """Which structure and level (default: the 2025 communes and wards)."""

    scheme: Literal["2025", "legacy"] = "2025"
    level: Literal[tuple(v.value for v in UnitLevel)] | None = None  # type: ignore[valid-type]


@operation(bp, "/api/v1/reference/admin-units", method="GET", tags=("reference",), scope=SCOPE, roles=ROLES,
           query=AdminUnitQuery, responses={200: RefAdminUnitList},
           summary="Đơn vị hành chính (2025 và trước 1/7/2025) / Administrative units, both structures")
@api_require(SCOPE, *STAFF)
def admin_units(query: AdminUnitQuery) -> Response:
    """Units of one structure; legacy communes list their successors (how an old address maps forward)."""
    session = db_session()
    stmt = select(AdminUnit).where(AdminUnit.scheme == Scheme(query.scheme)).order_by(AdminUnit.level,
                                                                                        AdminUnit.code)
    if query.level:
        stmt = stmt.where(AdminUnit.level == UnitLevel(query.level))
    units = session.scalars(stmt).all()
    successors: dict[int, list[dict[str, object]]] = {}
    if query.scheme == Scheme.LEGACY.value:
        rows = session.execute(
            select(AdminUnitSuccessor.legacy_unit_id, AdminUnit.code, AdminUnitSuccessor.is_main)
            .join(AdminUnit, AdminUnit.id == AdminUnitSuccessor.unit_id)
            .order_by(AdminUnitSuccessor.is_main.desc(), AdminUnit.code))
        for legacy_id, code, main in rows:
            successors.setdefault(legacy_id, []).append({"code": code, "main": main})
    return jsonify([
        {"scheme": u.scheme.value, "level": u.level.value, "code": u.code, "name": u.name,
         "full_name": u.full_name, "parent_code": u.parent.code if u.parent else None, "lat": u.lat, "lon": u.lon,
         "successors": successors.get(u.id, []) if u.scheme == Scheme.LEGACY and u.level == UnitLevel.COMMUNE
         else None}
        for u in units
    ])


class RefPostOfficeOut(BaseModel):
    """A post office and the 2025 communes it serves (pickups and deliveries)."""

    code: str
    name: str
    address: str
    phone: str | None
    commune: RefUnit
    lat: float
    lon: float
    active: bool
    service_area: list[str] = Field(description="GSO codes of the communes served")


class RefPostOfficeList(RootModel[list[RefPostOfficeOut]]):
    """Post offices, by code."""


@operation(bp, "/api/v1/reference/post-offices", method="GET", tags=("reference",), scope=SCOPE, roles=ROLES,
           responses={200: RefPostOfficeList},
           summary="Bưu cục và địa bàn phục vụ / Post offices and their service areas")
@api_require(SCOPE, *STAFF)
def post_offices() -> Response:
    """Every post office with its service area."""
    session = db_session()
    areas: dict[int, list[str]] = {}
    for office_id, code in session.execute(
            select(PostOfficeArea.post_office_id, AdminUnit.code)
            .join(AdminUnit, AdminUnit.id == PostOfficeArea.admin_unit_id).order_by(AdminUnit.code)):
        areas.setdefault(office_id, []).append(code)
    return jsonify([
        {"code": o.code, "name": o.name, "address": o.address, "phone": o.phone,
         "commune": {"code": o.admin_unit.code, "name": o.admin_unit.name}, "lat": o.lat, "lon": o.lon,
         "active": o.active, "service_area": areas.get(o.id, [])}
        for o in session.scalars(select(PostOffice).order_by(PostOffice.code))
    ])
