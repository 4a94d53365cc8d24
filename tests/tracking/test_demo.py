"""The demo data (``seed_demo``) and ``simulate``: every state of both legs, played through the real services."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.db import Database
from config.queue import OutboxMessage
from config.settings import Settings
from logistics.accounts.models import User
from logistics.agencies.models import Agency
from logistics.orders.models import Dossier, Leg, Order, OrderState
from tracking.delivery import FailureReason
from tracking.demo import DEFAULT_BOOKINGS, SHOWCASE_REF, STORIES, seed_demo, showcase_order
from tracking.desk_view import agency_desk
from tracking.models import EventKind, Reinvitation, TrackingEvent
from tracking.reports import dashboard
from tracking.services import verify_chains
from tracking.simulate import previous_working_day, simulate
from tracking.states import INITIAL, TRANSITIONS

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# Deliberately absent from the demo: none. Every (leg, state) a real lifecycle reaches is shown.
LEFT_OUT: frozenset[tuple[Leg, OrderState]] = frozenset()


def reachable() -> set[tuple[Leg, OrderState]]:
    """Every (leg, state) the lifecycle table reaches from the states a leg is opened in."""
    found: set[tuple[Leg, OrderState]] = set()
    for leg, table in TRANSITIONS.items():
        # A pickup opens in ``created``, or ``needs_review`` when its address did not resolve.
        frontier = [INITIAL[leg][1], *([OrderState.NEEDS_REVIEW] if leg == Leg.PICKUP else [])]
        while frontier:
            state = frontier.pop()
            if (leg, state) in found:
                continue
            found.add((leg, state))
            frontier += [after for (before, _event), after in table.items() if before == state]
    return found


def demo_states(session: Session) -> set[tuple[Leg, OrderState]]:
    rows = session.execute(select(Order.leg, Order.state).join(Dossier, Dossier.id == Order.dossier_id)
                           .where(Dossier.external_ref.like("DEMO-%")))
    return {(leg, state) for leg, state in rows}


def _today() -> datetime:
    return datetime.now(TZ)


@pytest.fixture
def seeded(db_session: Session, settings: Settings) -> Session:
    seed_demo(db_session, indicator="RA", settings=settings)
    return db_session


def test_every_state_of_both_legs_is_shown(seeded: Session) -> None:
    shown = demo_states(seeded)
    assert shown == reachable() - LEFT_OUT
    assert {leg for leg, _ in shown} == {Leg.PICKUP, Leg.RESULT}
    dossiers = seeded.scalar(select(func.count(Dossier.id)).where(Dossier.external_ref.like("DEMO-%")))
    assert dossiers == DEFAULT_BOOKINGS >= len(STORIES)
    # One seeding serves the checks below (each seeding costs seconds).
    _late_and_at_risk_by_the_manager_and_desk_figures(seeded)
    _the_exceptions_are_there(seeded)
    _chains_verify_and_events_are_in_the_past(seeded)
    _the_showcase_is_a_result_leg_with_a_failed_then_successful_delivery(seeded)


def _late_and_at_risk_by_the_manager_and_desk_figures(seeded: Session) -> None:
    today = _today().date()
    board = dashboard(seeded, start=today - timedelta(days=13), end=today, today=today)
    statuses = {row[4] for row in board.at_risk.rows}
    assert {"Quá hạn", "Sắp đến hạn"} <= statuses  # late, and due today or the next working day
    assert board.done_total >= 20 and 0.8 < (board.on_time_rate or 0) < 1  # sensible, one leg handed over late
    assert sum(row[5] for row in board.volumes.rows) >= 3  # failed attempts per day
    center = seeded.scalar(select(Agency).where(Agency.code == "000.00.01.H12"))
    assert center is not None
    desk = agency_desk(seeded, center.id, today)
    assert desk.late and desk.at_risk  # past the appointment date / due within a working day
    assert desk.records  # a hand-over record waiting for the officer's decisions
    assert desk.results_waiting  # results ready, waiting for a courier


def _the_exceptions_are_there(seeded: Session) -> None:
    failed = seeded.scalars(select(TrackingEvent.reason_code).where(TrackingEvent.kind == EventKind.DELIVERY_FAILED))
    assert {FailureReason(code) for code in failed} >= {FailureReason.ABSENT}
    assert (seeded.scalar(select(func.count(Reinvitation.id))) or 0) >= 3  # the plan after a failed attempt
    refused = seeded.scalar(select(TrackingEvent).where(TrackingEvent.kind == EventKind.REFUSED).limit(1))
    assert refused is not None and refused.reason_code
    review = seeded.scalar(select(Order).where(Order.state == OrderState.NEEDS_REVIEW))
    assert review is not None and review.dossier.routing["needs_review"]
    # Labels: every leg requested its rendering through the outbox.
    orders = seeded.scalar(select(func.count(Order.id)))
    labels = seeded.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.queue == "labels"))
    assert labels == orders


def _chains_verify_and_events_are_in_the_past(seeded: Session) -> None:
    checked, problems = verify_chains(seeded)
    assert checked >= DEFAULT_BOOKINGS and problems == {}
    newest = seeded.scalar(select(func.max(TrackingEvent.server_time)))
    assert newest is not None and newest <= _today()
    # Within each chain the played times go forward.
    last: dict[int, datetime] = {}
    for order_id, at in seeded.execute(select(TrackingEvent.order_id, TrackingEvent.server_time)
                                       .order_by(TrackingEvent.id)):
        assert at >= last.get(order_id, at)
        last[order_id] = at


def _the_showcase_is_a_result_leg_with_a_failed_then_successful_delivery(seeded: Session) -> None:
    order = showcase_order(seeded)
    assert order is not None and order.leg == Leg.RESULT and order.dossier.external_ref == SHOWCASE_REF
    kinds = list(seeded.scalars(select(TrackingEvent.kind).where(TrackingEvent.order_id == order.id)
                                .order_by(TrackingEvent.id)))
    assert EventKind.DELIVERY_FAILED in kinds and kinds[-1] == EventKind.DELIVERED


def test_seeding_again_adds_nothing(seeded: Session, settings: Settings) -> None:
    def counts() -> tuple[int, int, int]:
        return (seeded.scalar(select(func.count(Order.id))) or 0, seeded.scalar(select(func.count(TrackingEvent.id)))
                or 0, seeded.scalar(select(func.count(User.id))) or 0)

    before = counts()
    seed_demo(seeded, indicator="RA", settings=settings)
    assert counts() == before


def test_a_simulated_day_leaves_verifiable_chains_and_a_plausible_spread(db_session: Session,
                                                                         settings: Settings) -> None:
    seed_demo(db_session, indicator="RA", settings=settings, bookings=0)  # the staff only
    day = previous_working_day(_today().date())
    first = db_session.begin_nested()
    summary = simulate(db_session, settings, bookings=30, seed=7, day=day)
    first.rollback()
    db_session.expunge_all()  # the first day's objects (ids and item codes are reused after the rollback)
    db_session.info.clear()
    again = simulate(db_session, settings, bookings=30, seed=7, day=day)
    assert again.states == summary.states  # deterministic for a seed (same starting data)
    assert summary.broken_chains == 0 and summary.refused_scans == 0
    assert summary.events > 30 * 3 and summary.records >= 1
    pickup = {state for (leg, state), n in summary.states.items() if leg == "pickup" and n}
    assert len(pickup) >= 4 and {"accepted", "at_post_office"} <= pickup
    assert any(leg == "result" for leg, _ in summary.states)
    assert sum(summary.states.values()) >= 30
    _checked, problems = verify_chains(db_session)
    assert problems == {}


def test_simulate_refuses_today_and_days_off(db_session: Session, settings: Settings) -> None:
    from tracking.simulate import SimulationError

    seed_demo(db_session, indicator="RA", settings=settings, bookings=0)
    with pytest.raises(SimulationError):
        simulate(db_session, settings, bookings=1, day=_today().date())
    sunday = previous_working_day(_today().date())
    while sunday.weekday() != 6:
        sunday -= timedelta(days=1)
    with pytest.raises(SimulationError):
        simulate(db_session, settings, bookings=1, day=sunday)


def test_demo_home_links_the_showcase_public_page(db: Database, settings: Settings) -> None:
    from tests.conftest import clean_transactional
    from web import create_app

    app = create_app(settings.with_(demo=True), db=db, start_jobs=False)
    try:
        with db.unit_of_work() as s:
            seed_demo(s, indicator="RA", settings=settings)
        client = app.test_client()
        home = client.get("/").get_data(as_text=True)
        with db.unit_of_work() as s:
            code = showcase_order(s).item_code  # type: ignore[union-attr]
        assert f'id="example-item">{code}<' in home
        link = home.split('id="example-item"')[0].rsplit('href="', 1)[1].split('"')[0]
        page = client.get(link.replace("https://dossierpost.test", ""))
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "Chiều gửi hồ sơ" in html and "Chiều trả kết quả" in html and "Phát không thành công" in html
    finally:
        clean_transactional(db)
