"""Staff accounts: creation and password checks (a memory-hard KDF, scrypt)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from logistics.accounts.models import Role, User
from logistics.agencies.models import Agency, PostOffice

MIN_PASSWORD = 10


class AccountError(ValueError):
    """An account request that cannot be honoured."""


def create_user(
    session: Session,
    *,
    username: str,
    full_name: str,
    role: Role,
    password: str,
    agency_code: str | None = None,
    post_office_code: str | None = None,
    phone: str | None = None,
) -> User:
    """Create a staff account scoped to an agency (officers) or post office (couriers, dispatchers)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"Mật khẩu tối thiểu {MIN_PASSWORD} ký tự. / Password needs {MIN_PASSWORD}+ characters.")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"Tên đăng nhập {username!r} đã tồn tại. / Username taken.")
    agency = post_office = None
    if role == Role.AGENCY_OFFICER:
        agency = session.scalar(select(Agency).where(Agency.code == agency_code)) if agency_code else None
        if agency is None:
            raise AccountError("Cán bộ một cửa cần mã cơ quan hợp lệ (--agency). / Officers need an agency.")
    if role in (Role.COURIER, Role.DISPATCHER):
        post_office = (
            session.scalar(select(PostOffice).where(PostOffice.code == post_office_code))
            if post_office_code else None
        )
        if post_office is None:
            raise AccountError("Bưu tá/điều phối cần mã bưu cục hợp lệ (--post-office). / Need a post office.")
    user = User(
        username=username, full_name=full_name, role=role, phone=phone,
        password_hash=generate_password_hash(password, method="scrypt"),
        agency=agency, post_office=post_office,
    )
    session.add(user)
    session.flush()
    return user


def check_password(user: User, password: str) -> bool:
    """Whether ``password`` is the user's (constant-time comparison inside werkzeug)."""
    return user.active and check_password_hash(user.password_hash, password)
