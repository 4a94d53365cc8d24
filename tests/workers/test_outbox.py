"""The outbox: jobs commit with the change that caused them and run after commit, in-process or on RQ."""

import time

import pytest
from rq import SimpleWorker
from sqlalchemy import event, select

from config.queue import (
    BORN_CLAIMED,
    OutboxMessage,
    Relay,
    claim_pending,
    enqueue,
    json_serializer,
    rq_queue,
    run_message,
)
from logistics.orders.models import Channel, LabelRendering
from tests.conftest import clean_transactional
from tests.orders.helpers import valid_request
from tracking.services import book_pickup


@pytest.fixture
def committed_order(db):
    with db.unit_of_work() as s:
        order, _ = book_pickup(s, valid_request(s), indicator="RA", channel=Channel.API)
        order_id = order.id
    yield order_id
    clean_transactional(db)


def _rendered(db, order_id):
    with db.unit_of_work() as s:
        return sorted(s.scalars(select(LabelRendering.fmt).where(LabelRendering.order_id == order_id)))


def test_rolled_back_change_leaves_no_job(db):
    class AbortError(Exception):
        pass

    def book_then_fail():
        with db.unit_of_work() as s:
            book_pickup(s, valid_request(s), indicator="RA", channel=Channel.API)
            raise AbortError

    with pytest.raises(AbortError):
        book_then_fail()
    with db.unit_of_work() as s:
        assert s.scalars(select(OutboxMessage)).all() == []


def test_inprocess_relay_renders_the_label(db, settings, committed_order):
    relay = Relay(db, settings)
    assert relay.relay_pending() == 2  # the label, and the citizen's "booked" SMS
    assert _rendered(db, committed_order) == ["pdf", "png", "svg"]
    with db.unit_of_work() as s:
        for msg in s.scalars(select(OutboxMessage)):
            assert msg.done_at is not None
            assert msg.attempts == 1
    assert relay.relay_pending() == 0  # nothing left, nothing run twice


def test_a_message_is_claimed_once(db, committed_order):  # noqa: ARG001
    assert len(claim_pending(db)) == 2
    assert claim_pending(db) == []


def test_running_a_done_message_again_does_nothing(db, settings, committed_order):
    with db.unit_of_work() as s:
        msg_id = s.scalars(select(OutboxMessage.id).where(OutboxMessage.job.endswith("render_label"))).one()
    assert run_message(db, settings, msg_id)
    assert run_message(db, settings, msg_id)
    with db.unit_of_work() as s:
        assert s.get(OutboxMessage, msg_id).attempts == 1
    assert _rendered(db, committed_order) == ["pdf", "png", "svg"]


def test_a_failing_job_records_its_error_and_stays_pending(db, settings):
    with db.unit_of_work() as s:
        enqueue(s, "workers.jobs.labels.render_label", queue="labels", no_such_argument=1)
    try:
        with db.unit_of_work() as s:
            msg_id = s.scalars(select(OutboxMessage.id)).one()
        assert not run_message(db, settings, msg_id)
        with db.unit_of_work() as s:
            msg = s.get(OutboxMessage, msg_id)
            assert msg.done_at is None
            assert msg.attempts == 1
            assert msg.last_error
    finally:
        clean_transactional(db)


def test_only_jobs_under_workers_jobs_can_run(db, settings):
    with db.unit_of_work() as s:
        enqueue(s, "os.system", queue="labels", command="true")
    try:
        with db.unit_of_work() as s:
            msg_id = s.scalars(select(OutboxMessage.id)).one()
        assert not run_message(db, settings, msg_id)
        with db.unit_of_work() as s:
            assert "refusing" in s.get(OutboxMessage, msg_id).last_error
    finally:
        clean_transactional(db)


def test_unknown_queue_is_refused(db_session):
    with pytest.raises(ValueError, match="unknown queue"):
        enqueue(db_session, "workers.jobs.labels.render_label", queue="nope", order_id=1)


@pytest.mark.redis
def test_rq_worker_runs_relayed_job(db, settings, committed_order, redis_conn, redis_url, monkeypatch):  # noqa: PLR0917
    import workers.runner

    monkeypatch.setenv("DATABASE_URL", db.url)
    worker_state: dict = {}
    monkeypatch.setattr(workers.runner, "_state", worker_state)  # the worker reads its settings afresh
    settings = settings.with_(redis_url=redis_url)
    relay = Relay(db, settings)
    assert relay.relay_pending() == 2
    queue = rq_queue("labels", redis_conn)
    assert queue.count == 1
    assert queue.jobs[0].id.startswith("outbox-")
    try:
        SimpleWorker([queue], connection=redis_conn, serializer=json_serializer()).work(burst=True)
    finally:
        if "db" in worker_state:
            worker_state["db"].dispose()
    assert _rendered(db, committed_order) == ["pdf", "png", "svg"]
    assert relay.status()["ok"] is True


@pytest.mark.redis
def test_redis_down_loses_nothing(db, settings, committed_order):
    settings = settings.with_(redis_url="redis://127.0.0.1:1/0")  # nothing listens there
    relay = Relay(db, settings)
    with pytest.raises(Exception, match=r"(?i)connect"):
        relay.relay_pending()
    relay.kick()  # after a commit: logs, never raises
    with db.unit_of_work() as s:
        for msg in s.scalars(select(OutboxMessage)):
            assert msg.done_at is None
            assert msg.dispatched_at is None  # the claim was released: the next relay sends it at once
    assert relay.status()["ok"] is False
    assert _rendered(db, committed_order) == []


def _born_claimed_booking(db, relay):
    """A booking committed the way a web request commits it: outbox rows born claimed, then the kick."""
    session = db.session()
    session.info[BORN_CLAIMED] = relay.claims_at_birth
    try:
        book_pickup(session, valid_request(session), indicator="RA", channel=Channel.WEB)
        session.commit()
    finally:
        session.close()
    relay.kick()


def _wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.redis
def test_a_web_commit_hands_its_jobs_over_without_a_claim(db, settings, redis_conn, redis_url):
    relay = Relay(db, settings.with_(redis_url=redis_url), background=True)
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - the statement text
    try:
        event.listen(db.engine, "before_cursor_execute", listener)
        _born_claimed_booking(db, relay)
        queue = rq_queue("labels", redis_conn)
        assert _wait_for(lambda: queue.count == 1), "the dispatcher did not push the label job"
        event.remove(db.engine, "before_cursor_execute", listener)
        assert not [s for s in statements if s.lstrip().startswith("UPDATE outbox")]  # born claimed: no claim
        with db.unit_of_work() as s:
            assert all(m.dispatched_at is not None for m in s.scalars(select(OutboxMessage)))
        assert claim_pending(db) == []  # nothing left for another relay to send again
    finally:
        relay.stop()
        clean_transactional(db)


@pytest.mark.redis
def test_born_claimed_jobs_that_redis_refuses_are_released_for_the_reconciler(db, settings):
    relay = Relay(db, settings.with_(redis_url="redis://127.0.0.1:1/0"), background=True)  # nothing listens
    try:
        _born_claimed_booking(db, relay)

        def released():
            with db.unit_of_work() as s:
                rows = s.scalars(select(OutboxMessage)).all()
                return rows and all(m.dispatched_at is None for m in rows)

        assert _wait_for(released), "the refused jobs stayed claimed"
        assert len(claim_pending(db)) == 2  # the reconciler (any relay) sends them at once
    finally:
        relay.stop()
        clean_transactional(db)
