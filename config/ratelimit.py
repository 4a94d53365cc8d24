"""Rate limits that hold across processes and machines: Redis when ``REDIS_URL`` is set, else the database.

Fixed windows: a counter per (limit, key, window) incremented atomically — ``INCR`` + ``EXPIRE`` on Redis,
an ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` upsert on PostgreSQL/SQLite. A fixed window lets a
client burst up to twice the limit across a window boundary; for anti-enumeration and per-token quotas that
is acceptable, and it costs one round trip (a sliding log would cost a sorted set per key).

Keys are hashed before storage (IP addresses and token ids are not kept in clear). The database limiter
writes on its own connection and commits at once, so a refused request (rolled back) still counts; on
SQLite call it before the request's own session starts a write transaction.

    limiter = make_rate_limiter(settings.redis_url, db)
    decision = limiter.hit(Limit("track-lookup", 30, 600), request.remote_addr)
    if not decision.allowed: ...  # 429 with Retry-After: decision.retry_after_s
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Integer, String, delete
from sqlalchemy.orm import Mapped, mapped_column

from config.db import Base, upsert

if TYPE_CHECKING:
    from config.db import Database

PURGE_PROBABILITY = 0.01
PURGE_AFTER_S = 86_400


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` hits per ``window_s`` seconds for each key; ``name`` separates the counters."""

    name: str
    limit: int
    window_s: int


@dataclass(frozen=True)
class RateDecision:
    """Whether a hit is allowed, and what to tell the client (``Retry-After``, ``RateLimit-*`` headers)."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int  # seconds until the window resets (0 when allowed)

    def headers(self) -> dict[str, str]:
        """HTTP headers describing the decision."""
        headers = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class RateLimiter(Protocol):
    """Counts hits per key and window."""

    def hit(self, limit: Limit, key: str, *, now: float | None = None) -> RateDecision:
        """Count one hit of ``key`` against ``limit``."""
        ...


class RateLimitCounter(Base):
    """A fixed-window counter (database limiter)."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(limit name + key)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True)  # epoch seconds
    count: Mapped[int] = mapped_column(Integer)


def _digest(limit: Limit, key: str) -> str:
    return hashlib.sha256(f"{limit.name}\x00{key}".encode()).hexdigest()


def _decide(limit: Limit, count: int, window_start: int, now: float) -> RateDecision:
    allowed = count <= limit.limit
    retry = 0 if allowed else max(1, math.ceil(window_start + limit.window_s - now))
    return RateDecision(allowed, limit.limit, max(0, limit.limit - count), retry)


class DatabaseRateLimiter:
    """Counters in ``rate_limit_counters``, on a connection of their own (commits at once)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def hit(self, limit: Limit, key: str, *, now: float | None = None) -> RateDecision:
        """Count one hit (an atomic upsert) and decide."""
        now = time.time() if now is None else now
        window_start = int(now // limit.window_s * limit.window_s)
        digest = _digest(limit, key)
        stmt = upsert(self.db.dialect, RateLimitCounter).values(key=digest, window_start=window_start, count=1)
        counted = stmt.on_conflict_do_update(
            index_elements=["key", "window_start"], set_={"count": RateLimitCounter.count + 1}
        ).returning(RateLimitCounter.count)
        with self.db.engine.begin() as conn:
            count = int(conn.execute(counted).scalar_one())
            if random.random() < PURGE_PROBABILITY:  # noqa: S311 - load spreading, not security
                conn.execute(delete(RateLimitCounter).where(RateLimitCounter.window_start < now - PURGE_AFTER_S))
        return _decide(limit, count, window_start, now)


class RedisRateLimiter:
    """Counters in Redis: ``INCR`` and ``EXPIRE`` in one MULTI, so every process and machine shares them."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    @classmethod
    def from_url(cls, url: str) -> RedisRateLimiter:
        """A limiter on the Redis at ``url``."""
        from redis import Redis  # noqa: PLC0415 - Redis is only needed when configured

        return cls(Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2))

    def hit(self, limit: Limit, key: str, *, now: float | None = None) -> RateDecision:
        """Count one hit and decide."""
        now = time.time() if now is None else now
        window_start = int(now // limit.window_s * limit.window_s)
        rkey = f"dossierpost:rl:{_digest(limit, key)}:{window_start}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(rkey)
        pipe.expire(rkey, limit.window_s + 1)
        count, _ = pipe.execute()
        return _decide(limit, int(count), window_start, now)


def make_rate_limiter(redis_url: str, db: Database) -> RateLimiter:
    """Redis when configured, else the database (both hold across processes)."""
    if redis_url:
        return RedisRateLimiter.from_url(redis_url)
    return DatabaseRateLimiter(db)
