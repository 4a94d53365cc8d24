"""Staff accounts: creation and password checks (a memory-hard KDF, scrypt)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from config.db import utcnow
from logistics.accounts.models import Role, Staff, User
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


MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
# Verifying against a dummy hash when the username is unknown keeps the response time the same, so timing
# does not reveal which usernames exist.
_DUMMY_HASH = generate_password_hash("dossierpost-dummy-password", method="scrypt")


# Built once (SQLAlchemy keeps a statement's cache key): every staff request runs it.
_ACTIVE_STAFF = select(User.id, User.username, User.full_name, User.role, User.agency_id, User.post_office_id,
                       User.password_hash).where(User.id == bindparam("uid"), User.active.is_(True))


def active_staff(session: Session, user_id: int) -> tuple[Staff, str] | None:
    """The active staff member ``user_id`` and their password hash (to check a session against), or None.

    Read on the session's connection as plain columns: no ORM object, no flush of what the session holds.
    """
    row = session.connection().execute(_ACTIVE_STAFF, {"uid": user_id}).first()
    if row is None:
        return None
    uid, username, full_name, role, agency_id, post_office_id, password_hash = row
    return Staff(uid, username, full_name, role, agency_id, post_office_id), password_hash


class LoginRefused(AccountError):  # noqa: N818 - reads as the fact it reports
    """Wrong credentials, or an account locked after repeated failures."""


def authenticate(session: Session, username: str, password: str, *, now: datetime | None = None) -> User:
    """The user with these credentials; ``LoginRefused`` otherwise (same message for unknown user and bad password).

    Five wrong passwords lock the account for 15 minutes; the counter lives in the database so it holds
    across web processes and machines.
    """
    now = now or utcnow()
    user = session.scalar(select(User).where(User.username == username.strip()).with_for_update())
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        raise LoginRefused("Sai tên đăng nhập hoặc mật khẩu. / Wrong username or password.")
    if user.locked_until is not None and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        raise LoginRefused(
            f"Tài khoản tạm khóa do nhập sai nhiều lần; thử lại sau {minutes} phút. / "
            f"Account locked after repeated failures; try again in {minutes} min."
        )
    if not check_password(user, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        session.flush()
        raise LoginRefused("Sai tên đăng nhập hoặc mật khẩu. / Wrong username or password.")
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    return user
