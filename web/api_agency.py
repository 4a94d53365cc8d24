"""Agency desk actions as JSON: hand-over records (confirm / refuse per item, PDF), supplements, results.

Callers: an agency officer's session, or a token with ``agency:confirm`` bound to that agency. Every action
is scoped by the services to the caller's agency.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from logistics.accounts.models import Role
from tracking.agency import (
    AgencyContext,
    confirm_item,
    confirm_supplement,
    current_receipt,
    find_order,
    get_record,
    mark_result_ready,
    refuse_dossier,
    refuse_item,
    request_supplement,
)
from tracking.delivery import tracking_key
from tracking.errors import NotFound, NotPermitted, TrackingError
from tracking.handover_pdf import record_number, render_handover_pdf
from tracking.models import AgencyReceipt
from tracking.portal import PORTAL_TEXT, portal_status
from web.api_auth import api_require
from web.api_scans import record_json, release_session, tracking_actor, tracking_problem
from web.context import db_session, services
from web.errors import problem
from web.openapi import document, operation
from web.schemas import AgencyDecisionIn, LooseObject

bp = Blueprint("api_agency", __name__)

AGENCY = ("agency:confirm", Role.AGENCY_OFFICER)


def _body() -> dict[str, Any] | None:
    body = request.get_json(silent=True)  # JSON only: a cross-site form cannot send application/json
    return body if isinstance(body, dict) else None


def _bad_body() -> Response:
    release_session()
    return problem(400, "Bad Request", "Nội dung phải là một đối tượng JSON. / Body must be a JSON object.")


def _receipt_json(receipt: AgencyReceipt) -> dict[str, Any]:
    return {"dossier_code": receipt.dossier_code, "submitted_at": receipt.submitted_at.isoformat(),
            "acceptance_date": receipt.acceptance_date.isoformat(),
            "appointment_date": receipt.appointment_date.isoformat(), "officer_name": receipt.officer_name}


def _dossier_json(code: str) -> dict[str, Any]:
    session = db_session()
    order = find_order(session, code)
    dossier = order.dossier
    status = portal_status(session, dossier)
    receipt = current_receipt(session, dossier.id)
    return {
        "item_code": order.item_code,
        "legs": [{"item_code": o.item_code, "leg": o.leg.value, "state": o.state.value} for o in dossier.orders],
        "dossier_code": dossier.dossier_code,
        "appointment_date": dossier.appointment_date.isoformat() if dossier.appointment_date else None,
        "portal_status": {"code": int(status), "text": PORTAL_TEXT[status]},
        "receipt": _receipt_json(receipt) if receipt else None,
    }


def _record_pdf(session: Any, record: Any) -> Response:
    """The printable hand-over record (Biên bản giao nhận); it names citizens, so it is never cached."""
    pdf = render_handover_pdf(session, record, services().settings.timezone)
    resp = Response(pdf, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'inline; filename="{record_number(record)}.pdf"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _scoped_record(record_id: int, *, reading: bool = False) -> Any:
    """A record of the caller's agency.

    Reading another agency's record answers like a missing one (nothing to probe); acting on it is refused
    as not permitted.
    """
    record = get_record(db_session(), record_id)
    actor = tracking_actor()
    if actor.agency_id != record.agency_id:
        if reading:
            raise NotFound(f"Không có biên bản số {record_id}. / No hand-over record {record_id}.")
        raise NotPermitted("Biên bản của cơ quan khác. / A record of another agency.")
    return record


@document(bp, "/api/v1/agency/handovers/<int:record_id>", method="GET", tags=("agency",), body=None,
          summary="Xem biên bản giao nhận / A hand-over record", responses={200: LooseObject})
@bp.get("/api/v1/agency/handovers/<int:record_id>")
@api_require(*AGENCY)
def handover(record_id: int) -> Response | tuple[Response, int]:
    """A hand-over record of the caller's agency."""
    try:
        return jsonify(record_json(_scoped_record(record_id, reading=True)))
    except TrackingError as exc:
        return tracking_problem(exc)


@document(bp, "/api/v1/handovers/<int:record_id>/pdf", method="GET", tags=("agency",), body=None,
          summary="Biên bản giao nhận (PDF) / Hand-over record PDF", responses={200: None})
@bp.get("/api/v1/handovers/<int:record_id>/pdf")
@api_require("scans:write", Role.AGENCY_OFFICER, Role.COURIER, Role.DISPATCHER)
def handover_pdf(record_id: int) -> Response:
    """The printable record: the receiving agency's officers, and the couriers of the handing post office."""
    session = db_session()
    try:
        record = get_record(session, record_id)
    except TrackingError as exc:
        return tracking_problem(exc)
    actor = tracking_actor()
    allowed = actor.agency_id == record.agency_id or (
        actor.post_office_id is not None and actor.post_office_id == record.post_office_id)
    if not allowed:  # answered like a missing record: another unit's records cannot be probed
        release_session()
        return problem(404, "Not Found", "Không có biên bản này trong phạm vi của bạn. / No such record in your "
                       "scope.")
    return _record_pdf(session, record)


@operation(bp, "/api/v1/agency/handovers/<int:record_id>/pdf", method="GET", tags=("agency",),
           scope="agency:confirm", roles=(Role.AGENCY_OFFICER.value,), responses={200: None},
           produces=("application/pdf",),
           summary="Tải biên bản giao nhận (PDF) của cơ quan / The agency's hand-over record as PDF",
           description="Biên bản của cơ quan khác trả 404 như biên bản không tồn tại. / Another agency's "
                       "record answers 404, like a record that does not exist.")
@api_require(*AGENCY)
def handover_record_pdf(record_id: int) -> Response:
    """The printable record (Biên bản giao nhận) for the receiving agency's own systems and officers."""
    session = db_session()
    try:
        record = get_record(session, record_id)
    except TrackingError:
        record = None
    if record is None or record.agency_id != tracking_actor().agency_id:  # the same answer: nothing to probe
        release_session()
        return problem(404, "Not Found", "Không có biên bản này trong phạm vi của bạn. / No such record in your "
                       "scope.")
    return _record_pdf(session, record)


@document(bp, "/api/v1/agency/handovers/<int:record_id>/items/<code>/confirm",
          method="POST", tags=("agency",), body=AgencyDecisionIn,
          summary="Xác nhận đã nhận hồ sơ / Confirm receipt of an item", responses={200: LooseObject, 409: None})
@bp.post("/api/v1/agency/handovers/<int:record_id>/items/<code>/confirm")
@api_require(*AGENCY)
def confirm(record_id: int, code: str) -> Response | tuple[Response, int]:
    """Confirm one item: legal submission time, dossier code and appointment date."""
    try:
        receipt = confirm_item(db_session(), record_id, code, actor=tracking_actor(),
                               tz=services().settings.timezone)
        return jsonify({**_dossier_json(code), "receipt": _receipt_json(receipt)})
    except TrackingError as exc:
        return tracking_problem(exc)


@document(bp, "/api/v1/agency/handovers/<int:record_id>/items/<code>/refuse",
          method="POST", tags=("agency",), body=AgencyDecisionIn,
          summary="Từ chối hồ sơ trong biên bản / Refuse an item", responses={200: LooseObject, 409: None})
@bp.post("/api/v1/agency/handovers/<int:record_id>/items/<code>/refuse")
@api_require(*AGENCY)
def refuse(record_id: int, code: str) -> Response | tuple[Response, int]:
    """Refuse one item: ``{"reason_code": ..., "note": ...}``; the dossier goes back to the citizen."""
    body = _body()
    if body is None:
        return _bad_body()
    try:
        refuse_item(db_session(), record_id, code, actor=tracking_actor(), reason_code=str(body.get("reason_code")),
                    note=body.get("note") if isinstance(body.get("note"), str) else None)
        return jsonify(_dossier_json(code))
    except TrackingError as exc:
        return tracking_problem(exc)


@document(bp, "/api/v1/agency/dossiers/<code>/refuse",
          method="POST", tags=("agency",), body=AgencyDecisionIn,
          summary="Từ chối hồ sơ / Refuse a dossier", responses={200: LooseObject, 409: None})
@bp.post("/api/v1/agency/dossiers/<code>/refuse")
@api_require(*AGENCY)
def refuse_outside_record(code: str) -> Response | tuple[Response, int]:
    """Refuse a dossier after a supplement request: ``{"reason_code": ..., "note": ...}``."""
    body = _body()
    if body is None:
        return _bad_body()
    try:
        refuse_dossier(db_session(), code, actor=tracking_actor(), reason_code=str(body.get("reason_code")),
                       note=body.get("note") if isinstance(body.get("note"), str) else None)
        return jsonify(_dossier_json(code))
    except TrackingError as exc:
        return tracking_problem(exc)


@document(bp, "/api/v1/agency/dossiers/<code>/supplement",
          method="POST", tags=("agency",), body=AgencyDecisionIn,
          summary="Yêu cầu bổ sung / Request a supplement", responses={200: LooseObject, 409: None})
@bp.post("/api/v1/agency/dossiers/<code>/supplement")
@api_require(*AGENCY)
def supplement(code: str) -> Response | tuple[Response, int]:
    """Form 02: ``{"missing_documents": [...], "note": ..., "record_id": optional}``."""
    body = _body()
    if body is None:
        return _bad_body()
    missing = body.get("missing_documents")
    if not isinstance(missing, list):
        release_session()
        return problem(422, "Unprocessable Content", "Cần mảng 'missing_documents'. / 'missing_documents' required.")
    record_id = body.get("record_id")
    try:
        request_supplement(db_session(), code, actor=tracking_actor(), missing_documents=[str(m) for m in missing],
                           note=body.get("note") if isinstance(body.get("note"), str) else None,
                           record_id=record_id if isinstance(record_id, int) else None)
        return jsonify(_dossier_json(code))
    except TrackingError as exc:
        return tracking_problem(exc)


@document(bp, "/api/v1/agency/dossiers/<code>/supplement-received",
          method="POST", tags=("agency",), body=AgencyDecisionIn,
          summary="Đã nhận bổ sung / Supplement received", responses={200: LooseObject, 409: None})
@bp.post("/api/v1/agency/dossiers/<code>/supplement-received")
@api_require(*AGENCY)
def supplement_received(code: str) -> Response | tuple[Response, int]:
    """The complete dossier arrived: a new receipt, the processing clock restarts."""
    try:
        receipt = confirm_supplement(db_session(), code, actor=tracking_actor(), tz=services().settings.timezone)
        return jsonify({**_dossier_json(code), "receipt": _receipt_json(receipt)})
    except TrackingError as exc:
        return tracking_problem(exc)


@document(bp, "/api/v1/agency/dossiers/<code>/result-ready",
          method="POST", tags=("agency",), body=AgencyDecisionIn,
          summary="Có kết quả / Result ready (opens the result leg)", responses={200: LooseObject, 409: None})
@bp.post("/api/v1/agency/dossiers/<code>/result-ready")
@api_require(*AGENCY)
def result_ready(code: str) -> Response | tuple[Response, int]:
    """The result is ready; opens the result leg (new item and label) when the citizen chose both ways."""
    body = _body() or {}
    svc = services()
    ctx = AgencyContext(signer=svc.signer, key=tracking_key(svc.settings.secret_key),
                        indicator=svc.settings.s10_service_indicator, tz=svc.settings.timezone)
    try:
        result = mark_result_ready(db_session(), code, actor=tracking_actor(), ctx=ctx,
                                   note=body.get("note") if isinstance(body.get("note"), str) else None)
        data = _dossier_json(code)
    except TrackingError as exc:
        return tracking_problem(exc)
    if result is not None:
        data["result_leg"] = {"item_code": result.item_code,
                              "tracking_url": svc.signer.tracking_url(svc.settings.public_base_url, result.item_code)}
    return jsonify(data), 201 if result is not None else 200


@document(bp, "/api/v1/agency/dossiers/<code>", method="GET", tags=("agency",), body=None,
          summary="Hồ sơ và trạng thái / A dossier and its status", responses={200: LooseObject})
@bp.get("/api/v1/agency/dossiers/<code>")
@api_require(*AGENCY)
def dossier(code: str) -> Response | tuple[Response, int]:
    """A dossier of the caller's agency: legs, dossier code, appointment, national-portal status."""
    try:
        order = find_order(db_session(), code)
        if tracking_actor().agency_id != order.dossier.agency_id:
            raise NotPermitted("Hồ sơ của cơ quan khác. / A dossier of another agency.")
        return jsonify(_dossier_json(code))
    except TrackingError as exc:
        return tracking_problem(exc)
