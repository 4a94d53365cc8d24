"""The postal tariff as data (Circular 22/2017, VNPost's published prices): rates, surcharges, reductions."""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from config.db import Base
from logistics.agencies.models import enum_column


class Zone(enum.StrEnum):
    """Distance zone between the citizen and the agency (post-2025: commune stands for district)."""

    IN_DISTRICT = "in_district"
    INTER_DISTRICT = "inter_district"
    INTER_PROVINCE = "inter_province"


class TariffRate(Base):
    """Price of one item one way, for a zone and a weight tier (up to ``max_weight_g`` inclusive)."""

    __tablename__ = "tariff_rates"
    __table_args__ = (
        UniqueConstraint("zone", "max_weight_g"),
        CheckConstraint("price_vnd >= 0", name="price_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    zone: Mapped[Zone] = mapped_column(enum_column(Zone, "zone"))
    max_weight_g: Mapped[int] = mapped_column(Integer)
    price_vnd: Mapped[int] = mapped_column(Integer)


class TariffSurcharge(Base):
    """A fixed charge added to postage, e.g. remitting a government fee collected from the citizen."""

    __tablename__ = "tariff_surcharges"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    amount_vnd: Mapped[int] = mapped_column(Integer)


class FeeReduction(Base):
    """A group of citizens exempt (100%) or paying less (e.g. 50%) postage."""

    __tablename__ = "fee_reductions"
    __table_args__ = (CheckConstraint("percent BETWEEN 0 AND 100", name="percent_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    percent: Mapped[int] = mapped_column(Integer)  # share of postage waived
    legal_basis: Mapped[str | None] = mapped_column(String(300))
