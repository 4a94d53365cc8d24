"""The post-office dispatcher's pages: address review, courier assignment, daily runs, bulk import.

Thin doors: each view parses the request, calls the routing/orders services, records the tracking event the
change implies, and renders. Dispatchers see their own post office; managers and administrators choose one.
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from functools import partial
from typing import Any, Final

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from config.db import Database
from logistics.accounts.models import Role, Staff, User
from logistics.agencies.models import PostOffice
from logistics.orders.errors import OrderError, OrderNotFound, ValidationError
from logistics.orders.imports import ImportBatch, ImportFileError, create_batch, recent_batches, run_import
from logistics.orders.models import Channel, Order, OrderState
from logistics.orders.services import confirm_address, get_order, orders_in_review
from logistics.routing.couriers import ASSIGNABLE_STATES, active_couriers, choose_courier, plan_assignments, workloads
from logistics.routing.gazetteer import load_gazetteer
from logistics.routing.runs import ACTION_TEXT, plan_run, saved_run
from logistics.routing.runsheet import render_run_sheet
from logistics.routing.services import RoutingPolicy
from tracking.actors import Actor
from tracking.models import EventKind
from tracking.operations import assign_courier
from tracking.services import append_event, book_pickups
from tracking.states import TransitionRefused
from web.auth import current_user, register_staff_link, roles_required
from web.context import db_session, services
from web.i18n import gettext as _

bp = Blueprint("dispatch", __name__, url_prefix="/dispatch")

STAFF: Final = (Role.DISPATCHER, Role.MANAGER, Role.ADMIN)
MAX_UPLOAD: Final = 2 * 1024 * 1024  # the app's body limit

register_staff_link("dispatch.index", "Điều phối bưu cục", *STAFF)


@bp.context_processor
def _dispatch_globals() -> dict[str, Any]:
    user = current_user()
    return {"pick_office": user is not None and user.role != Role.DISPATCHER}


def _user() -> Staff:
    user = current_user()
    if user is None:  # roles_required ran first
        abort(401)
    return user


def _office() -> PostOffice | None:
    """The post office in scope: the dispatcher's own, or the one a manager picked (None: all)."""
    user = _user()
    session = db_session()
    if user.role == Role.DISPATCHER:
        return session.get(PostOffice, user.post_office_id) if user.post_office_id else None
    code = request.values.get("office")
    return session.scalar(select(PostOffice).where(PostOffice.code == code)) if code else None


def _in_scope(order: Order) -> None:
    user = _user()
    if user.role == Role.DISPATCHER and order.post_office_id != user.post_office_id:
        abort(403)


def _order(code: str) -> Order:
    try:
        order = get_order(db_session(), code.strip().upper())
    except OrderNotFound:
        abort(404)
    _in_scope(order)
    return order


def _offices() -> list[PostOffice]:
    return list(db_session().scalars(select(PostOffice).where(PostOffice.active.is_(True)).order_by(PostOffice.code)))


def _day() -> date:
    raw = request.values.get("date", "")
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(raw, fmt).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    return datetime.now(services().settings.tz).date()


def _policy() -> RoutingPolicy:
    return RoutingPolicy.from_settings(services().settings)


@bp.get("/")
@roles_required(*STAFF)
def index() -> str:
    """The dispatcher's overview: what needs a decision now."""
    session = db_session()
    office = _office()
    review = orders_in_review(session, post_office_id=office.id if office else None)
    unassigned = session.scalars(
        select(Order).where(Order.state == OrderState.CREATED, Order.courier_id.is_(None),
                            *([Order.post_office_id == office.id] if office else []))
    ).unique().all()
    loads = workloads(session, office.id) if office else {}
    couriers = active_couriers(session, office.id) if office else []
    return render_template("dispatch/index.html", office=office, offices=_offices(), review=review,
                           unassigned=unassigned, couriers=couriers, loads=loads, batches=recent_batches(session, 5))


# --- address review ------------------------------------------------------------------------------------


@bp.get("/review")
@roles_required(*STAFF)
def review() -> str:
    """Orders whose address did not resolve to one commune, with the candidates."""
    office = _office()
    orders = orders_in_review(db_session(), post_office_id=office.id if office else None)
    all_communes = load_gazetteer(db_session()).communes_2025()
    return render_template("dispatch/review.html", office=office, offices=_offices(), orders=orders,
                           communes=all_communes)


@bp.post("/review/<code>")
@roles_required(*STAFF)
def confirm(code: str) -> BaseResponse:
    """The dispatcher picks the commune: the order is routed again and proceeds."""
    order = _order(code)
    user = _user()
    session = db_session()
    try:
        confirm_address(session, order, request.form.get("commune_code", "").strip(), by=user.username,
                        policy=_policy())
    except ValidationError as exc:
        flash("; ".join(exc.errors.values()), "error")
        return redirect(url_for("dispatch.review"))
    append_event(session, order, EventKind.CREATED, OrderState.CREATED, actor_role=user.role.value,
                 actor_id=user.id, actor_name=user.full_name, post_office_id=order.post_office_id,
                 note=f"Điều phối viên xác nhận địa chỉ: {order.dossier.admin_unit.name}")
    flash(_("Đã xác nhận địa chỉ của {code}.").format(code=order.item_code), "ok")
    return redirect(url_for("dispatch.review"))


@bp.get("/orders/<code>")
@roles_required(*STAFF)
def order_detail(code: str) -> str:
    """One order with every routing decision and its reason."""
    order = _order(code)
    return render_template("dispatch/order.html", order=order, routing=order.dossier.routing or {})


# --- couriers ------------------------------------------------------------------------------------------


def _assign(order: Order, courier: User, user: Staff) -> None:
    assign_courier(db_session(), order, courier, actor=Actor.from_user(user))


@bp.get("/assign")
@roles_required(*STAFF)
def assign_page() -> str:
    """Orders to assign or reassign, and each courier's open workload."""
    session = db_session()
    office = _office()
    orders: list[Order] = []
    if office is not None:
        orders = list(session.scalars(
            select(Order).where(Order.post_office_id == office.id, Order.state.in_(ASSIGNABLE_STATES))
            .order_by(Order.courier_id.is_not(None), Order.id)
        ).unique())
    couriers = active_couriers(session, office.id) if office else []
    return render_template("dispatch/assign.html", office=office, offices=_offices(), orders=orders,
                           couriers=couriers, loads=workloads(session, office.id) if office else {})


@bp.post("/assign/<code>")
@roles_required(*STAFF)
def assign(code: str) -> BaseResponse:
    """Assign (or reassign) one order: to the courier chosen, or to the least loaded one."""
    order = _order(code)
    raw = request.form.get("courier_id", "")
    try:
        courier = choose_courier(db_session(), order, int(raw) if raw.isdigit() else None)
        _assign(order, courier, _user())
    except (OrderError, TransitionRefused) as exc:
        msg = "; ".join(exc.errors.values()) if isinstance(exc, ValidationError) else str(exc)
        flash(msg, "error")
    else:
        flash(_("Đã phân công {code} cho {name}.").format(code=order.item_code, name=courier.full_name), "ok")
    office = order.post_office.code if order.post_office else None
    return redirect(url_for("dispatch.assign_page", office=office))


@bp.post("/assign-all")
@roles_required(*STAFF)
def assign_all() -> BaseResponse:
    """Assign every unassigned order of the office, balancing the couriers' workloads."""
    office = _office()
    if office is None:
        abort(400)
    try:
        plan = plan_assignments(db_session(), office.id)
    except OrderError as exc:
        flash(str(exc), "error")
        return redirect(url_for("dispatch.assign_page", office=office.code))
    user = _user()
    for order, courier in plan:
        _assign(order, courier, user)
    flash(_("Đã phân công {n} đơn.").format(n=len(plan)), "ok")
    return redirect(url_for("dispatch.assign_page", office=office.code))


# --- runs ----------------------------------------------------------------------------------------------


@bp.get("/runs")
@roles_required(*STAFF)
def runs() -> str:
    """Each courier's run for the day, ordered into a short route (planned on opening, then kept)."""
    session = db_session()
    office = _office()
    day = _day()
    plans = ([(courier, plan_run(session, courier, day)) for courier in active_couriers(session, office.id)]
             if office is not None else [])
    return render_template("dispatch/runs.html", office=office, offices=_offices(), day=day, plans=plans,
                           actions=ACTION_TEXT)


@bp.get("/runs/<int:courier_id>/<day>.pdf")
@roles_required(*STAFF)
def run_sheet(courier_id: int, day: str) -> Response:
    """The printable run sheet of a courier's day."""
    session = db_session()
    courier = session.get(User, courier_id)
    if courier is None or courier.role != Role.COURIER:
        abort(404)
    user = _user()
    if user.role == Role.DISPATCHER and courier.post_office_id != user.post_office_id:
        abort(403)
    try:
        run_day = date.fromisoformat(day)
    except ValueError:
        abort(404)
    run = saved_run(session, courier.id, run_day)
    if run is None:
        plan_run(session, courier, run_day)
        run = saved_run(session, courier.id, run_day)
    assert run is not None  # noqa: S101 - just planned
    office = session.get(PostOffice, run.post_office_id)
    pdf = render_run_sheet(courier_name=courier.full_name, office_name=office.name if office else "",
                           run_date=run_day, stops=run.stops, total_m=run.total_m, baseline_m=run.baseline_m)
    resp = Response(pdf, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'inline; filename="lo-trinh-{courier.username}-{run_day}.pdf"'
    return resp


# --- bulk import ---------------------------------------------------------------------------------------


def _import_in_background(db: Database, batch_id: int, indicator: str, policy: RoutingPolicy) -> None:
    create = partial(book_pickups, indicator=indicator, channel=Channel.IMPORT, actor_role="import", policy=policy)
    thread = threading.Thread(target=_run_quietly, args=(db, batch_id, create), name=f"import-{batch_id}",
                              daemon=True)
    thread.start()
    _threads[batch_id] = thread


_threads: dict[int, threading.Thread] = {}


def _run_quietly(db: Database, batch_id: int, create: Any) -> None:
    import logging  # noqa: PLC0415

    try:
        run_import(db, batch_id, create)
    except Exception:
        logging.getLogger(__name__).exception("import batch %s failed", batch_id)
    db.run_after_commit_hooks()


@bp.get("/imports")
@roles_required(*STAFF)
def imports() -> str:
    """Upload a CSV/XLSX file of pickup orders; the latest batches."""
    return render_template("dispatch/imports.html", batches=recent_batches(db_session()))


@bp.post("/imports")
@roles_required(*STAFF)
def upload() -> BaseResponse | tuple[str, int]:
    """Store the file as a batch and start importing it; the batch page shows the progress."""
    file = request.files.get("file")
    if file is None or not file.filename:
        flash(_("Chọn một tệp CSV hoặc XLSX."), "error")
        return redirect(url_for("dispatch.imports"))
    content = file.read(MAX_UPLOAD + 1)
    session = db_session()
    try:
        batch = create_batch(session, file.filename, content, created_by_id=_user().id)
    except ImportFileError as exc:
        return render_template("dispatch/imports.html", batches=recent_batches(session), error=str(exc)), 422
    session.commit()  # the runner reads the batch from its own transactions
    svc = services()
    _import_in_background(svc.db, batch.id, svc.settings.s10_service_indicator, _policy())
    return redirect(url_for("dispatch.import_batch", batch_id=batch.id))


@bp.get("/imports/<int:batch_id>")
@roles_required(*STAFF)
def import_batch(batch_id: int) -> str:
    """A batch's progress bar and, when done, its bad rows."""
    batch = db_session().get(ImportBatch, batch_id)
    if batch is None:
        abort(404)
    return render_template("dispatch/import.html", batch=batch)


@bp.get("/imports/<int:batch_id>.json")
@roles_required(*STAFF)
def import_progress(batch_id: int) -> Response:
    """Progress as JSON (the page polls it)."""
    batch = db_session().get(ImportBatch, batch_id)
    if batch is None:
        abort(404)
    return jsonify(batch.to_json())
