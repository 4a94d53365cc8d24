"""Fixtures on the real servers: SQLite and PostgreSQL for the database, Redis for the queue.

Each database backend is migrated with Alembic (``upgrade head``) and loaded with the reference data once
per run; each test then runs inside a savepoint that is rolled back (``db_session``), or against committed
data cleaned up afterwards (``app``/``client`` and the concurrency tests). A server that is not running is
started where this machine can start it; where it cannot, its tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

import config.models  # noqa: F401 - every table mapped
from config.db import Database
from config.migrate import upgrade
from config.settings import Settings

PG_ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 dbname=postgres user=postgres")
PG_TEST_DB = os.environ.get("TEST_PG_DATABASE", "dossierpost_test")
PG_URL = os.environ.get("TEST_PG_URL", f"postgresql://postgres@127.0.0.1:5432/{PG_TEST_DB}")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Tables written by tests that commit; reference data stays.
TRANSACTIONAL_TABLES = (
    "agency_receipts", "handover_items", "handover_records", "refused_scans", "reinvitations", "delivery_secrets",
    "dossier_code_counters", "rate_limit_counters",
    "webhook_attempts", "webhook_deliveries", "webhook_subscriptions", "sms_outbox", "notifications",
    "citizen_contacts", "deadline_alerts", "periodic_runs",
    "result_addresses",
    "courier_runs", "import_batches",
    "label_renderings", "tracking_events", "orders", "dossiers", "outbox", "audit_log", "api_tokens", "users",
)


def _run(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=False, capture_output=True, timeout=60)  # noqa: S602 - fixed commands


def _pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _ensure_postgres() -> str | None:
    """Return None when PostgreSQL is reachable (starting it if this machine can), else why not."""
    if _pg_reachable():
        return None
    if shutil.which("pg_ctlcluster") and Path("/etc/postgresql").is_dir():
        version = max(p.name for p in Path("/etc/postgresql").iterdir())
        _run(f"pg_ctlcluster --skip-systemctl-redirect {version} main start")
        for _ in range(20):
            if _pg_reachable():
                return None
            time.sleep(0.5)
    return f"PostgreSQL not reachable at {PG_ADMIN_DSN} and could not be started here"


def _ensure_redis() -> str | None:
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    def ping() -> bool:
        try:
            return bool(Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
        except RedisConnectionError:
            return False

    if ping():
        return None
    if shutil.which("redis-server"):
        Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
        Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
        _run('redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
             "--dir /var/lib/redis --logfile /var/log/redis/ci.log")
        for _ in range(20):
            if ping():
                return None
            time.sleep(0.25)
    return f"Redis not reachable at {REDIS_URL} and could not be started here"


def _create_pg_database() -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (PG_TEST_DB,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}"')
        conn.execute(f'CREATE DATABASE "{PG_TEST_DB}" ENCODING \'UTF8\' TEMPLATE template0')


def _prepare(url: str) -> Database:
    from logistics.agencies.refdata import load_reference_data

    upgrade(url)
    db = Database(url)
    with db.unit_of_work() as session:
        load_reference_data(session)
    return db


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def pg_url() -> str:
    reason = _ensure_postgres()
    if reason:
        pytest.skip(reason)
    _create_pg_database()
    return PG_URL


@pytest.fixture(scope="session")
def _databases() -> Iterator[dict[str, Database]]:
    databases: dict[str, Database] = {}
    yield databases
    for database in databases.values():
        database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, _databases: dict[str, Database]) -> Database:
    """A migrated database with reference data, on each backend."""
    backend: str = request.param
    if backend not in _databases:
        url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
        _databases[backend] = _prepare(url)
    return _databases[backend]


@pytest.fixture
def db_session(db: Database) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test (savepoints for commits)."""
    conn = db.engine.connect()
    trans = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        trans.rollback()
        conn.close()


def clean_transactional(db: Database) -> None:
    """Remove what committed tests wrote, keeping the reference data."""
    with db.engine.begin() as conn:
        for table in TRANSACTIONAL_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed table names


@pytest.fixture
def settings(db: Database) -> Settings:
    return Settings(env="test", database_url=db.url, public_base_url="https://dossierpost.test",
                    inprocess_jobs=False)


@pytest.fixture
def app(settings: Settings, db: Database) -> Iterator[Any]:
    from web import create_app

    application = create_app(settings, db=db, start_jobs=False)
    application.config["TESTING"] = True
    yield application
    clean_transactional(db)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture(scope="session")
def redis_url() -> str:
    reason = _ensure_redis()
    if reason:
        pytest.skip(reason)
    return REDIS_URL


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[Any]:
    from redis import Redis

    conn = Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()
