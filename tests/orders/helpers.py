"""Valid requests built from the loaded reference data (tests never hard-code catalogue codes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.agencies.models import AdminUnit, Procedure, ProcedureLevel, Scheme, UnitLevel


def commune(session: Session, name: str = "Phường Tân Thành") -> AdminUnit:
    return session.scalars(
        select(AdminUnit).where(AdminUnit.scheme == Scheme.V2025, AdminUnit.level == UnitLevel.COMMUNE,
                                AdminUnit.name == name)
    ).one()


def procedure(session: Session, *, level: ProcedureLevel = ProcedureLevel.COMMUNE, by_post: bool = True) -> Procedure:
    return session.scalars(
        select(Procedure).where(Procedure.level == level, Procedure.by_post.is_(by_post)).order_by(Procedure.code)
    ).first()


def valid_request(session: Session, **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "applicant_name": "Nguyễn Thị Hồng Nhung",
        "phone": "0912 345 678",
        "address": "Số 3 Lưu Tấn Tài",
        "commune_code": commune(session).code,
        "procedure_code": procedure(session).code,
        "service_form": "both",
        "envelopes": 1,
    }
    raw.update(overrides)
    return raw
