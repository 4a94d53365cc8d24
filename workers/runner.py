"""RQ entry points: the job that runs an outbox message, and the worker process."""

from __future__ import annotations

import logging
import os

from config.db import Database
from config.queue import run_message
from config.settings import Settings

log = logging.getLogger(__name__)

_state: dict[str, object] = {}


def _context() -> tuple[Database, Settings]:
    """The database and settings, created on first use (after any fork, never at import)."""
    if _state.get("pid") != os.getpid():
        import config.models  # noqa: F401, PLC0415 - every table mapped before the first query

        settings = Settings.from_env()
        _state.update(pid=os.getpid(), settings=settings, db=Database(settings.database_url))
    return _state["db"], _state["settings"]  # type: ignore[return-value]


def run_outbox_job(message_id: int) -> None:
    """Run one outbox message; raising makes RQ retry it (Retry is set when it is enqueued)."""
    db, settings = _context()
    if not run_message(db, settings, message_id):
        raise RuntimeError(f"outbox message {message_id} failed; see outbox.last_error")


def run_worker(settings: Settings, queues: list[str], *, burst: bool = False) -> None:
    """Run an RQ worker on the named queues."""
    from redis import Redis  # noqa: PLC0415
    from rq import Worker  # noqa: PLC0415

    conn = Redis.from_url(settings.redis_url)
    Worker(queues, connection=conn).work(burst=burst, with_scheduler=True)
