"""The agency's one-stop desk: incoming dossiers, hand-over records decided item by item, results ready.

Also printing the record, supplements, and late and at-risk dossiers. Marking a result ready opens the
result leg.

Thin doors onto ``tracking.agency``; an officer sees and acts on their own agency only.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from logistics.accounts.models import Role, Staff
from logistics.orders.models import Order
from tracking import delivery
from tracking.actors import Actor
from tracking.agency import (
    REFUSAL_TEXT,
    AgencyContext,
    RefusalReason,
    confirm_item,
    confirm_supplement,
    find_order,
    get_record,
    mark_result_ready,
    refuse_item,
    request_supplement,
)
from tracking.desk_view import agency_desk
from tracking.errors import TrackingError
from tracking.handover_pdf import DECISION_TEXT, record_number, render_handover_pdf
from tracking.models import HandoverRecord
from tracking.public import STATE_TEXT
from web.auth import current_account, current_user, register_staff_link, roles_required
from web.context import db_session, services
from web.i18n import gettext as _

bp = Blueprint("agency_desk", __name__, url_prefix="/agency")


def _officer() -> Staff:
    user = current_user()
    if user is None or user.agency_id is None:
        abort(403)
    return user


def _record(record_id: int) -> HandoverRecord:
    try:
        record = get_record(db_session(), record_id)
    except TrackingError:
        abort(404)
    if record.agency_id != _officer().agency_id:
        abort(404)  # another agency's record does not exist for this officer
    return record


def _ctx() -> AgencyContext:
    svc = services()
    return AgencyContext(signer=svc.signer, key=delivery.tracking_key(svc.settings.secret_key),
                         indicator=svc.settings.s10_service_indicator, tz=svc.settings.timezone)


def _done(message: str) -> BaseResponse:
    flash(message, "ok")
    return redirect(request.form.get("back") or url_for("agency_desk.desk"))


def _failed(exc: TrackingError) -> BaseResponse:
    db_session().rollback()  # the redirect would commit: nothing of a refused action may stay
    flash(str(exc), "error")
    return redirect(request.form.get("back") or url_for("agency_desk.desk"))


@bp.get("/")
@roles_required(Role.AGENCY_OFFICER)
def desk() -> str:
    """The desk: what is coming, what to decide, what is due."""
    user = _officer()
    tz = services().settings.timezone
    today = datetime.now(ZoneInfo(tz)).date()
    view = agency_desk(db_session(), user.agency_id or 0, today)
    return render_template("agency/desk.html", desk=view, user=current_account(), reasons=_reasons(),
                           decision_text=DECISION_TEXT, record_number=record_number, state_text=STATE_TEXT)


def _reasons() -> list[tuple[str, str]]:
    return [(r.value, _(REFUSAL_TEXT[r])) for r in RefusalReason]


@bp.get("/records/<int:record_id>")
@roles_required(Role.AGENCY_OFFICER)
def record(record_id: int) -> str:
    """One hand-over record with each item's decision."""
    rec = _record(record_id)
    return render_template("agency/record.html", record=rec, reasons=_reasons(), decision_text=DECISION_TEXT,
                           number=record_number(rec))


@bp.get("/records/<int:record_id>.pdf")
@roles_required(Role.AGENCY_OFFICER)
def record_pdf(record_id: int) -> Response:
    """The printable record (A4 PDF) with both parties' names and times."""
    rec = _record(record_id)
    pdf = render_handover_pdf(db_session(), rec, services().settings.timezone)
    resp = Response(pdf, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'inline; filename="bien-ban-{record_number(rec)}.pdf"'
    return resp


@bp.post("/records/<int:record_id>/items/<code>/<action>")
@roles_required(Role.AGENCY_OFFICER)
def decide(record_id: int, code: str, action: str) -> BaseResponse:
    """Confirm, refuse or ask a supplement for one item of a record."""
    rec = _record(record_id)
    actor = Actor.from_user(_officer())
    session = db_session()
    tz = services().settings.timezone
    try:
        if action == "confirm":
            receipt = confirm_item(session, rec.id, code, actor=actor, tz=tz)
            return _done(_("Đã tiếp nhận") + f" {code}: {receipt.dossier_code} · "
                         + _("hẹn trả") + f" {receipt.appointment_date:%d/%m/%Y}")
        if action == "refuse":
            refuse_item(session, rec.id, code, actor=actor, reason_code=request.form.get("reason_code", ""),
                        note=request.form.get("note") or None)
            return _done(_("Đã từ chối") + f" {code}")
        if action == "supplement":
            request_supplement(session, code, actor=actor, missing_documents=_lines("missing_documents"),
                               note=request.form.get("note") or None, record_id=rec.id)
            return _done(_("Đã yêu cầu bổ sung") + f" {code}")
    except TrackingError as exc:
        return _failed(exc)
    abort(404)
    return None  # unreachable: abort raises


def _lines(field: str) -> list[str]:
    return [line.strip() for line in request.form.get(field, "").splitlines() if line.strip()][:30]


def _own(code: str) -> Order:
    try:
        order = find_order(db_session(), code)
    except TrackingError:
        abort(404)
    if order.dossier.agency_id != _officer().agency_id:
        abort(404)
    return order


@bp.post("/dossiers/<code>/<action>")
@roles_required(Role.AGENCY_OFFICER)
def dossier_action(code: str, action: str) -> BaseResponse:
    """Actions on a dossier in processing: result ready, supplement requested, supplement received."""
    order = _own(code)
    actor = Actor.from_user(_officer())
    session = db_session()
    try:
        if action == "result-ready":
            result = mark_result_ready(session, order.item_code, actor=actor, ctx=_ctx(),
                                       note=request.form.get("note") or None)
            if result is None:
                return _done(_("Đã ghi nhận có kết quả; người dân nhận tại bộ phận một cửa."))
            return _done(_("Đã ghi nhận có kết quả; mở chiều trả kết quả") + f" {result.item_code}")
        if action == "supplement":
            request_supplement(session, order.item_code, actor=actor, missing_documents=_lines("missing_documents"),
                               note=request.form.get("note") or None)
            return _done(_("Đã yêu cầu bổ sung") + f" {order.item_code}")
        if action == "supplement-received":
            receipt = confirm_supplement(session, order.item_code, actor=actor, tz=services().settings.timezone)
            return _done(_("Đã nhận hồ sơ bổ sung") + f" {order.item_code}: "
                         + _("hẹn trả") + f" {receipt.appointment_date:%d/%m/%Y}")
    except TrackingError as exc:
        return _failed(exc)
    abort(404)
    return None  # unreachable: abort raises


register_staff_link("agency_desk.desk", "Bàn tiếp nhận một cửa", Role.AGENCY_OFFICER)
