"""The operator page (managers only) and the queue lag in /healthz."""

import pytest
from rq import SimpleWorker
from sqlalchemy import select

from config.queue import MAX_ATTEMPTS, OutboxMessage, enqueue, json_serializer, rq_job_options, rq_queue
from logistics.accounts.models import Role
from tests.factories import csrf_token, login, make_user
from tests.workers.helpers import book, drain


def _login(db, client, role):
    with db.unit_of_work() as s:
        user = make_user(s, role)
        name = user.username
    login(client, name)


def test_only_managers_see_the_operator_page(db, client):
    assert client.get("/ops").status_code == 302  # to the log-in page
    _login(db, client, Role.DISPATCHER)
    assert client.get("/ops").status_code == 403


def test_operator_page_shows_outbox_sms_and_periodic_runs(db, settings, client):
    book(db)
    drain(db, settings)
    _login(db, client, Role.MANAGER)
    html = client.get("/ops").get_data(as_text=True)
    assert "Vận hành hệ thống" in html
    assert 'id="outbox-pending">0<' in html
    assert "Bưu điện: đã đặt lịch thu gom hồ sơ" in html  # the SMS outbox
    assert client.get("/ops?lang=en").get_data(as_text=True).count("System operations") >= 1


def test_dead_outbox_message_can_be_retried_or_discarded(db, settings, client):  # noqa: ARG001
    with db.unit_of_work() as s:
        enqueue(s, "workers.jobs.labels.render_label", queue="labels", order_id=-1)
        enqueue(s, "workers.jobs.labels.render_label", queue="labels", order_id=-2)
    with db.unit_of_work() as s:
        msgs = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        for m in msgs:
            m.attempts, m.last_error = MAX_ATTEMPTS, "LookupError: boom"
        first, second = msgs[0].id, msgs[1].id
    _login(db, client, Role.MANAGER)
    html = client.get("/ops").get_data(as_text=True)
    assert f"outbox-{first}" in html and "LookupError: boom" in html
    token = csrf_token(client, "/ops")
    assert client.post(f"/ops/outbox/{first}/retry", data={"csrf_token": token}).status_code == 302
    assert client.post(f"/ops/outbox/{second}/discard", data={"csrf_token": token}).status_code == 302
    assert client.post(f"/ops/outbox/{second}/discard").status_code == 400  # no CSRF token
    with db.unit_of_work() as s:
        retried, discarded = s.get(OutboxMessage, first), s.get(OutboxMessage, second)
        assert retried.attempts == 0 and retried.done_at is None
        assert discarded.done_at is not None and "[discarded by" in discarded.last_error


def test_healthz_reports_outbox_lag(db, client):
    book(db)
    body = client.get("/healthz").get_json()
    queue = body["queue"]
    assert queue["outbox_pending"] == 2 and queue["lag_seconds"] >= 0
    assert "outbox_lag_seconds" in queue


@pytest.mark.redis
def test_failed_rq_job_is_listed_and_retried(db, settings, app, redis_url, redis_conn):
    from web.context import Services

    svc: Services = app.extensions["dossierpost"]
    svc.relay.settings = settings.with_(redis_url=redis_url)
    try:
        _failed_job_round_trip(db, app, redis_conn)
    finally:  # the relay is the shared database's after-commit hook: leave it as it was
        svc.relay.settings, svc.relay._redis = settings, None


def _failed_job_round_trip(db, app, redis_conn):
    queue = rq_queue("routing", redis_conn)
    queue.enqueue("workers.runner.no_such_job", 1, job_id="outbox-999999",
                  **(rq_job_options("routing") | {"retry": None}))
    SimpleWorker([queue], connection=redis_conn, serializer=json_serializer()).work(burst=True)
    client = app.test_client()
    _login(db, client, Role.ADMIN)
    html = client.get("/ops").get_data(as_text=True)
    assert "outbox-999999" in html and 'id="queues"' in html
    body = client.get("/healthz").get_json()
    assert body["queue"]["queues"]["routing"]["failed"] == 1
    token = csrf_token(client, "/ops")
    assert client.post("/ops/jobs/routing/outbox-999999/retry", data={"csrf_token": token}).status_code == 302
    assert queue.count == 1
    SimpleWorker([queue], connection=redis_conn, serializer=json_serializer()).work(burst=True)
    assert client.post("/ops/jobs/routing/outbox-999999/discard", data={"csrf_token": token}).status_code == 302
    assert client.get("/healthz").get_json()["queue"]["queues"]["routing"]["failed"] == 0


def test_every_text_of_the_operator_page_has_its_english():
    import re
    from pathlib import Path

    from web.i18n import EN

    root = Path(__file__).resolve().parents[2] / "web"
    texts = set(re.findall(r"""_\(["']([^"']+)["']\)""", (root / "templates" / "ops.html").read_text()))
    texts |= set(re.findall(r'_\("([^"]+)"\)', (root / "ops.py").read_text()))
    assert texts
    assert sorted(t for t in texts if t not in EN) == []
