"""Demo data for ``make run``: staff accounts for each role and a few dozen realistic bookings.

Demo mode only (``DOSSIERPOST_DEMO=1``); the settings refuse demo mode in production. Re-running is safe:
accounts are created once and bookings carry ``DEMO-nnn`` external references.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.accounts.models import Role, User
from logistics.accounts.services import create_user
from logistics.agencies.models import (
    AdminUnit,
    Agency,
    AgencyKind,
    PostOffice,
    PostOfficeArea,
    Procedure,
    Scheme,
    UnitLevel,
)
from logistics.orders.models import Channel
from tracking.services import book_pickup

DEMO_PASSWORD = "demo-dossierpost"  # noqa: S105 - printed for newcomers; demo mode only

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Dương", "Lý"]
MIDDLE = ["Văn", "Thị", "Hoàng", "Minh", "Ngọc", "Thanh", "Quốc", "Kim"]
GIVEN = ["An", "Bình", "Cường", "Dung", "Hạnh", "Hùng", "Lan", "Linh", "Nam", "Nhung", "Phúc", "Quyên",
         "Sơn", "Tâm", "Thảo", "Trí", "Tú", "Uyên", "Vy", "Yến"]
STREETS = ["Lưu Tấn Tài", "Phan Ngọc Hiển", "Trần Hưng Đạo", "Nguyễn Trãi", "Lý Thường Kiệt", "Ngô Quyền",
           "Hùng Vương", "Quang Trung", "Nguyễn Tất Thành", "Lê Lợi"]
HAMLETS = ["Ấp 1", "Ấp 3", "Ấp Tân Phong", "Ấp Cái Rô", "Khóm 2", "Khóm 5", "Ấp Bào Sen", "Ấp Kinh Tắc"]


@dataclass(frozen=True)
class DemoAccount:
    """A demo log-in to print for newcomers."""

    username: str
    role: Role
    scope: str


def seed_demo(session: Session, *, indicator: str, bookings: int = 36) -> list[DemoAccount]:
    """Create the demo accounts and bookings (idempotent); returns the accounts to print."""
    rng = random.Random(2017)  # noqa: S311 - demo data, not secrets; the seed article's year: the same demo data on every machine
    center = session.scalar(select(Agency).where(Agency.kind == AgencyKind.PROVINCE_CENTER).limit(1))
    # The dispatcher and couriers work at the office serving the provincial center's ward (Cà Mau city).
    office = session.scalar(
        select(PostOffice).join(PostOfficeArea, PostOfficeArea.post_office_id == PostOffice.id)
        .where(PostOfficeArea.admin_unit_id == center.admin_unit_id).limit(1)
    ) if center else None
    accounts: list[DemoAccount] = []
    specs: list[tuple[str, str, Role, str | None, str | None]] = [
        ("admin", "Quản trị hệ thống", Role.ADMIN, None, None),
        ("quanly", "Trần Minh Quang", Role.MANAGER, None, None),
        ("dieuphoi", "Lê Thị Thu Hà", Role.DISPATCHER, None, office.code if office else None),
        ("buuta1", "Nguyễn Văn Tới", Role.COURIER, None, office.code if office else None),
        ("buuta2", "Phạm Hoàng Khải", Role.COURIER, None, office.code if office else None),
        ("motcua", "Huỳnh Ngọc Trâm", Role.AGENCY_OFFICER, center.code if center else None, None),
    ]
    for username, full_name, role, agency_code, office_code in specs:
        if session.scalar(select(User.id).where(User.username == username)) is None:
            create_user(session, username=username, full_name=full_name, role=role, password=DEMO_PASSWORD,
                        agency_code=agency_code, post_office_code=office_code)
        scope = agency_code or office_code or "—"
        accounts.append(DemoAccount(username, role, scope))

    communes = session.scalars(
        select(AdminUnit).where(AdminUnit.scheme == Scheme.V2025, AdminUnit.level == UnitLevel.COMMUNE)
        .order_by(AdminUnit.code)
    ).all()
    procedures = session.scalars(select(Procedure).where(Procedure.by_post.is_(True)).order_by(Procedure.code)).all()
    if not communes or not procedures:
        return accounts
    for n in range(1, bookings + 1):
        unit = rng.choice(communes)
        address = (f"Số {rng.randint(1, 250)} {rng.choice(STREETS)}" if unit.kind == "Phường"
                   else rng.choice(HAMLETS))
        raw = {
            "applicant_name": f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
            "phone": f"09{rng.randint(10_000_000, 99_999_999)}",
            "address": address,
            "commune_code": unit.code,
            "procedure_code": rng.choice(procedures).code,
            "service_form": rng.choice(["send_only", "both", "both"]),
            "envelopes": rng.choice([1, 1, 1, 2]),
            "external_ref": f"DEMO-{n:03d}",
        }
        book_pickup(session, raw, indicator=indicator, channel=rng.choice([Channel.WEB, Channel.API]))
    return accounts
