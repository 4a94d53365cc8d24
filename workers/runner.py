"""RQ entry points: the job that runs an outbox message, the periodic job, and the worker process.

Fork safety: nothing here queries at import or start-up. The process's ``Database`` is created on first use;
a forked work horse inherits it and ``Database.session()`` throws the parent's pooled connections away (without
closing them under the parent) before the first query, so every process has its own pool. The engine pings
connections before use, so a database restart (or killed backends) costs one failed job at most — retried —
and never a worker restart.
"""

from __future__ import annotations

import importlib
import logging
import os
from datetime import UTC, datetime
from typing import Any

from config.db import Database
from config.queue import QUEUES, Relay, json_serializer, rq_queue, run_message
from config.settings import Settings
from logistics.text import install_log_masking

log = logging.getLogger(__name__)

_state: dict[str, Any] = {}


def _context() -> tuple[Database, Settings, Relay]:
    """The process's database, settings and relay (created on first use, never at import)."""
    if "db" not in _state:
        import config.models  # noqa: F401, PLC0415 - every table mapped before the first query

        settings: Settings = _state.get("settings") or Settings.from_env()
        db = Database(settings.database_url)
        relay = Relay(db, settings)
        # Jobs that request more work (the reconciler, replays) get it relayed right after their commit.
        db.after_commit_hooks[:] = [relay.kick]
        _state.update(settings=settings, db=db, relay=relay)
    return _state["db"], _state["settings"], _state["relay"]


def run_outbox_job(message_id: int) -> None:
    """Run one outbox message; raising makes RQ retry it (Retry is set when it is enqueued)."""
    db, settings, _relay = _context()
    if not run_message(db, settings, message_id):
        raise RuntimeError(f"outbox message {message_id} failed; see outbox.last_error")


def run_periodic_job(name: str, slot: str) -> dict[str, Any] | None:
    """Run one slot of a periodic job under its overlap lock."""
    from workers.schedule import run_locked  # noqa: PLC0415 - schedule imports this module's callers

    db, settings, relay = _context()
    return run_locked(db, settings, name, slot, relay.redis(), relay=relay)


def ping() -> str:
    """A job that does nothing: RQ's own cost per job (bench/bench_workers.py)."""
    return "pong"


def run_worker(
    settings: Settings, queues: list[str] | None = None, *, burst: bool = False, fork: bool = False,
    schedule: bool = True, name: str | None = None,
) -> None:
    """Run an RQ worker on ``queues`` (all by default) with RQ's scheduler and the periodic schedule.

    ``fork=False`` (the default) runs jobs in the worker process (RQ's ``SimpleWorker``): jobs here are short
    database and network calls, and a forked horse per job costs ~5× in throughput (see bench/). Timeouts
    are still enforced (SIGALRM). ``fork=True`` gives the classic forking worker.
    """
    from redis import Redis  # noqa: PLC0415
    from rq import SimpleWorker, Worker  # noqa: PLC0415

    from workers.schedule import ScheduleThread  # noqa: PLC0415

    _state["settings"] = settings
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_masking()  # a failed job's traceback may quote a phone number or an ID number
    # Import every job module and build the engine now, in the parent (no query runs): a forked work horse
    # inherits them instead of paying for them on every job, and drops the inherited pool before its first query.
    _context()
    for module in ("labels", "notifications", "webhooks", "periodic"):
        importlib.import_module(f"workers.jobs.{module}")
    from sqlalchemy.orm import configure_mappers  # noqa: PLC0415

    from logistics.calendar import is_working_day  # noqa: PLC0415

    configure_mappers()  # SQLAlchemy does this on the first query otherwise: once per forked horse
    is_working_day(datetime.now(UTC).date())  # the holiday calendar (a cached computation) built once, inherited
    conn = Redis.from_url(settings.redis_url, health_check_interval=30)
    worker_cls = Worker if fork else SimpleWorker
    worker = worker_cls(
        [rq_queue(q, conn) for q in (queues or list(QUEUES))],
        connection=conn, serializer=json_serializer(), name=name,
    )
    scheduler = None
    if schedule and not burst:
        scheduler = ScheduleThread(Redis.from_url(settings.redis_url), settings)
        scheduler.start()
    log.info("worker %s (pid %s) on %s", worker.name, os.getpid(), ", ".join(queues or QUEUES))
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
    finally:
        if scheduler is not None:
            scheduler.stop_event.set()
        if "db" in _state:
            _state["db"].dispose()


def main() -> None:
    """``python -m workers.runner [queue …]``: a worker from the environment (used by tests and bench)."""
    import sys  # noqa: PLC0415

    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    install_log_masking()
    args = sys.argv[1:]
    burst = "--burst" in args
    fork = "--fork" in args
    queues = [a for a in args if not a.startswith("--")] or None
    run_worker(Settings.from_env(), queues, burst=burst, fork=fork, schedule="--no-schedule" not in args)


if __name__ == "__main__":
    main()
