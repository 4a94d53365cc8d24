"""Booking with a free-text address: resolved, held for review, confirmed by a dispatcher; the API says so."""

from datetime import date

from sqlalchemy import select

from logistics.accounts.models import Role
from logistics.agencies.models import ProcedureLevel
from logistics.orders.models import Channel, Order, OrderState
from logistics.orders.services import confirm_address, orders_in_review
from logistics.routing.couriers import least_loaded, plan_assignments, workloads
from logistics.routing.runs import order_stops, plan_run, route_length
from logistics.routing.runsheet import render_run_sheet
from tests.factories import make_user
from tests.orders.helpers import procedure, valid_request
from tracking.models import EventKind, TrackingEvent
from tracking.services import book_pickup


def _book(session, **overrides):
    raw = valid_request(session, **overrides)
    if "commune_code" in overrides and overrides["commune_code"] is None:
        raw.pop("commune_code")
    return book_pickup(session, raw, indicator="RA", channel=Channel.API)[0]


def test_commune_code_is_optional_when_the_address_resolves(db_session):
    order = _book(db_session, commune_code=None, address="so 3 luu tan tai p5 tp ca mau")
    assert order.state == OrderState.CREATED
    d = order.dossier
    assert d.admin_unit.name == "Phường Tân Thành"
    assert d.routing["address"]["status"] == "resolved"
    assert d.routing["address"]["legacy"]["name"] == "Phường 5"
    assert d.routing["needs_review"] is False
    assert d.routing["rule"] == "commune_desk_of_applicant"
    assert d.routing["fees"]["postage_vnd"] == order.postage_vnd
    assert d.routing["post_office_decision"]["rule"] == "service_area"


def test_an_ambiguous_address_is_held_for_review_with_candidates(db_session):
    order = _book(db_session, commune_code=None, address="Số 3 Lưu Tấn Tài, Phường 5")
    assert order.state == OrderState.NEEDS_REVIEW
    routing = order.dossier.routing
    assert routing["needs_review"] is True and routing["provisional"] is True
    names = {c["name"] for c in routing["address"]["candidates"]}
    assert {"Phường Tân Thành", "Phường Vĩnh Trạch"} <= names
    event = db_session.scalar(select(TrackingEvent).where(TrackingEvent.order_id == order.id))
    assert (event.kind, event.state_after) == (EventKind.CREATED, OrderState.NEEDS_REVIEW)
    assert order in orders_in_review(db_session)


def test_an_unknown_address_is_held_too(db_session):
    order = _book(db_session, commune_code=None, address="12 Nguyễn Trãi, Quận 1, TP Hồ Chí Minh")
    assert order.state == OrderState.NEEDS_REVIEW
    assert order.dossier.routing["address"]["status"] == "unknown"


def test_a_commune_code_decides_and_a_contradicting_address_is_noted(db_session):
    order = _book(db_session, address="Ấp 3, xã Đất Mũi, Ngọc Hiển")  # code of Phường Tân Thành
    assert order.state == OrderState.CREATED
    assert order.dossier.admin_unit.name == "Phường Tân Thành"
    assert "Đất Mũi" in order.dossier.routing["address"]["warning"]


def test_confirming_the_address_reroutes_the_order(db_session):
    order = _book(db_session, commune_code=None, address="Phường 5",
                  procedure_code=procedure(db_session, level=ProcedureLevel.COMMUNE).code)
    target = next(c for c in order.dossier.routing["address"]["candidates"] if c["name"] == "Phường Vĩnh Trạch")
    confirm_address(db_session, order, target["code"], by="dieuphoi")
    assert order.dossier.admin_unit.name == "Phường Vĩnh Trạch"
    assert order.dossier.agency.admin_unit.name == "Phường Vĩnh Trạch"
    assert order.dossier.routing["address"]["status"] == "confirmed"
    assert order.dossier.routing["address"]["confirmed_by"] == "dieuphoi"
    assert order.post_office.code == order.dossier.routing["post_office"]


# --- couriers and runs ----------------------------------------------------------------------------------


def _office_orders(session, n, office_code):
    from logistics.agencies.models import AdminUnit, PostOffice, PostOfficeArea

    office = session.scalar(select(PostOffice).where(PostOffice.code == office_code))
    units = session.scalars(select(AdminUnit).join(PostOfficeArea, PostOfficeArea.admin_unit_id == AdminUnit.id)
                            .where(PostOfficeArea.post_office_id == office.id).order_by(AdminUnit.code)).all()
    orders = [_book(session, commune_code=units[i % len(units)].code) for i in range(n)]
    return office, orders


def test_assignment_balances_the_couriers_workload(db_session):
    office, orders = _office_orders(db_session, 7, "97500")
    a = make_user(db_session, Role.COURIER, post_office_code=office.code)
    b = make_user(db_session, Role.COURIER, post_office_code=office.code)
    make_user(db_session, Role.COURIER, post_office_code="98000")  # another office's courier is never chosen
    plan = plan_assignments(db_session, office.id)
    assert [o.id for o, _ in plan] == [o.id for o in orders]
    counts = {a.id: 0, b.id: 0}
    for order, courier in plan:
        counts[courier.id] += 1
        order.courier_id, order.state = courier.id, OrderState.ASSIGNED
    assert sorted(counts.values()) == [3, 4]
    db_session.flush()
    assert workloads(db_session, office.id) == counts
    assert least_loaded(db_session, office.id).id == min(counts, key=lambda k: (counts[k], k))


def test_two_opt_beats_creation_order_on_a_zigzag():
    depot = (9.0, 105.0)
    # Points along a line visited in a zig-zag creation order.
    points = [(9.0 + 0.02 * k, 105.0) for k in (5, 1, 4, 2, 6, 3)]
    order = order_stops(depot, points)
    planned = route_length(depot, [points[i] for i in order])
    assert sorted(order) == list(range(6))
    assert planned < 0.7 * route_length(depot, points)
    assert planned == min(planned, route_length(depot, sorted(points)))


def test_stops_at_one_place_are_visited_together_and_many_stops_plan_fast():
    depot = (9.0, 105.0)
    places = [(9.0 + 0.02 * k, 105.0 + 0.01 * (k % 3)) for k in (5, 1, 4, 2, 6, 3, 8, 7)]
    points = [places[(i * 5) % len(places)] for i in range(400)]  # 400 items at 8 places, interleaved
    order = order_stops(depot, points)
    assert sorted(order) == list(range(400))
    visited = [points[i] for i in order]
    # Each place is visited once: its items are consecutive, in creation order.
    runs = [p for k, p in enumerate(visited) if k == 0 or visited[k - 1] != p]
    assert sorted(runs) == sorted(places)
    for place in places:
        items = [i for i in order if points[i] == place]
        assert items == sorted(items)
    assert route_length(depot, runs) == route_length(depot, visited)
    assert route_length(depot, runs) <= route_length(depot, places)


def test_a_couriers_run_is_shorter_than_creation_order_and_prints(db_session):
    office, orders = _office_orders(db_session, 9, "98500")
    courier = make_user(db_session, Role.COURIER, post_office_code=office.code, full_name="Nguyễn Văn Tới")
    for order in orders:
        order.courier_id, order.state = courier.id, OrderState.ASSIGNED
    db_session.flush()
    plan = plan_run(db_session, courier, date(2026, 3, 2))
    assert {s.order_id for s in plan.stops} == {o.id for o in orders}
    assert all(s.action == "pickup" for s in plan.stops)
    assert plan.total_m <= plan.baseline_m
    pdf = render_run_sheet(courier_name=courier.full_name, office_name=office.name, run_date=date(2026, 3, 2),
                           stops=[s.to_json() for s in plan.stops], total_m=plan.total_m, baseline_m=plan.baseline_m)
    assert pdf.startswith(b"%PDF")
    import pypdfium2

    text = pypdfium2.PdfDocument(pdf)[0].get_textpage().get_text_range()
    assert "Nguyễn Văn Tới" in text and orders[0].item_code in text and "02/03/2026" in text


def test_orders_without_a_courier_are_not_in_any_run(db_session):
    office, _orders = _office_orders(db_session, 2, "98500")
    courier = make_user(db_session, Role.COURIER, post_office_code=office.code)
    assert plan_run(db_session, courier, date(2026, 3, 2)).stops == []
    assert db_session.scalar(select(Order.courier_id).where(Order.courier_id == courier.id)) is None
