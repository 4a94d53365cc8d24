"""The lifecycle table, checked against the lifecycle written out independently, over every triple."""

import itertools

import pytest

from logistics.orders.models import Leg, OrderState
from tracking.models import EventKind
from tracking.states import (
    INITIAL,
    TERMINAL,
    TRANSITIONS,
    TransitionRefused,
    allowed_events,
    can_transition,
    next_state,
)

S, E = OrderState, EventKind

# The lifecycle as the issue describes it, written independently of tracking.states (state, event, next).
EXPECTED = {
    Leg.PICKUP: {
        ("created", "assigned", "assigned"), ("needs_review", "assigned", "assigned"),
        ("assigned", "assigned", "assigned"), ("created", "collected", "collected"),
        ("assigned", "collected", "collected"), ("collected", "arrived_post_office", "at_post_office"),
        ("at_post_office", "left_post_office", "out_for_delivery"),
        ("at_post_office", "out_for_delivery", "out_for_delivery"),
        ("out_for_delivery", "arrived_post_office", "at_post_office"),
        ("out_for_delivery", "handed_to_agency", "handed_to_agency"),
        ("handed_to_agency", "receipt_confirmed", "accepted"), ("handed_to_agency", "refused", "refused"),
        ("handed_to_agency", "supplement_requested", "supplement_requested"),
        ("accepted", "supplement_requested", "supplement_requested"),
        ("supplement_requested", "receipt_confirmed", "accepted"), ("supplement_requested", "refused", "refused"),
        ("accepted", "result_ready", "accepted"), ("refused", "returned", "returned"),
        ("created", "cancelled", "cancelled"), ("needs_review", "cancelled", "cancelled"),
        ("assigned", "cancelled", "cancelled"),
        ("collected", "lost", "lost"), ("at_post_office", "lost", "lost"), ("out_for_delivery", "lost", "lost"),
    },
    Leg.RESULT: {
        ("created", "assigned", "assigned"), ("assigned", "assigned", "assigned"),
        ("created", "collected", "collected"), ("assigned", "collected", "collected"),
        ("collected", "arrived_post_office", "at_post_office"), ("collected", "out_for_delivery", "out_for_delivery"),
        ("at_post_office", "left_post_office", "out_for_delivery"),
        ("at_post_office", "out_for_delivery", "out_for_delivery"),
        ("out_for_delivery", "arrived_post_office", "at_post_office"),
        ("out_for_delivery", "delivered", "delivered"), ("out_for_delivery", "delivery_failed", "delivery_failed"),
        ("delivery_failed", "out_for_delivery", "out_for_delivery"),
        ("delivery_failed", "arrived_post_office", "at_post_office"),
        ("delivery_failed", "returned", "returned"), ("at_post_office", "returned", "returned"),
        ("created", "cancelled", "cancelled"), ("assigned", "cancelled", "cancelled"),
        ("collected", "lost", "lost"), ("at_post_office", "lost", "lost"), ("out_for_delivery", "lost", "lost"),
        ("delivery_failed", "lost", "lost"),
    },
}

TRIPLES = list(itertools.product(Leg, OrderState, EventKind))


@pytest.mark.parametrize(("leg", "state", "event"), TRIPLES, ids=[f"{lg}-{s}-{e}" for lg, s, e in TRIPLES])
def test_every_transition_is_allowed_or_refused_as_the_lifecycle_says(leg, state, event):
    expected = {(s, e): n for s, e, n in EXPECTED[leg]}
    allowed = (str(state), str(event)) in expected
    assert can_transition(leg, state, event) is allowed
    if allowed:
        assert next_state(leg, state, event) == OrderState(expected[str(state), str(event)])
    else:
        with pytest.raises(TransitionRefused) as info:
            next_state(leg, state, event)
        assert f"'{state}'" in str(info.value)  # the error names the current state
        assert info.value.state == state


def test_table_has_no_transition_the_lifecycle_does_not_list():
    for leg, table in TRANSITIONS.items():
        assert {(str(s), str(e), str(n)) for (s, e), n in table.items()} == EXPECTED[leg]


def test_final_states_accept_no_event():
    for leg, state in itertools.product(Leg, TERMINAL):
        assert allowed_events(leg, state) == frozenset()


def test_every_state_of_each_leg_is_reachable_from_its_initial_state():
    for leg in Leg:
        _kind, start = INITIAL[leg]
        seen, frontier = {start}, [start]
        while frontier:
            state = frontier.pop()
            for event in allowed_events(leg, state):
                nxt = next_state(leg, state, event)
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        used = {s for (s, _e) in TRANSITIONS[leg]} | set(TRANSITIONS[leg].values())
        assert used - {S.NEEDS_REVIEW} <= seen


def test_delivering_an_item_never_collected_names_the_current_state():
    with pytest.raises(TransitionRefused, match="'created'"):
        next_state(Leg.RESULT, S.CREATED, E.DELIVERED)
    with pytest.raises(TransitionRefused, match="'delivered'"):
        next_state(Leg.RESULT, S.DELIVERED, E.DELIVERED)
