"""The lifecycle of both legs as one declarative table: (leg, state, event) -> next state.

Everything that moves an order goes through ``next_state``; a pair missing from the table is an impossible
scan and is refused with an error that names the current state. The table is data so that it can be read,
printed for the documentation and tested exhaustively over every (leg, state, event) triple.

Pickup leg (citizen -> agency)::

    created -> assigned -> collected -> at_post_office -> out_for_delivery -> handed_to_agency
        -> accepted | refused | supplement_requested

Result leg (agency -> citizen)::

    created (result ready) -> [assigned] -> collected -> at_post_office -> out_for_delivery
        -> delivered | delivery_failed -> out_for_delivery (re-attempt) ... -> returned (to the agency)

Leaving a post office puts the item on the road (``out_for_delivery``); arriving at another office puts it
back ``at_post_office``: inter-office transit needs no state of its own. Cancellation is possible while
nothing has been collected; loss or damage while the post holds the item.
"""

from __future__ import annotations

from typing import Final

from logistics.orders.models import Leg, OrderState
from tracking.models import EventKind

S = OrderState
E = EventKind

# The event that opens each leg and the state it opens in (the result leg opens when the result is ready).
INITIAL: Final[dict[Leg, tuple[EventKind, OrderState]]] = {
    Leg.PICKUP: (E.CREATED, S.CREATED),
    Leg.RESULT: (E.RESULT_READY, S.CREATED),
}

_IN_CUSTODY = (S.COLLECTED, S.AT_POST_OFFICE, S.OUT_FOR_DELIVERY)

_PICKUP: dict[tuple[OrderState, EventKind], OrderState] = {
    (S.CREATED, E.ASSIGNED): S.ASSIGNED,
    (S.NEEDS_REVIEW, E.ASSIGNED): S.ASSIGNED,
    (S.ASSIGNED, E.ASSIGNED): S.ASSIGNED,  # re-assignment to another courier
    (S.CREATED, E.COLLECTED): S.COLLECTED,  # handed in at the post office counter
    (S.ASSIGNED, E.COLLECTED): S.COLLECTED,
    (S.COLLECTED, E.ARRIVED_POST_OFFICE): S.AT_POST_OFFICE,
    (S.AT_POST_OFFICE, E.LEFT_POST_OFFICE): S.OUT_FOR_DELIVERY,
    (S.AT_POST_OFFICE, E.OUT_FOR_DELIVERY): S.OUT_FOR_DELIVERY,
    (S.OUT_FOR_DELIVERY, E.ARRIVED_POST_OFFICE): S.AT_POST_OFFICE,
    (S.OUT_FOR_DELIVERY, E.HANDED_TO_AGENCY): S.HANDED_TO_AGENCY,
    (S.HANDED_TO_AGENCY, E.RECEIPT_CONFIRMED): S.ACCEPTED,
    (S.HANDED_TO_AGENCY, E.REFUSED): S.REFUSED,
    (S.HANDED_TO_AGENCY, E.SUPPLEMENT_REQUESTED): S.SUPPLEMENT_REQUESTED,
    # Form 02 may follow the receipt (within 3 working days); the clock restarts on the complete dossier.
    (S.ACCEPTED, E.SUPPLEMENT_REQUESTED): S.SUPPLEMENT_REQUESTED,
    (S.SUPPLEMENT_REQUESTED, E.RECEIPT_CONFIRMED): S.ACCEPTED,
    (S.SUPPLEMENT_REQUESTED, E.REFUSED): S.REFUSED,
    # The result is recorded on the pickup leg too (send-only dossiers have no result leg).
    (S.ACCEPTED, E.RESULT_READY): S.ACCEPTED,
    # A refused dossier goes back to the citizen.
    (S.REFUSED, E.RETURNED): S.RETURNED,
    (S.CREATED, E.CANCELLED): S.CANCELLED,
    (S.NEEDS_REVIEW, E.CANCELLED): S.CANCELLED,
    (S.ASSIGNED, E.CANCELLED): S.CANCELLED,
    **{(state, E.LOST): S.LOST for state in _IN_CUSTODY},
}

_RESULT: dict[tuple[OrderState, EventKind], OrderState] = {
    (S.CREATED, E.ASSIGNED): S.ASSIGNED,
    (S.ASSIGNED, E.ASSIGNED): S.ASSIGNED,
    (S.CREATED, E.COLLECTED): S.COLLECTED,  # collected from the agency desk
    (S.ASSIGNED, E.COLLECTED): S.COLLECTED,
    (S.COLLECTED, E.ARRIVED_POST_OFFICE): S.AT_POST_OFFICE,
    (S.COLLECTED, E.OUT_FOR_DELIVERY): S.OUT_FOR_DELIVERY,  # straight from the agency to the citizen
    (S.AT_POST_OFFICE, E.LEFT_POST_OFFICE): S.OUT_FOR_DELIVERY,
    (S.AT_POST_OFFICE, E.OUT_FOR_DELIVERY): S.OUT_FOR_DELIVERY,
    (S.OUT_FOR_DELIVERY, E.ARRIVED_POST_OFFICE): S.AT_POST_OFFICE,
    (S.OUT_FOR_DELIVERY, E.DELIVERED): S.DELIVERED,
    (S.OUT_FOR_DELIVERY, E.DELIVERY_FAILED): S.DELIVERY_FAILED,
    (S.DELIVERY_FAILED, E.OUT_FOR_DELIVERY): S.OUT_FOR_DELIVERY,  # re-attempt after an invitation
    (S.DELIVERY_FAILED, E.ARRIVED_POST_OFFICE): S.AT_POST_OFFICE,
    (S.DELIVERY_FAILED, E.RETURNED): S.RETURNED,  # back to the agency after the invitations
    (S.AT_POST_OFFICE, E.RETURNED): S.RETURNED,
    (S.CREATED, E.CANCELLED): S.CANCELLED,  # the citizen collects the result in person
    (S.ASSIGNED, E.CANCELLED): S.CANCELLED,
    **{(state, E.LOST): S.LOST for state in (*_IN_CUSTODY, S.DELIVERY_FAILED)},
}

TRANSITIONS: Final[dict[Leg, dict[tuple[OrderState, EventKind], OrderState]]] = {
    Leg.PICKUP: _PICKUP,
    Leg.RESULT: _RESULT,
}

TERMINAL: Final[frozenset[OrderState]] = frozenset({S.DELIVERED, S.RETURNED, S.CANCELLED, S.LOST})


class TransitionRefused(Exception):  # noqa: N818 - reads as the fact it reports
    """An event that cannot happen to an order in its current state; nothing was changed."""

    def __init__(self, leg: Leg, state: OrderState, event: EventKind) -> None:
        self.leg, self.state, self.event = leg, state, event
        allowed = ", ".join(sorted(str(e) for e in allowed_events(leg, state))) or "none (final state)"
        super().__init__(
            f"Không thể ghi nhận '{event}' khi bưu gửi (chiều {leg}) đang ở trạng thái '{state}'. / "
            f"Event '{event}' is impossible for a {leg} leg in state '{state}'; allowed: {allowed}."
        )


def can_transition(leg: Leg, state: OrderState, event: EventKind) -> bool:
    """Whether ``event`` may happen to a ``leg`` order in ``state``."""
    return (state, event) in TRANSITIONS[leg]


def next_state(leg: Leg, state: OrderState, event: EventKind) -> OrderState:
    """The state after ``event``; raises :class:`TransitionRefused` naming the current state otherwise."""
    try:
        return TRANSITIONS[leg][state, event]
    except KeyError:
        raise TransitionRefused(leg, state, event) from None


def allowed_events(leg: Leg, state: OrderState) -> frozenset[EventKind]:
    """The events an order of ``leg`` in ``state`` accepts (for courier apps and error messages)."""
    return frozenset(ev for (st, ev) in TRANSITIONS[leg] if st == state)
