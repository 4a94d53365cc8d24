"""A courier's planned daily run, kept so the printed run sheet and the screen show the same order."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from config.db import Base, UTCDateTime, utcnow


class CourierRun(Base):
    """One courier's stops for one day, in the planned order, with the run's length."""

    __tablename__ = "courier_runs"
    __table_args__ = (UniqueConstraint("courier_id", "run_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    courier_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    post_office_id: Mapped[int] = mapped_column(ForeignKey("post_offices.id"), index=True)
    run_date: Mapped[date] = mapped_column(Date)
    # [{"order_id", "item_code", "action", "lat", "lon", "label", "address"}...] in visiting order.
    stops: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    total_m: Mapped[float] = mapped_column(Float, default=0.0)
    baseline_m: Mapped[float] = mapped_column(Float, default=0.0)  # the same stops in creation order
    method: Mapped[str] = mapped_column(String(40), default="nearest_neighbour+2opt")
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
