"""Committed orders and events for the worker tests, through the real services."""

from __future__ import annotations

from typing import Any

from config.db import Database
from config.queue import Relay
from config.settings import Settings
from logistics.orders.models import Channel, Order, OrderState
from tests.orders.helpers import valid_request
from tracking.models import EventKind
from tracking.services import append_event, book_pickup


def book(db: Database, n: int = 1, **overrides: Any) -> list[int]:
    """Book ``n`` pickups, each in its own transaction (as citizens do); returns the order ids."""
    ids = []
    for _ in range(n):
        with db.unit_of_work() as s:
            order, _created = book_pickup(s, valid_request(s, **overrides), indicator="RA", channel=Channel.WEB)
            ids.append(order.id)
    return ids


def record(db: Database, order_id: int, kind: EventKind, state: OrderState, **kwargs: Any) -> int:
    """Record one event in its own transaction (a scan); returns the event id."""
    with db.unit_of_work() as s:
        order = s.get(Order, order_id)
        return append_event(s, order, kind, state, actor_role=kwargs.pop("actor_role", "courier"), **kwargs).id


def drain(db: Database, settings: Settings) -> int:
    """Run every pending outbox job in this process (the embedded runner); returns how many ran."""
    relay, total = Relay(db, settings), 0
    while n := relay.relay_pending():
        total += n
    return total
