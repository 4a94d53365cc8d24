"""Retention job: erase personal data past the legal keeping period (runs daily)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from config.db import utcnow
from config.settings import Settings
from logistics.orders.retention import purge_personal_data


def purge_expired_personal_data(session: Session, settings: Settings) -> int:
    """Erase one batch; the periodic schedule calls it again until nothing is left."""
    return purge_personal_data(session, now=utcnow(), years=settings.retention_years)
