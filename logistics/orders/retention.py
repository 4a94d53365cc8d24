"""Personal-data retention: erase what identifies a citizen once the legal keeping period is over.

Circular 17/2017 keeps electronic records at least 5 years (``RETENTION_YEARS``). After that, a dossier whose
legs are all finished keeps its statistics (procedure, agency, commune, dates, events) but loses the
applicant's name, phone and street address, and its rendered labels (which print them) are deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from logistics.orders.models import Dossier, LabelRendering, Order, OrderState

FINAL_STATES = frozenset({
    OrderState.DELIVERED, OrderState.RETURNED, OrderState.CANCELLED, OrderState.LOST, OrderState.ACCEPTED,
    OrderState.REFUSED,
})
ERASED = "(đã xóa theo thời hạn lưu trữ)"
BATCH = 500


def purge_personal_data(session: Session, *, now: datetime, years: int) -> int:
    """Erase personal data of finished dossiers older than ``years``; returns how many were erased.

    Idempotent and bounded: erased dossiers are skipped, and at most ``BATCH`` are handled per call, so a
    periodic job works through a backlog without one long transaction.
    """
    cutoff = now - timedelta(days=365 * years + years // 4)
    unfinished = exists().where(Order.dossier_id == Dossier.id, Order.state.not_in(FINAL_STATES))
    ids = session.scalars(
        select(Dossier.id)
        .where(Dossier.created_at < cutoff, Dossier.applicant_name != ERASED, ~unfinished)
        .order_by(Dossier.id).limit(BATCH)
    ).all()
    if not ids:
        return 0
    session.execute(
        update(Dossier).where(Dossier.id.in_(ids))
        .values(applicant_name=ERASED, applicant_phone="", address_text=ERASED, notes=None)
        .execution_options(synchronize_session=False)
    )
    order_ids = select(Order.id).where(Order.dossier_id.in_(ids))
    session.execute(delete(LabelRendering).where(LabelRendering.order_id.in_(order_ids)))
    session.flush()
    return len(ids)
