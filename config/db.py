"""Database plumbing: the declarative base, engines, and the unit of work.

Services take a ``Session`` and only ``flush()``; the edges (a web request, a job, a CLI command) own the
transaction through ``Database.unit_of_work()`` and commit once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every mapped class; one metadata for the whole system."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned timezone-aware.

    SQLite has no time zone type; without this, values read back are naive on SQLite and aware on
    PostgreSQL, and comparisons break in one of the two.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: ARG002
        """Refuse naive datetimes: a naive time is ambiguous across the system's zones."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: ARG002
        """Attach UTC to what SQLite returns naive."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Demo data and simulations (``tracking.demo``, ``tracking.simulate``) play past days through the real services:
# inside ``clock_at(t)`` every ``utcnow()`` answers ``t``, so events, orders and receipts carry the played time
# and the event hashes are computed over it (the chains verify). Nothing else sets it: unset, it is the clock.
_played_time: ContextVar[datetime | None] = ContextVar("dossierpost_played_time", default=None)


def utcnow() -> datetime:
    """The current time, aware, in UTC (the played time inside ``clock_at``)."""
    played = _played_time.get()
    return played if played is not None else datetime.now(UTC)


def wall_clock() -> datetime:
    """The machine's time in UTC, even inside ``clock_at``: for infrastructure rows (the outbox's lag)."""
    return datetime.now(UTC)


@contextmanager
def clock_at(at: datetime) -> Iterator[None]:
    """Demo and simulation only: make ``utcnow()`` answer ``at`` (aware) in this context for the block."""
    if at.tzinfo is None:
        raise ValueError("clock_at needs an aware datetime")
    token = _played_time.set(at.astimezone(UTC))
    try:
        yield
    finally:
        _played_time.reset(token)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    # WAL lets readers proceed while one writer writes; busy_timeout makes writers queue instead of failing.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Take the write lock at BEGIN (IMMEDIATE): a transaction that reads then writes cannot deadlock with
    # another one doing the same, which the default deferred BEGIN allows on SQLite.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def upsert(dialect: str, entity: Any) -> Any:
    """An ``INSERT`` of ``entity`` with ``on_conflict_do_update``/``_nothing`` (PostgreSQL's and SQLite's share it)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert  # noqa: PLC0415 - both dialects ship with SA
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert  # noqa: PLC0415

    return (pg_insert if dialect == "postgresql" else sqlite_insert)(entity)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine with the per-dialect settings the system relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,  # parameters are personal data: see make_engine's PostgreSQL branch
            connect_args={"check_same_thread": False, "timeout": 15, "isolation_level": None},
            poolclass=NullPool if parsed.database in (None, "", ":memory:") else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.drivername in {"postgresql", "postgres"}:
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    # Bound parameters are citizens' names, phones and addresses: never in SQL logs (echo) nor in the text of
    # database errors (an IntegrityError prints its parameters), which end up in logs and the outbox's errors.
    return create_engine(url, echo=echo, hide_parameters=True, pool_pre_ping=True, pool_size=5, max_overflow=10)


class Database:
    """An engine and its session factory; one per process (rebuilt after fork)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._pid = os.getpid()
        self.after_commit_hooks: list[Callable[[], None]] = []

    @property
    def dialect(self) -> str:
        """The backend's name: ``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def session(self) -> Session:
        """A new session; the caller owns its transaction."""
        if os.getpid() != self._pid:
            # A forked worker must never share pooled connections with its parent.
            self.engine.dispose(close=False)
            self._pid = os.getpid()
        return self.sessionmaker()

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: commit if the block succeeds, roll back if it raises."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        self.run_after_commit_hooks()

    def run_after_commit_hooks(self) -> None:
        """Tell listeners (the outbox relay) that new work may be committed."""
        for hook in self.after_commit_hooks:
            hook()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


__all__ = ["Base", "Database", "UTCDateTime", "clock_at", "make_engine", "upsert", "utcnow", "wall_clock"]
