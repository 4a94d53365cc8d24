"""Dispatcher actions that are not scans: assigning a courier to a leg, cancelling a leg not yet collected.

Flask-free, like the scans and the agency desk: the dispatcher's pages, the demo data and ``simulate`` call
these, and each records its tracking event (so the hash chain and the read models follow).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from logistics.accounts.models import User
from logistics.orders.models import Order, OrderState
from logistics.routing.couriers import ASSIGNABLE_STATES
from tracking.actors import Actor
from tracking.models import EventKind, TrackingEvent
from tracking.services import append_event
from tracking.states import TransitionRefused, next_state


def assign_courier(session: Session, order: Order, courier: User, *, actor: Actor) -> TrackingEvent:
    """Give ``order`` to ``courier`` (checked by ``logistics.routing.couriers.choose_courier``).

    A leg already in a courier's hands (collected, on the road...) may be re-assigned: it keeps its state.
    Raises ``TransitionRefused`` for a leg that can no longer be assigned.
    """
    try:
        state = next_state(order.leg, order.state, EventKind.ASSIGNED)
    except TransitionRefused:
        state = order.state  # a re-assignment of an item already in the courier's hands keeps its state
        if order.state not in ASSIGNABLE_STATES:
            raise
    order.courier_id = courier.id
    return append_event(session, order, EventKind.ASSIGNED, state, actor_role=actor.role, actor_id=actor.user_id,
                        actor_name=actor.name, post_office_id=order.post_office_id,
                        note=f"Phân công bưu tá {courier.full_name}")


def cancel_leg(session: Session, order: Order, *, actor: Actor, reason: str | None = None) -> TrackingEvent:
    """Cancel a leg nothing was collected for yet (the citizen withdrew, or collects the result in person).

    Raises ``TransitionRefused`` naming the state once the leg is moving.
    """
    next_state(order.leg, order.state, EventKind.CANCELLED)
    return append_event(session, order, EventKind.CANCELLED, OrderState.CANCELLED, actor_role=actor.role,
                        actor_id=actor.user_id, actor_name=actor.name, note=reason)
