"""Scan ingestion: one scan or a batch (an offline phone replaying its queue), each checked and recorded.

A scan carries the label's QR content (or the typed item code), the event, GPS, the device's time and an
idempotency key. For each scan:

1. a replay of a known key returns the original outcome and writes nothing;
2. the QR signature is verified (a typed code is accepted and marked as typed);
3. the lifecycle table decides whether the event is possible in the item's current state;
4. the event's requirements are checked (collection: document checklist and seal; delivery: identity and
   the one-time code; failed attempt: a reason from the fixed list);
5. the event is appended to the item's hash chain. ``orders.version`` is an optimistic lock: of two
   couriers scanning the same item at once, exactly one moves it, the other gets a ``conflict``.

Every check reads (the item as it is in the database, never a copy the session holds) before the first write,
so a refused scan has nothing to undo; only a lost race interrupts the writes, and what undoes them depends on
the caller (``record_scan``'s ``alone``, ``record_scans``).

A refused scan is logged in ``refused_scans`` (with its key, so its replay is refused the same way) and
changes nothing; in a batch a bad scan never sinks the good ones.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Table, bindparam, event, exists, or_, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from config.db import utcnow
from logistics.accounts.models import Role
from logistics.agencies.models import DocumentForm, ProcedureDocument
from logistics.labels.errors import InvalidItemCode
from logistics.labels.signing import LabelSigner, parse_tracking_url
from logistics.orders.models import Dossier, Leg, Order, OrderState, ServiceForm
from logistics.text import has_control_chars
from logistics.webhooks.services import remember_subscribers, subscribers_exist
from tracking import delivery
from tracking.actors import Actor
from tracking.errors import ScanRefused
from tracking.models import GENESIS_HASH, AppendedEvent, EventKind, RefusedScan, TrackingEvent
from tracking.services import append_to_stored
from tracking.states import TransitionRefused, next_state

MAX_BATCH: Final = 500
# A gap between the device's clock and the server's beyond this is flagged (kept as sent, never corrected):
# a wrong phone clock, or a scan queued offline for a long time.
SKEW_TOLERANCE: Final = timedelta(minutes=10)
_KEY_RE: Final = re.compile(r"[A-Za-z0-9._:-]{8,100}")
_SEAL_RE: Final = re.compile(r"[A-Za-z0-9-]{4,30}")
_DIGITS4_RE: Final = re.compile(r"\d{4}")
# A scan reads its item with one Core statement into a plain ``ScannedItem``: the order's columns a scan uses, its
# dossier's agency and service form, the row version and the head of its hash chain (so the append need not
# look it up), whether the idempotency key is known, whether the agency has webhook subscribers (so the reaction
# need not ask), and for a collection the procedure's checklist (one row per line). No ORM objects: building
# them (an order, its dossier, a procedure and its documents) cost more than the statement itself.
_O: Final = cast("Table", Order.__table__).c
_D: Final = cast("Table", Dossier.__table__).c
_DOC: Final = cast("Table", ProcedureDocument.__table__).c
_EV: Final = cast("Table", TrackingEvent.__table__).c
_HEAD: Final = select(_EV.hash).where(_EV.order_id == _O.id).order_by(_EV.id.desc()).limit(1).scalar_subquery()
_ITEM_COLUMNS: Final = (_O.id, _O.item_code, _O.leg, _O.state, _O.version, _HEAD, _O.post_office_id,
                        _O.dossier_id, _D.agency_id, _D.service_form)
_DOC_COLUMNS: Final = (_DOC.id, _DOC.name, _DOC.form, _DOC.quantity, _DOC.required)
_N_ITEM: Final = len(_ITEM_COLUMNS)
_ITEMS: Final = cast("Table", Order.__table__).join(cast("Table", Dossier.__table__), _D.id == _O.dossier_id)
_ITEMS_WITH_CHECKLIST: Final = _ITEMS.outerjoin(cast("Table", ProcedureDocument.__table__),
                                                _DOC.procedure_id == _D.procedure_id)
_SUBSCRIBED: Final = subscribers_exist(_D.agency_id)
# Whether the scan's idempotency key is already recorded (a NULL key matches nothing).
_KEY_KNOWN: Final = or_(exists().where(TrackingEvent.idempotency_key == bindparam("key")),
                        exists().where(RefusedScan.idempotency_key == bindparam("key")))
# Built once (SQLAlchemy keeps a statement's cache key, so a reused statement is not rebuilt and re-keyed).
_READ_ITEM: Final = {
    False: select(*_ITEM_COLUMNS, _KEY_KNOWN, _SUBSCRIBED).select_from(_ITEMS).where(_O.item_code == bindparam("code")),
    True: select(*_ITEM_COLUMNS, _KEY_KNOWN, _SUBSCRIBED, *_DOC_COLUMNS).select_from(_ITEMS_WITH_CHECKLIST)
    .where(_O.item_code == bindparam("code")).order_by(_DOC.position),
}
# A batch's items, with their checklists, in one statement.
_READ_ITEMS: Final = (select(*_ITEM_COLUMNS, _SUBSCRIBED, *_DOC_COLUMNS).select_from(_ITEMS_WITH_CHECKLIST)
                      .where(_O.item_code.in_(bindparam("codes", expanding=True))).order_by(_O.id, _DOC.position))
_CODE_RE: Final = re.compile(r"\d{6}")
# session.info, while a batch is recorded: item code -> ScannedItem (the batch's items, moved by its accepted scans).
_SCANNED: Final = "tracking.scanned_items"
_Guard = Literal["savepoint", "transaction", "none"]  # how a scan's writes are undone after a lost race

# What each role may scan; hand-over to an agency goes through the hand-over record (tracking.agency).
SCANNABLE: Final[dict[str, frozenset[EventKind]]] = {
    str(Role.COURIER): frozenset({
        EventKind.COLLECTED, EventKind.ARRIVED_POST_OFFICE, EventKind.LEFT_POST_OFFICE,
        EventKind.OUT_FOR_DELIVERY, EventKind.DELIVERED, EventKind.DELIVERY_FAILED, EventKind.RETURNED,
    }),
    str(Role.DISPATCHER): frozenset({
        EventKind.ARRIVED_POST_OFFICE, EventKind.LEFT_POST_OFFICE, EventKind.OUT_FOR_DELIVERY, EventKind.LOST,
    }),
}
# A system holding an API token with ``scans:write`` (the post's own sorting or courier systems).
SCANNABLE["api"] = SCANNABLE[str(Role.COURIER)] | SCANNABLE[str(Role.DISPATCHER)]

# Where the event happens when it is not a GPS point: at the post office, or at the agency desk.
_AT_OFFICE: Final = frozenset({EventKind.ARRIVED_POST_OFFICE, EventKind.LEFT_POST_OFFICE, EventKind.OUT_FOR_DELIVERY})

_FORM_TEXT: Final[dict[DocumentForm, str]] = {
    DocumentForm.ORIGINAL: "bản chính",
    DocumentForm.COPY: "bản sao",
    DocumentForm.CERTIFIED_COPY: "bản sao chứng thực",
}
# A stronger form satisfies a weaker requirement (a certified copy is also a copy).
_SATISFIES: Final[dict[DocumentForm, frozenset[DocumentForm]]] = {
    DocumentForm.ORIGINAL: frozenset({DocumentForm.ORIGINAL}),
    DocumentForm.CERTIFIED_COPY: frozenset({DocumentForm.CERTIFIED_COPY}),
    DocumentForm.COPY: frozenset({DocumentForm.COPY, DocumentForm.CERTIFIED_COPY}),
}


@dataclass(frozen=True)
class ScanContext:
    """What scan ingestion needs from the running system (no Flask, no settings object)."""

    signer: LabelSigner
    key: bytes  # ``delivery.tracking_key(settings.secret_key)``
    tz: str = "Asia/Ho_Chi_Minh"


@dataclass(frozen=True, slots=True)
class ChecklistLine:
    """One line of a procedure's checklist, as a collection checks the documents against it."""

    id: int
    name: str
    form: DocumentForm
    quantity: int
    required: bool


@dataclass(slots=True)
class ScannedItem:
    """A scanned item as the scan path reads it (``_READ_ITEM``): plain values, no ORM objects.

    An accepted scan moves it (state, row version, chain head), so a later scan of the same item in a batch
    starts from there. ``checklist`` is None when it was not read (the scan was not a collection).
    """

    id: int
    item_code: str
    leg: Leg
    state: OrderState
    version: int
    head: str
    post_office_id: int | None
    dossier_id: int
    agency_id: int
    service_form: ServiceForm
    checklist: tuple[ChecklistLine, ...] | None = None


# What a refusal is logged against: the item as read by the scan, or the order as it is now (a lost race).
_Item = ScannedItem | Order


def _scanned_item(rows: Sequence[Row[Any]] | Sequence[Any], *, checklist_at: int | None) -> ScannedItem:
    """The item of ``rows`` (one per checklist line when ``checklist_at`` says where a line's columns start)."""
    first: Sequence[Any] = rows[0]
    order_id, code, leg, state, version, head, office_id, dossier_id, agency_id, form = first[:_N_ITEM]
    item = ScannedItem(order_id, code, leg, state, version, head or GENESIS_HASH,  # no event yet: the genesis
                       office_id, dossier_id, agency_id, form)
    if checklist_at is not None:
        item.checklist = tuple(ChecklistLine(*row[checklist_at:checklist_at + len(_DOC_COLUMNS)])
                               for row in rows if row[checklist_at] is not None)
    return item


@event.listens_for(Session, "after_soft_rollback")
def _forget_items(session: Session, _previous: object) -> None:
    # A rollback (a savepoint's included) may undo what an accepted scan did to a cached item: read it again.
    session.info.pop(_SCANNED, None)


@dataclass(kw_only=True)
class ScanOutcome:
    """The result of one scan, as the device sees it (the same on a replay, with ``replayed`` set)."""

    ok: bool
    item_code: str | None
    event: str | None
    state: str | None  # after the event when accepted; the current state when refused
    event_id: int | None = None
    error: str | None = None
    message: str | None = None
    replayed: bool = False
    clock_skew_flag: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON the API returns for this scan."""
        body: dict[str, Any] = {"ok": self.ok, "item_code": self.item_code, "event": self.event,
                                "state": self.state, "replayed": self.replayed}
        if self.ok:
            body.update(event_id=self.event_id, clock_skew_flag=self.clock_skew_flag)
        else:
            body.update(error=self.error, message=self.message)
        if self.details:
            body["details"] = self.details
        return body


class _Refusal(ScanRefused):
    """Internal: a refusal raised inside the savepoint, with what to log once it is rolled back."""

    def __init__(self, code: str, message: str, *, order: _Item | None = None, details: dict[str, Any] | None = None,
                 count_code_failure: bool = False) -> None:
        super().__init__(message, code=code, details=details)
        self.order = order
        self.count_code_failure = count_code_failure


def _refuse(code: str, message: str, **kw: Any) -> _Refusal:
    return _Refusal(code, message, **kw)


# --- replay ----------------------------------------------------------------------------------------------


def _replay(session: Session, key: str) -> ScanOutcome | None:
    # One round trip answers the usual case, a new key; the outcome of a known one is loaded after.
    known = session.execute(union_all(
        select(TrackingEvent.id).where(TrackingEvent.idempotency_key == key),
        select(RefusedScan.id).where(RefusedScan.idempotency_key == key),
    )).first()
    if known is None:
        return None
    row = session.execute(
        select(TrackingEvent, Order.item_code).join(Order, Order.id == TrackingEvent.order_id)
        .where(TrackingEvent.idempotency_key == key)
    ).first()
    if row is not None:
        ev, code = row
        return ScanOutcome(ok=True, item_code=code, event=str(ev.kind), state=str(ev.state_after),
                           event_id=ev.id, replayed=True, clock_skew_flag=ev.clock_skew_flag)
    refused = session.scalar(select(RefusedScan).where(RefusedScan.idempotency_key == key))
    if refused is not None:
        code_row = session.get(Order, refused.order_id) if refused.order_id else None
        return ScanOutcome(ok=False, item_code=code_row.item_code if code_row else None, event=refused.kind,
                           state=refused.state,
                           error=refused.error, message=refused.message, replayed=True,
                           details=dict(refused.details or {}))
    return None


# --- parsing ---------------------------------------------------------------------------------------------


class _KnownKey(Exception):  # noqa: N818 - a signal, not an error
    """Internal: the scan's idempotency key is already recorded (found while reading the item)."""


def _item(session: Session, raw: Mapping[str, Any], ctx: ScanContext, *,
          key: str | None = None) -> tuple[ScannedItem, bool]:
    """The scanned item and whether its code was typed (no signature to check).

    With ``key``, the same statement also tells whether that idempotency key is already recorded (``_KnownKey``).
    """
    qr, typed = raw.get("qr"), raw.get("item_code")
    source = qr if isinstance(qr, str) and qr.strip() else typed
    if not isinstance(source, str) or not source.strip():
        raise _refuse("missing_item", "Thiếu nội dung mã QR hoặc mã bưu gửi. / Missing QR content or item code.")
    try:
        code, sig = parse_tracking_url(source)
    except InvalidItemCode as exc:
        raise _refuse("invalid_item_code", f"Mã bưu gửi không hợp lệ: {exc} / Invalid item code.") from None
    was_typed = source is typed
    if not was_typed and not ctx.signer.verify(code, sig):
        raise _refuse("bad_signature", "Chữ ký trên mã QR không hợp lệ: nhãn giả hoặc in sai. / "
                      "The QR signature is missing or invalid (forged or misprinted label).")
    # In a batch, the item comes from the batch's cache (``_preload`` read the batch's items, and an accepted scan
    # moves its item there). Otherwise one statement reads it (see ``_READ_ITEM``).
    scanned: dict[str, ScannedItem] | None = session.info.get(_SCANNED)
    collection = raw.get("event") == EventKind.COLLECTED
    item = scanned.get(code) if scanned is not None else None
    if item is None or (collection and item.checklist is None):
        rows = session.connection().execute(_READ_ITEM[collection], {"code": code, "key": key}).all()
        if not rows:
            raise _refuse("unknown_item", f"Không có bưu gửi mang mã {code}. / No item has code {code}.")
        key_known, subscribed = rows[0][_N_ITEM:_N_ITEM + 2]
        if key_known:
            raise _KnownKey
        item = _scanned_item(rows, checklist_at=_N_ITEM + 2 if collection else None)
        remember_subscribers(session, item.agency_id, bool(subscribed))
        if scanned is not None:
            scanned[code] = item
    return item, was_typed


def _kind(raw: Mapping[str, Any], actor: Actor) -> EventKind:
    value = raw.get("event")
    try:
        kind = EventKind(str(value))
    except ValueError:
        raise _refuse("unknown_event", f"Sự kiện không xác định: {value!r}. / Unknown event.") from None
    if kind not in SCANNABLE.get(actor.role, frozenset()):
        raise _refuse("event_not_allowed", f"Vai trò '{actor.role}' không được ghi nhận sự kiện '{kind}' bằng quét. / "
                      f"Role '{actor.role}' may not scan '{kind}'.")
    return kind


def parse_device_time(value: object, tz: str) -> datetime | None:
    """An ISO 8601 device time; a time without offset is read in the service's zone."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _refuse("invalid_device_time", "Thời gian thiết bị phải là chuỗi ISO 8601. / device_time: ISO 8601.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _refuse("invalid_device_time", "Thời gian thiết bị không hợp lệ. / Invalid device_time.") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=ZoneInfo(tz))


def _coord(raw: Mapping[str, Any], name: str, bound: float) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not -bound <= value <= bound:
        raise _refuse("invalid_gps", f"Tọa độ {name} không hợp lệ. / Invalid {name}.")
    return float(value)


def _note(raw: Mapping[str, Any]) -> str | None:
    note = raw.get("note")
    if note is None:
        return None
    if not isinstance(note, str):
        raise _refuse("invalid_note", "Ghi chú phải là chuỗi. / note must be a string.")
    return " ".join(note.split())[:1000] or None


# --- requirements ------------------------------------------------------------------------------------------


def _seal(raw: Mapping[str, Any]) -> str:
    seal = raw.get("seal_number")
    if not isinstance(seal, str) or not _SEAL_RE.fullmatch(seal.strip()):
        raise _refuse("seal_required", "Cần số niêm phong (4–30 chữ/số). / A seal number (4-30 letters/digits) "
                      "is required.", details={"field": "seal_number"})
    return seal.strip().upper()


def _ticked(
    docs: Mapping[int, ChecklistLine], given: list[Any]
) -> tuple[dict[int, tuple[DocumentForm, int]], list[str]]:
    ticked: dict[int, tuple[DocumentForm, int]] = {}
    problems: list[str] = []
    for entry in given:
        doc_id = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(doc_id, int) or doc_id not in docs:
            problems.append(f"Giấy tờ không thuộc thủ tục này: {doc_id!r}")
            continue
        try:
            form = DocumentForm(str(entry.get("form", docs[doc_id].form)))
        except ValueError:
            problems.append(f"Hình thức không hợp lệ cho '{docs[doc_id].name}'")
            continue
        qty = entry.get("quantity", 1)
        ticked[doc_id] = (form, qty if isinstance(qty, int) and not isinstance(qty, bool) else 0)
    return ticked, problems


def check_checklist(item: ScannedItem, given: object) -> list[dict[str, Any]]:
    """The documents ticked against the procedure's checklist; refuses listing what is missing or wrong.

    ``given`` is a list of ``{"id": <procedure document id>, "form": "original"|"copy"|"certified_copy",
    "quantity": n}``; every required document must be there in an acceptable form and quantity.
    """
    if not isinstance(given, list):
        raise _refuse("checklist_required", "Cần danh mục giấy tờ đã kiểm đếm. / The document checklist "
                      "('documents') is required.", details={"field": "documents"})
    docs = {d.id: d for d in item.checklist or ()}
    ticked, problems = _ticked(docs, given)
    missing: list[dict[str, Any]] = []
    for doc in docs.values():
        got = ticked.get(doc.id)
        if got is None:
            if doc.required:
                missing.append({"id": doc.id, "name": doc.name, "form": str(doc.form), "quantity": doc.quantity})
            continue
        form, qty = got
        if form not in _SATISFIES[doc.form]:
            problems.append(f"'{doc.name}': cần {_FORM_TEXT[doc.form]}, nhận {_FORM_TEXT[form]}")
        elif qty < doc.quantity:
            problems.append(f"'{doc.name}': cần {doc.quantity} bản, nhận {qty}")
    if missing or problems:
        names = "; ".join(f"{m['name']} ({_FORM_TEXT[DocumentForm(m['form'])]})" for m in missing)
        raise _refuse(
            "checklist_incomplete",
            "Hồ sơ chưa đủ theo danh mục của thủ tục — hướng dẫn người dân bổ sung. / The dossier does not "
            "match the procedure's checklist." + (f" Thiếu: {names}." if names else ""),
            order=item, details={"missing": missing, "problems": problems},
        )
    return [{"id": i, "name": docs[i].name, "form": str(f), "quantity": q} for i, (f, q) in sorted(ticked.items())]


def _collection(item: ScannedItem, raw: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The collection's details, and the applicant's ID digits to record once the scan is accepted."""
    details: dict[str, Any] = {"seal_number": _seal(raw)}
    if item.leg == Leg.PICKUP:
        details["documents"] = check_checklist(item, raw.get("documents"))
        digits = raw.get("id_number_last4")
        if item.service_form == ServiceForm.BOTH or digits is not None:
            if not isinstance(digits, str) or not _DIGITS4_RE.fullmatch(digits):
                raise _refuse("id_digits_required", "Cần 4 số cuối CCCD của người nộp (để trả kết quả). / "
                              "The last 4 digits of the applicant's ID are required.", order=item,
                              details={"field": "id_number_last4"})
            details["id_digits_recorded"] = True
            return details, digits
    return details, None


@dataclass(frozen=True)
class _Checked:
    """What the requirements of a scan gave: the event's details and reason, and the ID digits to record."""

    details: dict[str, Any]
    reason: str | None = None
    id_digits: str | None = None


def _requirements(session: Session, item: ScannedItem, kind: EventKind, raw: Mapping[str, Any],
                  ctx: ScanContext) -> _Checked:
    """Check the event's requirements (reads only: a refusal here has written nothing)."""
    details: dict[str, Any] = {}
    reason: str | None = None
    if kind == EventKind.COLLECTED:
        collected, digits = _collection(item, raw)
        return _Checked(collected, id_digits=digits)
    if kind == EventKind.DELIVERED:
        details["identity"] = _identity(session, item, raw, ctx)
        code = raw.get("delivery_code")
        if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
            raise _refuse("delivery_code_required", "Cần mã nhận 6 số mà người dân đã nhận qua tin nhắn. / "
                          "The 6-digit delivery code the citizen received is required.", order=item,
                          details={"field": "delivery_code"})
        check = delivery.check_delivery_code(session, ctx.key, item.dossier_id, code)
        if check == delivery.CodeCheck.WRONG:
            raise _refuse("delivery_code_wrong", "Mã nhận không đúng. / Wrong delivery code.", order=item,
                          count_code_failure=True)
        if check != delivery.CodeCheck.OK:
            raise _refuse(f"delivery_code_{check}", "Mã nhận đã khóa hoặc chưa được cấp — liên hệ bưu cục để cấp lại. "
                          "/ The delivery code is locked or was never issued.", order=item)
        details["delivery_code_checked"] = True
    elif kind == EventKind.DELIVERY_FAILED:
        value = raw.get("reason_code")
        try:
            reason = str(delivery.FailureReason(str(value)))
        except ValueError:
            allowed = ", ".join(r.value for r in delivery.FailureReason)
            raise _refuse("reason_required", f"Cần lý do từ danh sách: {allowed}. / A reason from the list is "
                          "required.", order=item, details={"field": "reason_code", "allowed": allowed}) from None
    elif kind == EventKind.LOST and not _note(raw):
        raise _refuse("note_required", "Cần mô tả tình trạng thất lạc/hư hỏng. / Describe the loss or damage.",
                      order=item, details={"field": "note"})
    return _Checked(details, reason)


def _identity(session: Session, item: ScannedItem, raw: Mapping[str, Any], ctx: ScanContext) -> dict[str, Any]:
    ident = raw.get("identity")
    if not isinstance(ident, dict):
        raise _refuse("identity_required", "Cần kiểm tra danh tính người nhận. / An identity check is required.",
                      order=item, details={"field": "identity"})
    method = ident.get("method")
    if method == "id_number":
        digits = ident.get("last_digits")
        if not isinstance(digits, str) or not _DIGITS4_RE.fullmatch(digits):
            raise _refuse("identity_required", "Cần 4 số cuối CCCD. / The ID's last 4 digits are required.",
                          order=item, details={"field": "identity.last_digits"})
        check = delivery.check_id_digits(session, ctx.key, item.dossier_id, digits)
        if check == delivery.CodeCheck.WRONG:
            raise _refuse("identity_mismatch", "Số CCCD không khớp với người nộp hồ sơ. / The ID digits do not "
                          "match the applicant's.", order=item)
        return {"method": "id_number", "matched": check == delivery.CodeCheck.OK,
                "on_record": check != delivery.CodeCheck.NOT_ISSUED}
    if method == "representative":
        name, auth, digits = ident.get("name"), ident.get("authorisation"), ident.get("id_last_digits")
        if not (isinstance(name, str) and name.strip() and isinstance(auth, str) and auth.strip()
                and isinstance(digits, str) and _DIGITS4_RE.fullmatch(digits)):
            raise _refuse("identity_required", "Người được ủy quyền: cần họ tên, giấy ủy quyền và 4 số cuối CCCD. / "
                          "A representative needs name, authorisation and own ID digits.", order=item,
                          details={"field": "identity"})
        return {"method": "representative", "name": " ".join(name.split())[:200],
                "authorisation": " ".join(auth.split())[:200], "id_last_digits": digits}
    raise _refuse("identity_required", "Phương thức xác minh: 'id_number' hoặc 'representative'. / identity.method "
                  "must be id_number or representative.", order=item, details={"field": "identity.method"})


# --- recording ---------------------------------------------------------------------------------------------


def _place(item: ScannedItem, kind: EventKind, actor: Actor) -> tuple[int | None, int | None]:
    """(post office, agency) where the event happens, when it is not just a GPS point."""
    if kind in _AT_OFFICE:
        return actor.post_office_id or item.post_office_id, None
    at_agency = item.leg == Leg.RESULT and kind in {EventKind.COLLECTED, EventKind.RETURNED}
    return None, item.agency_id if at_agency else None


def _after(session: Session, item: ScannedItem, kind: EventKind, *, previous: OrderState, ev: AppendedEvent,
           ctx: ScanContext) -> None:
    """Consequences inside the same savepoint: the re-invitation plan and the delivery code's use."""
    if kind == EventKind.DELIVERY_FAILED:
        delivery.schedule_after_failure(session, item.id, ev.server_time, ctx.tz)
    elif kind == EventKind.OUT_FOR_DELIVERY and previous == OrderState.DELIVERY_FAILED:
        today = ev.server_time.astimezone(ZoneInfo(ctx.tz)).date()
        delivery.settle_reinvitations(session, item.id, "attempted", due_by=today)
    elif kind == EventKind.DELIVERED:
        delivery.mark_code_used(session, item.dossier_id)
        delivery.settle_reinvitations(session, item.id, "delivered")
    elif kind in {EventKind.RETURNED, EventKind.LOST}:
        delivery.settle_reinvitations(session, item.id, str(kind))


def _record(session: Session, raw: Mapping[str, Any], actor: Actor, *, ctx: ScanContext, key: str | None,
            now: datetime, check_key: bool = False) -> ScanOutcome:
    """Check the scan, then write it.

    Every refusal is raised before the first write (the checks only read), so a refused scan has nothing to
    undo; only a database error (a lost race) can interrupt the writes.
    """
    item, typed = _item(session, raw, ctx, key=key if check_key else None)
    kind = _kind(raw, actor)
    device_time = parse_device_time(raw.get("device_time"), ctx.tz)
    lat, lon = _coord(raw, "lat", 90), _coord(raw, "lon", 180)
    note = _note(raw)
    try:
        state_after = next_state(item.leg, item.state, kind)
    except TransitionRefused as exc:
        raise _refuse("invalid_transition", str(exc), order=item) from None
    checked = _requirements(session, item, kind, raw, ctx)
    details, reason = checked.details, checked.reason
    if typed:
        details["typed_code"] = True
    skew = int((device_time - now).total_seconds()) if device_time else None
    flagged = skew is not None and abs(skew) > SKEW_TOLERANCE.total_seconds()
    post_office_id, agency_id = _place(item, kind, actor)
    previous = item.state
    ev = append_to_stored(
        session, order_id=item.id, version=item.version, head=item.head, leg=item.leg,
        dossier_agency_id=item.agency_id, kind=kind, state_after=state_after,
        actor_role=actor.role, actor_id=actor.user_id, actor_name=actor.name,
        post_office_id=post_office_id, agency_id=agency_id, lat=lat, lon=lon,
        device_time=device_time, reason_code=reason, note=note, idempotency_key=key,
        clock_skew_s=skew, clock_skew_flag=flagged, details=details or None,
    )
    item.state, item.version, item.head = state_after, item.version + 1, ev.hash
    if checked.id_digits is not None:
        delivery.record_id_digits(session, ctx.key, item.dossier_id, checked.id_digits)
    _after(session, item, kind, previous=previous, ev=ev, ctx=ctx)
    return ScanOutcome(ok=True, item_code=item.item_code, event=str(kind), state=str(state_after), event_id=ev.id,
                       clock_skew_flag=flagged, details={"clock_skew_s": skew} if flagged else {})


def _log_refusal(session: Session, raw: Mapping[str, Any], actor: Actor, exc: _Refusal, *, key: str | None,
                 order: _Item | None, ctx: ScanContext) -> ScanOutcome:
    scanned = raw.get("qr") or raw.get("item_code")
    kind = raw.get("event")
    state = str(order.state) if order is not None else None
    try:
        device_time = parse_device_time(raw.get("device_time"), ctx.tz)
    except _Refusal:
        device_time = None
    lat, lon = raw.get("lat"), raw.get("lon")
    row = RefusedScan(
        order_id=order.id if order is not None else None,
        scanned_code=scanned[:200] if isinstance(scanned, str) else None,
        kind=kind[:40] if isinstance(kind, str) else None,
        state=state, error=exc.code, message=str(exc), details=exc.details or None,
        actor_role=actor.role, actor_id=actor.user_id,
        lat=float(lat) if isinstance(lat, int | float) and not isinstance(lat, bool) and abs(lat) <= 90 else None,  # noqa: PLR2004 - latitude bound
        lon=float(lon) if isinstance(lon, int | float) and not isinstance(lon, bool) and abs(lon) <= 180 else None,  # noqa: PLR2004 - longitude bound
        device_time=device_time, idempotency_key=key,
    )
    try:
        with session.begin_nested():
            if exc.count_code_failure and order is not None:
                delivery.count_code_failure(session, order.dossier_id)
            session.add(row)
    except IntegrityError:
        replay = _replay(session, key) if key else None
        if replay is not None:
            return replay
        raise
    return ScanOutcome(ok=False, item_code=order.item_code if order is not None else None,
                       event=kind if isinstance(kind, str) else None, state=state, error=exc.code, message=str(exc),
                       details=dict(exc.details))


def _known_keys(session: Session, raws: Sequence[Any]) -> set[str]:
    keys = {r["idempotency_key"] for r in raws if isinstance(r, Mapping) and isinstance(r.get("idempotency_key"), str)
            and _KEY_RE.fullmatch(r["idempotency_key"].strip())}
    if not keys:
        return set()
    found = set(session.scalars(select(TrackingEvent.idempotency_key).where(TrackingEvent.idempotency_key.in_(keys))))
    found |= set(session.scalars(select(RefusedScan.idempotency_key).where(RefusedScan.idempotency_key.in_(keys))))
    return {k for k in found if k is not None}


def record_scan(session: Session, raw: Mapping[str, Any], *, actor: Actor, ctx: ScanContext,
                now: datetime | None = None, known_keys: set[str] | None = None, alone: bool = False) -> ScanOutcome:
    """Record one scan (see the module docstring); never raises for a bad scan, returns its outcome.

    ``known_keys``: the keys already recorded, looked up once for a whole batch (a key missing from it that
    a concurrent request records meanwhile is still caught, by the unique constraint).

    ``alone``: the caller's transaction holds nothing but this scan (the API's single scan). A refusal has
    written nothing (see ``_record``), and a lost race rolls the whole transaction back before it is logged,
    instead of every scan paying a savepoint and its release (two round trips) for that rare case.
    """
    return _record_scan(session, raw, actor=actor, ctx=ctx, now=now, known_keys=known_keys,
                        guard="transaction" if alone else "savepoint")


def _record_scan(session: Session, raw: Mapping[str, Any], *, actor: Actor, ctx: ScanContext,
                 now: datetime | None, known_keys: set[str] | None, guard: _Guard) -> ScanOutcome:
    """``record_scan``, the scan's writes guarded against a lost race as ``guard`` says.

    ``savepoint``: its own savepoint; ``transaction``: the whole transaction is rolled back; ``none``: the
    database error reaches the caller (``record_scans``, which then records the batch again with savepoints).
    """
    malformed = _malformed(raw)
    if malformed is not None:
        return malformed
    key_value = raw.get("idempotency_key")
    key = key_value.strip() if isinstance(key_value, str) else None
    if key is None or not _KEY_RE.fullmatch(key):
        refusal = _refuse("idempotency_key_required", "Cần khóa chống trùng (8–100 ký tự, vd. UUID). / An "
                          "idempotency_key (8-100 characters, e.g. a UUID) is required.")
        return _log_refusal(session, raw, actor, refusal, key=None, order=_order_of(session, raw), ctx=ctx)
    # A batch looked its keys up at once; a single scan's key is looked up by the statement that reads its item
    # (``_item``), or below when the scan is refused before that.
    single = known_keys is None
    replay = _replay(session, key) if known_keys is not None and key in known_keys else None
    if replay is not None:
        return replay
    attempt = _attempt(session, raw, actor, ctx=ctx, key=key, now=now or utcnow(), check_key=single, guard=guard)
    if isinstance(attempt, ScanOutcome):
        return attempt
    order, refusal = attempt
    order = order or (None if refusal.code == "conflict" else _order_of(session, raw))
    # A replay (or the same key recorded by a concurrent request meanwhile): answer with the original outcome.
    replay = _replay(session, key) if single or refusal.code in {"invalid_transition", "conflict"} else None
    if replay is not None:
        return replay
    if refusal.code == "conflict":
        order, refusal = _conflict(session, raw)
    return _log_refusal(session, raw, actor, refusal, key=key, order=order, ctx=ctx)


def _attempt(session: Session, raw: Mapping[str, Any], actor: Actor, *, ctx: ScanContext, key: str, now: datetime,
             check_key: bool, guard: _Guard) -> ScanOutcome | tuple[_Item | None, _Refusal]:
    """The accepted scan's outcome, or the refused scan's item (when known) and refusal."""
    try:
        with session.begin_nested() if guard == "savepoint" else contextlib.nullcontext():
            return _record(session, raw, actor, ctx=ctx, key=key, now=now, check_key=check_key)
    except _KnownKey:
        return None, _refuse("conflict", "")
    except _Refusal as exc:
        return exc.order, exc
    except (StaleDataError, IntegrityError):
        # Another scan moved this item first (version check), or replayed this key at the same moment.
        if guard == "none":
            raise
        if guard == "transaction":
            session.rollback()
        return None, _refuse("conflict", "")


def _conflict(session: Session, raw: Mapping[str, Any]) -> tuple[Order | None, _Refusal]:
    """The item as it is now, and the refusal of a scan that lost a race for it."""
    order = _order_of(session, raw)
    state = order.state if order is not None else None
    return order, _refuse("conflict", "Bưu gửi vừa được cập nhật bởi một lượt quét khác; trạng thái hiện tại: "
                          f"'{state}'. / Another scan changed this item at the same moment; current state: "
                          f"'{state}'.")


def _malformed(raw: object) -> ScanOutcome | None:
    """The outcome for a scan too broken to look up or log (not an object; control characters), else None."""
    if not isinstance(raw, Mapping):
        return ScanOutcome(ok=False, item_code=None, event=None, state=None, error="invalid_scan",
                           message="Mỗi lượt quét phải là một đối tượng JSON. / Each scan must be a JSON object.")
    if _has_control_text(raw):
        # Refused before anything is looked up or logged: PostgreSQL cannot even store a NUL in the log.
        return ScanOutcome(ok=False, item_code=None, event=None, state=None, error="invalid_characters",
                           message="Lượt quét chứa ký tự điều khiển không hợp lệ. / The scan contains invalid "
                                   "control characters.")
    return None


def _has_control_text(value: object, depth: int = 0) -> bool:
    """Whether any string (key or value) in a scan holds control characters (a garbled or hostile scan)."""
    if depth > 8:  # noqa: PLR2004 - a scan is shallow; deeper nesting is itself garbage
        return True
    if isinstance(value, str):
        return has_control_chars(value)
    if isinstance(value, Mapping):
        return any(_has_control_text(k, depth + 1) or _has_control_text(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_control_text(v, depth + 1) for v in value)
    return False


def _order_of(session: Session, raw: Mapping[str, Any]) -> Order | None:
    source = raw.get("qr") or raw.get("item_code")
    if not isinstance(source, str):
        return None
    try:
        code, _sig = parse_tracking_url(source)
    except InvalidItemCode:
        return None
    return session.scalar(select(Order).where(Order.item_code == code).execution_options(populate_existing=True))


def record_scans(session: Session, raws: Sequence[Any], *, actor: Actor, ctx: ScanContext,
                 now: datetime | None = None) -> list[ScanOutcome]:
    """Record a batch in order (an offline queue replays in the order it was scanned), one outcome each."""
    if len(raws) > MAX_BATCH:
        raise ScanRefused(f"Tối đa {MAX_BATCH} lượt quét mỗi lần gửi. / At most {MAX_BATCH} scans per batch.",
                          code="batch_too_large")
    try:
        return _record_batch(session, raws, actor=actor, ctx=ctx, now=now)
    finally:
        session.info.pop(_SCANNED, None)


def _record_batch(session: Session, raws: Sequence[Any], *, actor: Actor, ctx: ScanContext,
                  now: datetime | None) -> list[ScanOutcome]:
    known = _known_keys(session, raws)
    session.info[_SCANNED] = {}
    _preload(session, raws)
    # Refusals write nothing, so the scans need no savepoint each unless one loses a race with another writer
    # (its item moved, or its key was recorded meanwhile): then the batch is recorded again, each scan in its
    # own savepoint, and the race costs only that scan.
    try:
        with session.begin_nested():
            return [_record_scan(session, raw, actor=actor, ctx=ctx, now=now, known_keys=known, guard="none")
                    for raw in raws]
    except (StaleDataError, IntegrityError):
        pass
    known = _known_keys(session, raws)
    session.info[_SCANNED] = {}  # the rollback dropped the cache: the items are read again, one by one
    return [_record_scan(session, raw, actor=actor, ctx=ctx, now=now, known_keys=known, guard="savepoint")
            for raw in raws]


def _preload(session: Session, raws: Sequence[Any]) -> None:
    """Read every item of a batch in one statement (with versions and chain heads) for ``_item`` to answer from.

    Only a cache: each scan is still parsed, verified and checked on its own; a code that does not parse or is
    not found here is looked up (and refused) by ``_item`` as usual.
    """
    codes: set[str] = set()
    for raw in raws:
        source = (raw.get("qr") or raw.get("item_code")) if isinstance(raw, Mapping) else None
        if isinstance(source, str) and not has_control_chars(source):
            with contextlib.suppress(InvalidItemCode):
                codes.add(parse_tracking_url(source)[0])
    scanned: dict[str, ScannedItem] = session.info[_SCANNED]
    codes -= scanned.keys()
    if not codes:
        return
    rows = session.connection().execute(_READ_ITEMS, {"codes": sorted(codes)}).all()
    for _id, item_rows in itertools.groupby(rows, key=lambda row: row[0]):
        lines = list(item_rows)
        item = _scanned_item(lines, checklist_at=_N_ITEM + 1)
        remember_subscribers(session, item.agency_id, bool(lines[0][_N_ITEM]))
        scanned[item.item_code] = item
