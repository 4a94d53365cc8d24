"""Retention job: erase personal data past the legal keeping period (runs daily)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from config.settings import Settings
from logistics.orders.retention import purge_personal_data


def purge_expired_personal_data(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """Erase one batch (bounded); the next day's run continues a backlog."""
    return {"erased": purge_personal_data(session, now=now, years=settings.retention_years)}
