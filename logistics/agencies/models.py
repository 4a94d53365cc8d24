"""Reference data: administrative units (old and new structure), agencies, procedures, post offices."""

from __future__ import annotations

import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Enum,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from config.db import Base


def enum_column(enum_cls: type[enum.Enum], name: str) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, the values (not names) stored."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Scheme(enum.StrEnum):
    """Which administrative structure a unit belongs to."""

    LEGACY = "legacy"  # before 1 July 2025: province > district > commune
    V2025 = "2025"  # from 1 July 2025: province > commune (no districts)


class UnitLevel(enum.StrEnum):
    """Level of an administrative unit."""

    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"


class AdminUnit(Base):
    """A province, district (old structure only) or commune/ward, with GSO code and centroid."""

    __tablename__ = "admin_units"
    __table_args__ = (UniqueConstraint("scheme", "level", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme: Mapped[Scheme] = mapped_column(enum_column(Scheme, "scheme"))
    level: Mapped[UnitLevel] = mapped_column(enum_column(UnitLevel, "unit_level"))
    code: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(120))  # "Phường Tân Thành"
    short_name: Mapped[str] = mapped_column(String(120))  # "Tân Thành"
    kind: Mapped[str] = mapped_column(String(40))  # "Phường", "Xã", "Thị trấn", "Huyện", "Thành phố", "Tỉnh"
    search_key: Mapped[str] = mapped_column(String(120), index=True)  # unaccented, lowercase, no spaces
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)

    parent: Mapped[AdminUnit | None] = relationship(remote_side="AdminUnit.id", lazy="joined", join_depth=2)

    @property
    def full_name(self) -> str:
        """The unit with its parents, as written on an envelope: "Phường 5, Thành phố Cà Mau, Tỉnh Cà Mau"."""
        parts = [self.name]
        parent = self.parent
        while parent is not None:
            parts.append(parent.name)
            parent = parent.parent
        return ", ".join(parts)


class AdminUnitSuccessor(Base):
    """Old (legacy) commune -> the 2025 commune(s) that replaced it; a split commune has several."""

    __tablename__ = "admin_unit_successors"

    legacy_unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), primary_key=True, index=True)
    # True for the unit that took over most of the old one (the default when an address names only the old).
    is_main: Mapped[bool] = mapped_column(Boolean, default=False)


class AgencyKind(enum.StrEnum):
    """The kinds of one-stop reception desks a procedure can be handled by."""

    PROVINCE_CENTER = "province_center"  # Trung tâm Phục vụ hành chính công tỉnh
    DISTRICT_DESK = "district_desk"  # Bộ phận Một cửa UBND huyện (until 30/6/2025)
    COMMUNE_DESK = "commune_desk"  # Bộ phận Một cửa / Trung tâm PVHCC xã, phường


class Agency(Base):
    """An agency's one-stop reception desk: where pickup legs end and result legs start."""

    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # national agency id, e.g. 000.00.01.H12
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[AgencyKind] = mapped_column(enum_column(AgencyKind, "agency_kind"), index=True)
    address: Mapped[str] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(20))
    admin_unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    admin_unit: Mapped[AdminUnit] = relationship(lazy="joined")


class ProcedureLevel(enum.StrEnum):
    """Which level of government handles a procedure."""

    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"


class Procedure(Base):
    """An administrative procedure from the published catalogue."""

    __tablename__ = "procedures"
    __table_args__ = (CheckConstraint("processing_days >= 0", name="processing_days_nonneg"),
                      CheckConstraint("gov_fee_vnd >= 0", name="gov_fee_nonneg"))

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # national catalogue code, e.g. 1.001193
    name: Mapped[str] = mapped_column(String(400))
    field: Mapped[str] = mapped_column(String(120), index=True)  # "Hộ tịch", "Đất đai", ...
    level: Mapped[ProcedureLevel] = mapped_column(enum_column(ProcedureLevel, "procedure_level"))
    agency_kind: Mapped[AgencyKind] = mapped_column(enum_column(AgencyKind, "agency_kind"))
    by_post: Mapped[bool] = mapped_column(Boolean)
    in_person_reason: Mapped[str | None] = mapped_column(Text)
    processing_days: Mapped[int] = mapped_column(Integer)
    gov_fee_vnd: Mapped[int] = mapped_column(Integer, default=0)
    fee_note: Mapped[str | None] = mapped_column(Text)
    search_key: Mapped[str] = mapped_column(String(400))

    documents: Mapped[list[ProcedureDocument]] = relationship(
        order_by="ProcedureDocument.position", cascade="all, delete-orphan", lazy="selectin"
    )


class DocumentForm(enum.StrEnum):
    """Whether the courier must collect an original or a copy."""

    ORIGINAL = "original"
    COPY = "copy"
    CERTIFIED_COPY = "certified_copy"


class ProcedureDocument(Base):
    """One line of a procedure's required-documents checklist."""

    __tablename__ = "procedure_documents"
    __table_args__ = (UniqueConstraint("procedure_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(400))
    form: Mapped[DocumentForm] = mapped_column(enum_column(DocumentForm, "document_form"))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    required: Mapped[bool] = mapped_column(Boolean, default=True)


class PostOffice(Base):
    """A post office: where couriers start their runs and items are sorted."""

    __tablename__ = "post_offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)  # postal code of the office
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(20))
    admin_unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    admin_unit: Mapped[AdminUnit] = relationship(lazy="joined")


class PostOfficeArea(Base):
    """A 2025 commune served by a post office (its pickup and delivery area)."""

    __tablename__ = "post_office_areas"

    post_office_id: Mapped[int] = mapped_column(ForeignKey("post_offices.id"), primary_key=True)
    admin_unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), primary_key=True, index=True)
