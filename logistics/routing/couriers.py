"""Couriers: who carries which order. Balanced by open workload across a post office's active couriers."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from logistics.accounts.models import Role, User
from logistics.orders.errors import RoutingError, ValidationError
from logistics.orders.models import Order, OrderState

# An order in one of these states sits in its courier's hands or run: it counts towards the workload.
OPEN_STATES = (OrderState.ASSIGNED, OrderState.COLLECTED, OrderState.AT_POST_OFFICE, OrderState.OUT_FOR_DELIVERY,
               OrderState.DELIVERY_FAILED)
# Orders a dispatcher may (re)assign.
ASSIGNABLE_STATES = (OrderState.CREATED, *OPEN_STATES)


def active_couriers(session: Session, post_office_id: int) -> list[User]:
    """The post office's active couriers, by id."""
    return list(session.scalars(
        select(User).where(User.role == Role.COURIER, User.active.is_(True), User.post_office_id == post_office_id)
        .order_by(User.id)
    ))


def workloads(session: Session, post_office_id: int) -> dict[int, int]:
    """Open orders per active courier of a post office (couriers with none count 0)."""
    loads = {c.id: 0 for c in active_couriers(session, post_office_id)}
    if not loads:
        return loads
    rows = session.execute(
        select(Order.courier_id, func.count(Order.id))
        .where(Order.courier_id.in_(loads), Order.state.in_(OPEN_STATES))
        .group_by(Order.courier_id)
    )
    for courier_id, count in rows:
        if courier_id is not None:
            loads[int(courier_id)] = int(count)
    return loads


def least_loaded(session: Session, post_office_id: int, *, extra: dict[int, int] | None = None) -> User:
    """The active courier with the fewest open orders (ties: the lowest id)."""
    couriers = active_couriers(session, post_office_id)
    if not couriers:
        raise RoutingError("Bưu cục chưa có bưu tá nào đang làm việc.")
    loads = workloads(session, post_office_id)
    extra = extra or {}
    return min(couriers, key=lambda c: (loads.get(c.id, 0) + extra.get(c.id, 0), c.id))


def choose_courier(session: Session, order: Order, courier_id: int | None = None) -> User:
    """The courier ``order`` should go to: the one named (checked), or the least loaded of its office."""
    if order.state not in ASSIGNABLE_STATES:
        raise ValidationError({"state": f"Không thể phân công đơn ở trạng thái {order.state.value}. / "
                                        "This order cannot be assigned in its state."})
    if order.post_office_id is None:
        raise RoutingError("Đơn chưa có bưu cục phục vụ.")
    if courier_id is None:
        return least_loaded(session, order.post_office_id)
    courier = session.get(User, courier_id)
    if courier is None or courier.role != Role.COURIER or not courier.active:
        raise ValidationError({"courier_id": "Không phải bưu tá đang làm việc. / Not an active courier."})
    if courier.post_office_id != order.post_office_id:
        raise ValidationError({"courier_id": "Bưu tá thuộc bưu cục khác. / The courier works at another office."})
    return courier


def plan_assignments(session: Session, post_office_id: int) -> list[tuple[Order, User]]:
    """Balanced couriers for every unassigned order of a post office (oldest first); nothing is written."""
    orders = list(session.scalars(
        select(Order).where(Order.post_office_id == post_office_id, Order.state == OrderState.CREATED,
                            Order.courier_id.is_(None)).order_by(Order.id)
    ).unique())
    if not orders:
        return []
    extra: dict[int, int] = {}
    plan: list[tuple[Order, User]] = []
    for order in orders:
        courier = least_loaded(session, post_office_id, extra=extra)
        extra[courier.id] = extra.get(courier.id, 0) + 1
        plan.append((order, courier))
    return plan
