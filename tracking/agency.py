"""The agency's one-stop desk: hand-over records, receipt (or refusal) per item, supplements, results.

* ``open_handover``: the courier hands several items to the desk at once (Biên bản giao nhận); each item
  gets a ``handed_to_agency`` event and waits for the officer's decision.
* ``confirm_item``: the officer confirms an item. That moment is the legal submission time; the dossier
  gets the agency's dossier code ``<agency code>-YYMMDD-NNNN`` (a per-agency, per-day counter taken with an
  atomic upsert, unique under concurrency) and the appointment date (J + the procedure's processing days,
  in working days), both recorded in ``agency_receipts`` and on the dossier, relayed to the citizen by the
  event's consequences.
* ``refuse_item`` (a reason from a fixed list; the dossier goes back to the citizen),
  ``request_supplement`` (the missing documents), ``confirm_supplement`` (the clock restarts).
* ``mark_result_ready``: recorded on the pickup leg; when the citizen chose "both ways" the result leg
  opens under the same dossier with a new S10 item, its label job and its delivery code.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.db import upsert, utcnow
from config.queue import enqueue
from logistics.accounts.models import Role
from logistics.agencies.models import Agency
from logistics.calendar import acceptance_date, add_working_days
from logistics.labels.errors import InvalidItemCode
from logistics.labels.signing import LabelSigner, parse_tracking_url
from logistics.orders.models import Dossier, Leg, Order, OrderState, ServiceForm
from logistics.orders.services import new_item_code
from tracking import delivery
from tracking.actors import Actor
from tracking.errors import AgencyActionRefused, NotFound, NotPermitted
from tracking.models import (
    AgencyReceipt,
    DossierCodeCounter,
    EventKind,
    HandoverDecision,
    HandoverItem,
    HandoverRecord,
)
from tracking.services import append_event
from tracking.states import INITIAL, TransitionRefused, next_state

MAX_ITEMS_PER_RECORD: Final = 200
API_ROLE: Final = "api"  # the tracking role of a system calling with an API token (its scope was checked)


class RefusalReason(enum.StrEnum):
    """Why an agency refuses a dossier (fixed list)."""

    NOT_COMPETENT = "not_competent"  # not this agency's procedure
    INCOMPLETE = "incomplete"  # missing documents that cannot be supplemented
    INVALID_DOCUMENTS = "invalid_documents"  # forged, expired, illegible
    NOT_ELIGIBLE = "not_eligible"  # the applicant does not meet the conditions
    DAMAGED = "damaged"  # envelope damaged or seal broken
    WRONG_ITEM = "wrong_item"  # the envelope is not the one listed


REFUSAL_TEXT: Final[dict[RefusalReason, str]] = {
    RefusalReason.NOT_COMPETENT: "Không thuộc thẩm quyền giải quyết",
    RefusalReason.INCOMPLETE: "Hồ sơ không đầy đủ",
    RefusalReason.INVALID_DOCUMENTS: "Giấy tờ không hợp lệ",
    RefusalReason.NOT_ELIGIBLE: "Không đủ điều kiện",
    RefusalReason.DAMAGED: "Bì hồ sơ rách hoặc niêm phong bị hỏng",
    RefusalReason.WRONG_ITEM: "Không đúng hồ sơ trong biên bản",
}


@dataclass(frozen=True)
class AgencyContext:
    """What agency actions need from the running system."""

    signer: LabelSigner
    key: bytes  # ``delivery.tracking_key(settings.secret_key)``
    indicator: str = "RA"  # S10 service indicator of new result legs
    tz: str = "Asia/Ho_Chi_Minh"


# --- helpers -------------------------------------------------------------------------------------------------


def find_order(session: Session, scanned: str, signer: LabelSigner | None = None) -> Order:
    """The order for a scanned QR URL or a typed code; a QR's signature must verify when ``signer`` is given."""
    try:
        code, sig = parse_tracking_url(scanned)
    except InvalidItemCode as exc:
        raise NotFound(f"Mã bưu gửi không hợp lệ: {exc} / Invalid item code.", code="invalid_item_code") from None
    if sig is not None and signer is not None and not signer.verify(code, sig):
        raise AgencyActionRefused("Chữ ký trên mã QR không hợp lệ. / Invalid QR signature.", code="bad_signature")
    order = session.scalar(select(Order).where(Order.item_code == code))
    if order is None:
        raise NotFound(f"Không có bưu gửi mang mã {code}. / No item has code {code}.", code="unknown_item")
    return order


def _officer_of(actor: Actor, agency_id: int) -> None:
    # A system acting for the desk (an API token with ``agency:confirm``, always bound to its agency) decides
    # like an officer of that agency; the binding is what scopes it.
    desk = actor.has_role(Role.AGENCY_OFFICER) or actor.role == API_ROLE
    if not desk or actor.agency_id != agency_id:
        raise NotPermitted("Chỉ cán bộ một cửa của cơ quan tiếp nhận được thực hiện. / Only an officer of the "
                           "receiving agency may do this.")


def _move(session: Session, order: Order, kind: EventKind, actor: Actor, **kw: Any) -> None:
    try:
        state_after = next_state(order.leg, order.state, kind)
    except TransitionRefused as exc:
        raise AgencyActionRefused(str(exc), code="invalid_transition") from None
    append_event(session, order, kind, state_after, actor_role=actor.role, actor_id=actor.user_id,
                 actor_name=actor.name, **kw)


def get_record(session: Session, record_id: int) -> HandoverRecord:
    """A hand-over record by id; ``NotFound`` otherwise."""
    record = session.get(HandoverRecord, record_id)
    if record is None:
        raise NotFound(f"Không có biên bản số {record_id}. / No hand-over record {record_id}.")
    return record


def _item(session: Session, record: HandoverRecord, scanned: str) -> HandoverItem:
    order = find_order(session, scanned)
    for item in record.items:
        if item.order_id == order.id:
            return item
    raise NotFound(f"Bưu gửi {order.item_code} không có trong biên bản số {record.id}. / Item not in this record.")


def _decide(record: HandoverRecord, item: HandoverItem, actor: Actor, decision: HandoverDecision, now: datetime,
            *, reason: str | None = None, note: str | None = None) -> None:
    if item.decision != HandoverDecision.PENDING:
        raise AgencyActionRefused(f"Bưu gửi đã được xử lý ({item.decision}). / This item was already decided.",
                                  code="already_decided")
    item.decision, item.decided_at, item.reason_code, item.note = decision, now, reason, note
    record.officer_id, record.officer_name = actor.user_id, actor.name
    if all(i.decision != HandoverDecision.PENDING for i in record.items):
        record.closed_at = now


# --- hand-over -------------------------------------------------------------------------------------------------


def _handover_items(session: Session, agency: Agency, items: Sequence[str],
                    signer: LabelSigner | None) -> tuple[list[Order], dict[str, str]]:
    orders: list[Order] = []
    problems: dict[str, str] = {}
    for scanned in items:
        try:
            order = find_order(session, scanned, signer)
        except (NotFound, AgencyActionRefused) as exc:
            problems[scanned] = str(exc)
            continue
        if order.leg != Leg.PICKUP or order.dossier.agency_id != agency.id:
            problems[order.item_code] = "Không phải hồ sơ gửi cơ quan này. / Not a dossier for this agency."
        elif order.state != OrderState.OUT_FOR_DELIVERY:
            problems[order.item_code] = (f"Trạng thái hiện tại '{order.state}' không thể bàn giao. / Cannot be "
                                         f"handed over in state '{order.state}'.")
        elif order in orders:
            problems[order.item_code] = "Trùng trong danh sách. / Listed twice."
        else:
            orders.append(order)
    return orders, problems


def open_handover(session: Session, *, agency_code: str, items: Sequence[str], actor: Actor,
                  signer: LabelSigner | None = None) -> HandoverRecord:
    """The courier's side of a hand-over: list the items and record ``handed_to_agency`` for each.

    All-or-nothing: an item that is not on its way to this agency stops the record, naming every problem
    (the courier fixes the pile, not the system).
    """
    if not (actor.has_role(Role.COURIER, Role.DISPATCHER) or actor.role == API_ROLE):  # API: the post's systems
        raise NotPermitted("Chỉ bưu tá lập biên bản giao. / Only couriers open hand-over records.")
    agency = session.scalar(select(Agency).where(Agency.code == agency_code))
    if agency is None:
        raise NotFound(f"Không có cơ quan mã {agency_code}. / Unknown agency.")
    if not items or len(items) > MAX_ITEMS_PER_RECORD:
        raise AgencyActionRefused(f"Biên bản cần 1–{MAX_ITEMS_PER_RECORD} bưu gửi. / A record lists 1 to "
                                  f"{MAX_ITEMS_PER_RECORD} items.", code="bad_item_count")
    orders, problems = _handover_items(session, agency, items, signer)
    if problems:
        raise AgencyActionRefused("Biên bản không lập được. / The record cannot be opened.", code="bad_items",
                                  details={"items": problems})
    record = HandoverRecord(agency_id=agency.id, post_office_id=actor.post_office_id, courier_id=actor.user_id,
                            courier_name=actor.name or actor.role, created_at=utcnow())
    session.add(record)
    session.flush()
    for order in orders:
        _move(session, order, EventKind.HANDED_TO_AGENCY, actor, agency_id=agency.id,
              details={"handover_record": record.id})
        session.add(HandoverItem(record_id=record.id, order_id=order.id, decision=HandoverDecision.PENDING))
    session.flush()
    session.refresh(record)
    return record


def next_dossier_code(session: Session, agency: Agency, day: date) -> str:
    """``<agency code>-YYMMDD-NNNN``: the day's next number at this agency (atomic upsert, any backend)."""
    ymd = day.strftime("%y%m%d")
    stmt = upsert(session.get_bind().dialect.name, DossierCodeCounter).values(agency_id=agency.id, day=ymd, value=1)
    counted = stmt.on_conflict_do_update(
        index_elements=["agency_id", "day"], set_={"value": DossierCodeCounter.value + 1}
    ).returning(DossierCodeCounter.value)
    value = int(session.execute(counted).scalar_one())
    return f"{agency.code}-{ymd}-{value:04d}"


def _receive(session: Session, order: Order, actor: Actor, *, now: datetime, tz: str,
             item: HandoverItem | None) -> AgencyReceipt:
    dossier: Dossier = order.dossier
    local_day = now.astimezone(ZoneInfo(tz)).date()
    code = dossier.dossier_code or next_dossier_code(session, dossier.agency, local_day)
    j = acceptance_date(now, tz=tz)
    appointment = add_working_days(j, dossier.procedure.processing_days)
    dossier.dossier_code, dossier.appointment_date = code, appointment
    receipt = AgencyReceipt(dossier_id=dossier.id, order_id=order.id, handover_item_id=item.id if item else None,
                            dossier_code=code, submitted_at=now, acceptance_date=j, appointment_date=appointment,
                            officer_id=actor.user_id, officer_name=actor.name)
    session.add(receipt)
    _move(session, order, EventKind.RECEIPT_CONFIRMED, actor, agency_id=dossier.agency_id,
          details={"dossier_code": code, "appointment_date": appointment.isoformat(),
                   "submitted_at": now.isoformat(), **({"handover_record": item.record_id} if item else {})})
    session.flush()
    return receipt


def confirm_item(session: Session, record_id: int, scanned: str, *, actor: Actor, tz: str = "Asia/Ho_Chi_Minh",
                 now: datetime | None = None) -> AgencyReceipt:
    """The officer confirms one item of a record: legal submission time, dossier code, appointment date."""
    record = get_record(session, record_id)
    _officer_of(actor, record.agency_id)
    item = _item(session, record, scanned)
    now = now or utcnow()
    _decide(record, item, actor, HandoverDecision.CONFIRMED, now)
    return _receive(session, item.order, actor, now=now, tz=tz, item=item)


def refuse_item(session: Session, record_id: int, scanned: str, *, actor: Actor, reason_code: str,
                note: str | None = None, now: datetime | None = None) -> None:
    """The officer refuses one item of a record, with a reason; the dossier goes back to the citizen."""
    record = get_record(session, record_id)
    _officer_of(actor, record.agency_id)
    item = _item(session, record, scanned)
    reason = _reason(reason_code)
    now = now or utcnow()
    _decide(record, item, actor, HandoverDecision.REFUSED, now, reason=reason, note=note)
    _move(session, item.order, EventKind.REFUSED, actor, agency_id=record.agency_id, reason_code=reason,
          note=note or REFUSAL_TEXT[RefusalReason(reason)], details={"handover_record": record.id})
    session.flush()


def _reason(reason_code: str) -> str:
    try:
        return str(RefusalReason(reason_code))
    except ValueError:
        allowed = ", ".join(r.value for r in RefusalReason)
        raise AgencyActionRefused(f"Cần lý do từ chối trong danh sách: {allowed}. / A refusal reason from the "
                                  "list is required.", code="reason_required", details={"allowed": allowed}) from None


def refuse_dossier(session: Session, scanned: str, *, actor: Actor, reason_code: str,
                   note: str | None = None) -> None:
    """Refuse a dossier outside a record (after a supplement request that was not answered)."""
    order = _pickup(session, scanned, actor)
    reason = _reason(reason_code)
    _move(session, order, EventKind.REFUSED, actor, agency_id=order.dossier.agency_id, reason_code=reason,
          note=note or REFUSAL_TEXT[RefusalReason(reason)])
    session.flush()


def _pickup(session: Session, scanned: str, actor: Actor) -> Order:
    order = find_order(session, scanned)
    _officer_of(actor, order.dossier.agency_id)
    if order.leg == Leg.RESULT:
        pickup = session.scalar(select(Order).where(Order.dossier_id == order.dossier_id, Order.leg == Leg.PICKUP))
        if pickup is None:
            raise NotFound("Hồ sơ không có chiều gửi. / The dossier has no pickup leg.")
        order = pickup
    return order


def request_supplement(session: Session, scanned: str, *, actor: Actor, missing_documents: Sequence[str],
                       note: str | None = None, record_id: int | None = None) -> None:
    """Form 02: the dossier is incomplete; ``missing_documents`` names what the citizen must add."""
    order = _pickup(session, scanned, actor)
    missing = [" ".join(str(m).split())[:400] for m in missing_documents if str(m).strip()]
    if not missing:
        raise AgencyActionRefused("Cần liệt kê giấy tờ còn thiếu. / List the missing documents.",
                                  code="missing_documents_required")
    if record_id is not None:
        record = get_record(session, record_id)
        item = _item(session, record, order.item_code)
        _decide(record, item, actor, HandoverDecision.SUPPLEMENT_REQUESTED, utcnow(), note=note)
    _move(session, order, EventKind.SUPPLEMENT_REQUESTED, actor, agency_id=order.dossier.agency_id, note=note,
          details={"missing_documents": missing})
    session.flush()


def confirm_supplement(session: Session, scanned: str, *, actor: Actor, tz: str = "Asia/Ho_Chi_Minh",
                       now: datetime | None = None) -> AgencyReceipt:
    """The complete dossier arrived after a supplement request: a new receipt, the clock restarts."""
    order = _pickup(session, scanned, actor)
    if order.state != OrderState.SUPPLEMENT_REQUESTED:
        raise AgencyActionRefused(f"Hồ sơ không chờ bổ sung (trạng thái '{order.state}'). / Not awaiting a "
                                  "supplement.", code="invalid_transition")
    return _receive(session, order, actor, now=now or utcnow(), tz=tz, item=None)


def mark_result_ready(session: Session, scanned: str, *, actor: Actor, ctx: AgencyContext,
                      note: str | None = None) -> Order | None:
    """Record the result; opens the result leg (new item, label job, delivery code) for "both ways" dossiers.

    Returns the new result leg, or None for a send-only dossier (the citizen collects at the desk).
    """
    order = _pickup(session, scanned, actor)
    dossier = order.dossier
    _move(session, order, EventKind.RESULT_READY, actor, agency_id=dossier.agency_id, note=note)
    if dossier.service_form != ServiceForm.BOTH:
        session.flush()
        return None
    if session.scalar(select(Order.id).where(Order.dossier_id == dossier.id, Order.leg == Leg.RESULT)) is not None:
        raise AgencyActionRefused("Chiều trả kết quả đã được mở. / The result leg already exists.",
                                  code="result_leg_exists")
    kind, state = INITIAL[Leg.RESULT]
    result = Order(dossier=dossier, leg=Leg.RESULT, item_code=new_item_code(session, ctx.indicator), state=state,
                   post_office_id=order.post_office_id, postage_vnd=0)  # paid with the pickup ("both ways")
    session.add(result)
    session.flush()
    append_event(session, result, kind, state, actor_role=actor.role, actor_id=actor.user_id,
                 actor_name=actor.name, agency_id=dossier.agency_id, note=note,
                 details={"pickup_item": order.item_code})
    delivery.issue_delivery_code(session, ctx.key, dossier.id)
    enqueue(session, "workers.jobs.labels.render_label", queue="labels", dedup_key=f"label:{result.id}",
            order_id=result.id)
    return result


def current_receipt(session: Session, dossier_id: int) -> AgencyReceipt | None:
    """The receipt in force (the latest confirmation) of a dossier."""
    return session.scalar(
        select(AgencyReceipt).where(AgencyReceipt.dossier_id == dossier_id).order_by(AgencyReceipt.id.desc()).limit(1)
    )
