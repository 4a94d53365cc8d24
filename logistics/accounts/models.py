"""Staff accounts: couriers, dispatchers, agency officers, managers, administrators."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from config.db import Base, UTCDateTime, utcnow
from logistics.agencies.models import Agency, PostOffice, enum_column


class Role(enum.StrEnum):
    """What a staff member may do; scoping (agency, post office) is on the user."""

    COURIER = "courier"
    DISPATCHER = "dispatcher"
    AGENCY_OFFICER = "agency_officer"
    MANAGER = "manager"
    ADMIN = "admin"


class User(Base):
    """A staff member who logs in."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    post_office_id: Mapped[int | None] = mapped_column(ForeignKey("post_offices.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Repeated wrong passwords lock the account for a while (brute-force slow-down that holds across processes).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    agency: Mapped[Agency | None] = relationship()
    post_office: Mapped[PostOffice | None] = relationship()


@dataclass(frozen=True, slots=True)
class Staff:
    """A logged-in staff member as one request sees them: who, in which role, bound to which agency or office.

    A value, not an ORM object: every staff request (a courier's scans above all) reads it with one small
    statement (``logistics.accounts.services.active_staff``); a page that shows the person's agency or post
    office loads the ``User``.
    """

    id: int
    username: str
    full_name: str
    role: Role
    agency_id: int | None
    post_office_id: int | None


class ApiToken(Base):
    """A system's API token: only its SHA-256 is stored; the secret is shown once, at creation.

    Scopes are space-separated (``orders:write scans:write agency:<code>:confirm``); a token bound to an
    agency or post office can never act on another one's dossiers.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # public part, to find the row
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(1000))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    post_office_id: Mapped[int | None] = mapped_column(ForeignKey("post_offices.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    agency: Mapped[Agency | None] = relationship()
    post_office: Mapped[PostOffice | None] = relationship()

    @property
    def scope_set(self) -> frozenset[str]:
        """The token's scopes as a set."""
        return frozenset(self.scopes.split())


class AuditEntry(Base):
    """One staff or system action (who, what, when, from where); written for every state-changing request."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    token_prefix: Mapped[str | None] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(120))  # the endpoint, e.g. api_v1.create_order
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    status: Mapped[int] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
