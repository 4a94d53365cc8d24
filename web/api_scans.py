"""``POST /api/v1/scans`` (one scan, or a batch replayed by an offline phone) and hand-over records.

Thin door: parse JSON, resolve the caller (a courier's session today, an API token with ``scans:write`` as
well — ``web.api_auth``), call ``tracking.scans`` / ``tracking.agency``, answer JSON. Refused scans are
logged by the service; this view commits that log even when it answers with an error status.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from logistics.accounts.models import Role
from tracking.actors import Actor
from tracking.agency import open_handover
from tracking.delivery import tracking_key
from tracking.errors import AgencyActionRefused, NotFound, NotPermitted, ScanRefused, TrackingError
from tracking.handover_pdf import record_number
from tracking.models import HandoverRecord
from tracking.scans import MAX_BATCH, ScanContext, ScanOutcome, record_scan, record_scans
from web.api_auth import Actor as ApiActor
from web.api_auth import api_require, current_actor
from web.context import db_session, services
from web.errors import problem
from web.openapi import document
from web.schemas import HandoverIn, LooseObject, ScansIn

bp = Blueprint("api_scans", __name__)

# How a refused single scan is answered (a batch always answers 200 with one outcome per scan).
_STATUS = {"invalid_transition": 409, "conflict": 409, "unknown_item": 404, "event_not_allowed": 403}


def tracking_actor(api_actor: ApiActor | None = None) -> Actor:
    """The tracking actor of this request: a staff member, or a system holding a token (role ``api``)."""
    caller = api_actor or current_actor()
    if caller is None:  # api_require ran first; kept for type checkers
        raise NotPermitted("Chưa xác thực. / Not authenticated.")
    if caller.kind == "token":
        return Actor(role="api", name=caller.name, agency_id=caller.agency_id, post_office_id=caller.post_office_id)
    return Actor(role=caller.role, user_id=caller.actor_id, name=caller.name, agency_id=caller.agency_id,
                 post_office_id=caller.post_office_id)


def scan_context() -> ScanContext:
    """What scan ingestion needs from this process's settings."""
    svc = services()
    return ScanContext(signer=svc.signer, key=tracking_key(svc.settings.secret_key), tz=svc.settings.timezone)


def _single(outcome: ScanOutcome) -> Response | tuple[Response, int]:
    if outcome.ok:
        return jsonify(outcome.to_json()), 200 if outcome.replayed else 201
    db_session().commit()  # keep the refusal log: the error status would roll the request back
    status = _STATUS.get(outcome.error or "", 422)
    return problem(status, "Scan refused", outcome.message, **outcome.to_json())


@document(bp, "/api/v1/scans", method="POST", tags=("scans",), body=ScansIn,
          summary="Ghi nhận quét (một hoặc một lô) / Record one scan or a batch",
          responses={200: LooseObject, 201: LooseObject, 409: None, 413: None},
          description="Each scan in a batch gets its own outcome; replaying an idempotency key returns the "
                      "original outcome and writes nothing.")
@bp.post("/api/v1/scans")
@api_require("scans:write", Role.COURIER, Role.DISPATCHER)
def scans() -> Response | tuple[Response, int]:
    """One scan object, or ``{"scans": [...]}`` (at most 500): each scan gets its own outcome."""
    body = request.get_json(silent=True)  # JSON only: a cross-site form cannot send application/json
    if not isinstance(body, dict):
        release_session()
        return problem(400, "Bad Request", "Nội dung phải là một đối tượng JSON. / Body must be a JSON object.")
    actor, ctx, session = tracking_actor(), scan_context(), db_session()
    if "scans" not in body:
        # The request's transaction holds only this scan: no savepoint needed (see record_scan).
        return _single(record_scan(session, body, actor=actor, ctx=ctx, alone=True))
    batch = body["scans"]
    if not isinstance(batch, list):
        release_session()
        return problem(400, "Bad Request", "'scans' phải là một mảng. / 'scans' must be an array.")
    try:
        outcomes = record_scans(session, batch, actor=actor, ctx=ctx)
    except ScanRefused as exc:
        release_session()
        return problem(413, "Payload Too Large", str(exc), max_batch=MAX_BATCH)
    accepted = sum(o.ok for o in outcomes)
    return jsonify({"accepted": accepted, "refused": len(outcomes) - accepted,
                    "results": [{"index": i, **o.to_json()} for i, o in enumerate(outcomes)]})


def record_json(record: HandoverRecord) -> dict[str, Any]:
    """A hand-over record as JSON."""
    return {
        "id": record.id,
        "number": record_number(record),
        "agency_id": record.agency_id,
        "courier_name": record.courier_name,
        "officer_name": record.officer_name,
        "created_at": record.created_at.isoformat(),
        "closed_at": record.closed_at.isoformat() if record.closed_at else None,
        "items": [
            {"item_code": item.order.item_code, "decision": item.decision.value,
             "decided_at": item.decided_at.isoformat() if item.decided_at else None,
             "reason_code": item.reason_code, "note": item.note,
             "dossier_code": item.order.dossier.dossier_code}
            for item in record.items
        ],
        "pdf": f"/api/v1/handovers/{record.id}/pdf",
    }


def release_session() -> None:
    """End the request's transaction before an error response.

    The refusal changes nothing; on SQLite an open write transaction would make anything else written for
    this response (the audit entry) wait for the lock. ``close`` (not ``rollback``) keeps the loaded caller
    readable: rolled-back objects would expire and reload, starting a new transaction.
    """
    db_session().close()


def tracking_problem(exc: TrackingError) -> Response:
    """A tracking error as problem+json with the right status."""
    release_session()
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, NotPermitted):
        status = 403
    elif isinstance(exc, AgencyActionRefused) and exc.code in {"invalid_transition", "already_decided",
                                                                "result_leg_exists"}:
        status = 409
    else:
        status = 422
    return problem(status, "Refused", str(exc), error=exc.code, **exc.details)


@document(bp, "/api/v1/handovers", method="POST", tags=("agency",), body=HandoverIn,
          summary="Lập biên bản giao nhận / Open a hand-over record", responses={201: LooseObject, 409: None})
@bp.post("/api/v1/handovers")
@api_require("scans:write", Role.COURIER, Role.DISPATCHER)
def create_handover() -> Response | tuple[Response, int]:
    """The courier lists the items handed to an agency desk: ``{"agency_code": ..., "items": [qr or code]}``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("items"), list) or not isinstance(
            body.get("agency_code"), str):
        release_session()
        return problem(400, "Bad Request", "Cần 'agency_code' và mảng 'items'. / 'agency_code' and 'items' required.")
    try:
        record = open_handover(db_session(), agency_code=body["agency_code"],
                               items=[str(i) for i in body["items"]], actor=tracking_actor(),
                               signer=services().signer)
    except TrackingError as exc:
        return tracking_problem(exc)
    return jsonify(record_json(record)), 201
