"""API tokens for other systems: issued once, hashed at rest, scoped, bound, expiring, revocable.

A token reads ``dp_<prefix>_<secret>``. The prefix finds the row; the secret is compared as SHA-256 digests
in constant time (a fast hash is right here: the secret is 256 random bits, not a password).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.db import utcnow
from logistics.accounts.models import ApiToken
from logistics.agencies.models import Agency, PostOffice

# Scopes a token may carry (noun:verb). ``labels:read`` downloads the labels of the orders the token may
# read; ``reference:read`` reads the reference data (procedures, agencies, administrative units, post offices).
SCOPES = frozenset({
    "orders:read", "orders:write", "labels:read", "scans:write", "agency:confirm", "webhooks:manage",
    "reference:read",
})
_TOKEN_RE = re.compile(r"^dp_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
DEFAULT_LIFETIME = timedelta(days=365)
MAX_LIFETIME = timedelta(days=3 * 365)
# How stale ``last_used_at`` may get. Writing it on every call made every request of a system a write (a
# commit that waits for the WAL) and queued concurrent requests with the same token on its row's lock.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(ValueError):
    """A token cannot be issued as asked, or does not authenticate."""


@dataclass(frozen=True)
class IssuedToken:
    """The one moment the secret exists in clear: give it to the system, never store it."""

    token: ApiToken
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    name: str,
    scopes: list[str],
    agency_code: str | None = None,
    post_office_code: str | None = None,
    lifetime: timedelta = DEFAULT_LIFETIME,
    created_by_id: int | None = None,
) -> IssuedToken:
    """Create a token; ``agency:confirm`` needs an agency binding, ``scans:write`` a post office or agency."""
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise TokenError(f"Phạm vi không hợp lệ / unknown scopes: {', '.join(unknown)}")
    if not scopes:
        raise TokenError("Cần ít nhất một phạm vi. / At least one scope is required.")
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise TokenError("Thời hạn từ 1 giây đến 3 năm. / Lifetime must be within 3 years.")
    agency = post_office = None
    if agency_code:
        agency = session.scalar(select(Agency).where(Agency.code == agency_code))
        if agency is None:
            raise TokenError(f"Không có cơ quan {agency_code}. / Unknown agency.")
    if post_office_code:
        post_office = session.scalar(select(PostOffice).where(PostOffice.code == post_office_code))
        if post_office is None:
            raise TokenError(f"Không có bưu cục {post_office_code}. / Unknown post office.")
    if "agency:confirm" in scopes and agency is None:
        raise TokenError("Phạm vi agency:confirm cần gắn với một cơ quan (--agency). / Needs an agency binding.")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken(
        name=name, prefix=prefix, secret_hash=_digest(secret), scopes=" ".join(sorted(set(scopes))),
        agency=agency, post_office=post_office, created_by_id=created_by_id, expires_at=utcnow() + lifetime,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token, f"dp_{prefix}_{secret}")


def authenticate_token(session: Session, presented: str, *, now: datetime | None = None) -> ApiToken:
    """The live token matching ``presented``; ``TokenError`` (one message for every failure) otherwise."""
    now = now or utcnow()
    refused = TokenError("Mã truy cập không hợp lệ hoặc đã hết hạn. / Invalid or expired token.")
    match = _TOKEN_RE.match(presented.strip())
    if match is None:
        raise refused
    prefix, secret = match.groups()
    token = session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
    expected = token.secret_hash if token is not None else _digest("no-such-token")
    if not hmac.compare_digest(expected, _digest(secret)) or token is None:
        raise refused
    if token.revoked_at is not None or token.expires_at <= now:
        raise refused
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token


def revoke_token(session: Session, prefix: str) -> ApiToken:
    """Revoke a token by its prefix (effective at once, everywhere)."""
    token = session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
    if token is None:
        raise TokenError(f"Không có mã truy cập {prefix}. / No such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token
