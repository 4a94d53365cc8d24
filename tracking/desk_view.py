"""What an agency's one-stop desk sees: incoming items, records to decide, dossiers in processing, results.

Dossiers in processing carry their appointment dates, late and at-risk ones flagged.

Reads only; the decisions go through ``tracking.agency``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.calendar import add_working_days
from logistics.orders.models import Dossier, Leg, Order, OrderState
from tracking.models import EventKind, HandoverDecision, HandoverItem, HandoverRecord, TrackingEvent

ON_THE_WAY: Final = (OrderState.ASSIGNED, OrderState.COLLECTED, OrderState.AT_POST_OFFICE,
                     OrderState.OUT_FOR_DELIVERY)
AT_RISK_WORKING_DAYS: Final = 1  # an appointment within one working day is at risk


@dataclass(frozen=True)
class DeskDossier:
    """One dossier line on the desk."""

    order: Order
    dossier: Dossier
    appointment: date | None
    late: bool
    at_risk: bool
    result_ready: bool


@dataclass(frozen=True)
class Desk:
    """Everything on an agency's desk today."""

    on_the_way: list[Order]
    records: list[HandoverRecord]  # with at least one item still pending
    processing: list[DeskDossier]  # accepted or awaiting a supplement, result not yet ready
    results_waiting: list[Order]  # result legs opened, not yet collected by the courier

    @property
    def late(self) -> list[DeskDossier]:
        """Dossiers past their appointment date."""
        return [d for d in self.processing if d.late]

    @property
    def at_risk(self) -> list[DeskDossier]:
        """Dossiers due within a working day."""
        return [d for d in self.processing if d.at_risk]


def agency_desk(session: Session, agency_id: int, today: date) -> Desk:
    """The desk of agency ``agency_id`` as of ``today`` (local date)."""
    pickups = select(Order).join(Dossier, Dossier.id == Order.dossier_id).where(
        Dossier.agency_id == agency_id, Order.leg == Leg.PICKUP)
    on_the_way = list(session.scalars(pickups.where(Order.state.in_(ON_THE_WAY)).order_by(Order.id)))
    pending_records = select(HandoverItem.record_id).where(HandoverItem.decision == HandoverDecision.PENDING)
    records = list(session.scalars(
        select(HandoverRecord).where(HandoverRecord.agency_id == agency_id, HandoverRecord.id.in_(pending_records))
        .order_by(HandoverRecord.id)
    ))
    in_process = list(session.scalars(
        pickups.where(Order.state.in_((OrderState.ACCEPTED, OrderState.SUPPLEMENT_REQUESTED))).order_by(Order.id)
    ))
    ready_ids = set(session.scalars(
        select(TrackingEvent.order_id).where(TrackingEvent.order_id.in_([o.id for o in in_process]),
                                             TrackingEvent.kind == EventKind.RESULT_READY)
    )) if in_process else set()
    risk_limit = add_working_days(today, AT_RISK_WORKING_DAYS)
    processing = []
    for order in in_process:
        if order.id in ready_ids:
            continue
        appointment = order.dossier.appointment_date
        late = appointment is not None and appointment < today
        at_risk = not late and appointment is not None and appointment <= risk_limit
        processing.append(DeskDossier(order, order.dossier, appointment, late=late, at_risk=at_risk,
                                      result_ready=False))
    processing.sort(key=lambda d: (d.appointment or date.max, d.order.id))
    results_waiting = list(session.scalars(
        select(Order).join(Dossier, Dossier.id == Order.dossier_id).where(
            Dossier.agency_id == agency_id, Order.leg == Leg.RESULT,
            Order.state.in_((OrderState.CREATED, OrderState.ASSIGNED)),
        ).order_by(Order.id)
    ))
    return Desk(on_the_way, records, processing, results_waiting)
