from datetime import timedelta

from sqlalchemy import func, select, update

from config.db import utcnow
from logistics.orders.models import Channel, Dossier, LabelRendering, Order, OrderState
from logistics.orders.retention import ERASED, purge_personal_data
from tests.orders.helpers import valid_request
from tracking.services import book_pickup


def _book(session, state, age_days):
    order, _ = book_pickup(session, valid_request(session), indicator="RA", channel=Channel.API)
    session.add(LabelRendering(order_id=order.id, fmt="pdf", content=b"%PDF"))
    session.execute(update(Order).where(Order.id == order.id).values(state=state))
    session.execute(update(Dossier).where(Dossier.id == order.dossier_id)
                    .values(created_at=utcnow() - timedelta(days=age_days)))
    session.flush()
    return order.dossier_id


def test_only_finished_dossiers_past_the_period_are_erased(db_session):
    old_done = _book(db_session, OrderState.DELIVERED, 6 * 365)
    old_open = _book(db_session, OrderState.AT_POST_OFFICE, 6 * 365)
    new_done = _book(db_session, OrderState.DELIVERED, 30)
    assert purge_personal_data(db_session, now=utcnow(), years=5) == 1
    db_session.expire_all()
    erased = db_session.get(Dossier, old_done)
    assert erased.applicant_name == ERASED
    assert erased.applicant_phone == ""
    assert db_session.get(Dossier, old_open).applicant_name == "Nguyễn Thị Hồng Nhung"
    assert db_session.get(Dossier, new_done).applicant_name == "Nguyễn Thị Hồng Nhung"
    labels = db_session.scalar(select(func.count()).select_from(LabelRendering).join(
        Order, Order.id == LabelRendering.order_id).where(Order.dossier_id == old_done))
    assert labels == 0
    assert purge_personal_data(db_session, now=utcnow(), years=5) == 0  # idempotent


def test_retention_runs_daily_on_the_schedule():
    from workers.schedule import BY_NAME

    periodic = BY_NAME["purge_personal_data"]
    assert periodic.daily_at is not None
    assert periodic.job == "workers.jobs.retention.purge_expired_personal_data"


def test_retention_job_erases_through_the_job_entry_point(db_session):
    from config.settings import Settings
    from workers.jobs.retention import purge_expired_personal_data

    _book(db_session, OrderState.DELIVERED, 6 * 365)
    assert purge_expired_personal_data(db_session, Settings(env="test"), utcnow()) == {"erased": 1}
