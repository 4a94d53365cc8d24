"""The operator page (managers): queues and their lag, failed jobs with retry/discard, outbox, SMS, webhooks.

An equivalent of rq-dashboard inside the app, behind the staff log-in, that also shows what RQ cannot: the
outbox (work committed but not yet handed over), the SMS written by the default provider, webhook
subscriptions with their pause and replay, and the periodic runs with the latest daily report.
"""

from __future__ import annotations

from typing import Any, Final

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from config.queue import (
    QUEUES,
    OutboxMessage,
    PeriodicRun,
    dead_messages,
    discard_message,
    enqueue,
    json_serializer,
    retry_message,
    rq_queue,
)
from logistics.accounts.models import Role
from logistics.notifications.services import recent_sms
from logistics.webhooks.services import pause, recent_deliveries, replay_subscription, subscriptions
from web.auth import current_user, register_staff_link, roles_required
from web.context import db_session, services
from web.i18n import gettext as _

bp = Blueprint("ops", __name__, url_prefix="/ops")

OPERATORS: Final = (Role.MANAGER, Role.ADMIN)
FAILED_SHOWN: Final = 50


def _failed_rq_jobs() -> list[dict[str, Any]]:
    from rq.job import Job  # noqa: PLC0415 - RQ only when Redis is configured
    from rq.registry import FailedJobRegistry  # noqa: PLC0415

    conn = services().relay.redis()
    out: list[dict[str, Any]] = []
    for name in QUEUES:
        registry = FailedJobRegistry(queue=rq_queue(name, conn))
        for job_id in registry.get_job_ids(0, FAILED_SHOWN - 1):
            job = Job.fetch(job_id, connection=conn, serializer=json_serializer()) if conn.exists(
                f"rq:job:{job_id}") else None
            result = job.latest_result() if job is not None else None
            exc = (result.exc_string if result is not None else None) or ""
            out.append({
                "queue": name, "id": job_id,
                "func": job.func_name if job is not None else "?",
                "args": job.args if job is not None else (),
                "ended_at": job.ended_at if job is not None else None,
                "error": exc.strip().splitlines()[-1] if exc.strip() else "",
            })
    return out


def _latest_runs() -> list[PeriodicRun]:
    runs = db_session().scalars(select(PeriodicRun).order_by(PeriodicRun.started_at.desc()).limit(200)).all()
    latest: dict[str, PeriodicRun] = {}
    for run in runs:
        latest.setdefault(run.name, run)
    return sorted(latest.values(), key=lambda r: r.name)


@bp.get("")
@roles_required(*OPERATORS)
def index() -> str:
    """Everything an operator checks when citizens say they got no SMS or an agency no webhook."""
    svc = services()
    session = db_session()
    status = svc.relay.status(session)
    failed: list[dict[str, Any]] = []
    if svc.relay.uses_redis and status.get("ok"):
        failed = _failed_rq_jobs()
    report = session.scalars(
        select(PeriodicRun).where(PeriodicRun.name == "daily_report", PeriodicRun.status == "done")
        .order_by(PeriodicRun.slot.desc()).limit(1)
    ).first()
    return render_template(
        "ops.html", status=status, failed=failed, dead=dead_messages(session, limit=FAILED_SHOWN),
        sms=recent_sms(session, limit=30), subs=subscriptions(session),
        deliveries=recent_deliveries(session, limit=30), runs=_latest_runs(), report=report,
    )


def _operator_name() -> str:
    user = current_user()
    return user.username if user is not None else "?"


@bp.post("/jobs/<queue>/<job_id>/retry")
@roles_required(*OPERATORS)
def retry_job(queue: str, job_id: str) -> BaseResponse:
    """Put a failed RQ job back on its queue (its outbox message gets fresh attempts)."""
    from rq.registry import FailedJobRegistry  # noqa: PLC0415

    if queue not in QUEUES or not services().relay.uses_redis:
        abort(404)  # no RQ in the embedded mode: there are no RQ jobs to act on
    conn = services().relay.redis()
    if job_id.startswith("outbox-") and job_id[7:].isdigit():
        retry_message(db_session(), int(job_id[7:]))
    try:
        FailedJobRegistry(queue=rq_queue(queue, conn)).requeue(job_id)
    except Exception:  # noqa: BLE001 - gone from the registry: the outbox reset above re-sends it anyway
        flash(_("Công việc không còn trong danh sách lỗi."))
    else:
        flash(_("Đã đưa công việc vào hàng đợi lại."))
    return redirect(url_for("ops.index"))


@bp.post("/jobs/<queue>/<job_id>/discard")
@roles_required(*OPERATORS)
def discard_job(queue: str, job_id: str) -> BaseResponse:
    """Remove a failed RQ job for good (its outbox message is closed as discarded)."""
    from rq.registry import FailedJobRegistry  # noqa: PLC0415

    if queue not in QUEUES or not services().relay.uses_redis:
        abort(404)  # no RQ in the embedded mode: there are no RQ jobs to act on
    conn = services().relay.redis()
    if job_id.startswith("outbox-") and job_id[7:].isdigit():
        discard_message(db_session(), int(job_id[7:]), by=_operator_name())
    try:
        FailedJobRegistry(queue=rq_queue(queue, conn)).remove(job_id, delete_job=True)
    except Exception:  # noqa: BLE001 - already gone from the registry: nothing left to discard
        flash(_("Công việc không còn trong danh sách lỗi."))
    else:
        flash(_("Đã bỏ công việc."))
    return redirect(url_for("ops.index"))


@bp.post("/outbox/<int:message_id>/retry")
@roles_required(*OPERATORS)
def retry_outbox(message_id: int) -> BaseResponse:
    """Give an outbox message that ran out of attempts a fresh set."""
    if db_session().get(OutboxMessage, message_id) is None:
        abort(404)
    retry_message(db_session(), message_id)
    flash(_("Đã đưa công việc vào hàng đợi lại."))
    return redirect(url_for("ops.index"))


@bp.post("/outbox/<int:message_id>/discard")
@roles_required(*OPERATORS)
def discard_outbox(message_id: int) -> BaseResponse:
    """Close an outbox message that will never succeed."""
    if not discard_message(db_session(), message_id, by=_operator_name()):
        abort(404)
    flash(_("Đã bỏ công việc."))
    return redirect(url_for("ops.index"))


@bp.post("/webhooks/<int:subscription_id>/replay")
@roles_required(*OPERATORS)
def replay_webhooks(subscription_id: int) -> BaseResponse:
    """Resume a paused subscription and re-send what it missed."""
    session = db_session()
    try:
        ids = replay_subscription(session, subscription_id)
    except ValueError:
        abort(404)
    for delivery_id in ids:
        enqueue(session, "workers.jobs.webhooks.deliver_webhook", queue="webhooks", delivery_id=delivery_id)
    flash(_("Đã gửi lại {n} sự kiện.").replace("{n}", str(len(ids))))
    return redirect(url_for("ops.index"))


@bp.post("/webhooks/<int:subscription_id>/pause")
@roles_required(*OPERATORS)
def pause_webhooks(subscription_id: int) -> BaseResponse:
    """Stop sending to a subscription (e.g. the agency announced maintenance)."""
    pause(db_session(), subscription_id, f"tạm dừng bởi {_operator_name()}")
    flash(_("Đã tạm dừng webhook."))
    return redirect(url_for("ops.index"))


register_staff_link("ops.index", "Vận hành hệ thống", *OPERATORS)
