"""Factories and helpers shared by tests: staff users and logging them in."""

from __future__ import annotations

import itertools
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.accounts.models import Role, User
from logistics.accounts.services import create_user
from logistics.agencies.models import Agency, AgencyKind, PostOffice

TEST_PASSWORD = "mat-khau-thu-nghiem"
_seq = itertools.count(1)


def make_user(
    session: Session,
    role: Role,
    *,
    username: str | None = None,
    agency_code: str | None = None,
    post_office_code: str | None = None,
    password: str = TEST_PASSWORD,
    full_name: str = "Cán Bộ Thử Nghiệm",
) -> User:
    """A staff user; agency officers default to the provincial center, couriers/dispatchers to the first office."""
    if role == Role.AGENCY_OFFICER and agency_code is None:
        agency_code = session.scalars(select(Agency.code).where(Agency.kind == AgencyKind.PROVINCE_CENTER)).first()
    if role in (Role.COURIER, Role.DISPATCHER) and post_office_code is None:
        post_office_code = session.scalars(select(PostOffice.code).order_by(PostOffice.code)).first()
    return create_user(
        session,
        username=username or f"{role.value}{next(_seq)}",
        full_name=full_name,
        role=role,
        password=password,
        agency_code=agency_code,
        post_office_code=post_office_code,
    )


def csrf_token(client: Any, path: str = "/login") -> str:
    """The session's CSRF token, read from a form page."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: Any, username: str, password: str = TEST_PASSWORD) -> Any:
    """Log ``client`` in through the real log-in form; returns the response."""
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def make_token(session: Session, scopes: list[str], **binding: Any) -> str:
    """An API token's secret with ``scopes`` (bindings: agency_code=..., post_office_code=...)."""
    from logistics.accounts.tokens import issue_token

    return issue_token(session, name="test system", scopes=scopes, **binding).secret


def bearer(secret: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {secret}"}
