"""Proof of delivery and what follows a failed attempt.

* The one-time delivery code: derived from the server key and a per-dossier nonce (so the notifier can
  recompute it to send it by SMS), stored only as a keyed hash; a few wrong entries lock it.
* The applicant's ID digits recorded at collection, kept as a keyed hash, matched at delivery.
* Failed attempts carry a reason from a fixed list; the citizen is invited again twice, two working days
  apart, then the result goes back to the agency. The plan is stored in ``reinvitations`` so a periodic job
  (``workers``) acts on the due steps (``due_reinvitations``).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from config.db import upsert, utcnow
from logistics.calendar import add_working_days
from logistics.orders.models import Order, OrderState
from tracking.models import DeliverySecret, Reinvitation, ReinvitationAction

CODE_DIGITS: Final = 6
MAX_CODE_FAILURES: Final = 5
INVITATIONS: Final = 2  # at least two more invitations after the first failed attempt
INVITATION_SPACING_WD: Final = 2  # two working days apart


class FailureReason(enum.StrEnum):
    """Why a delivery attempt failed (the fixed list couriers pick from; UPU EMH reasons, simplified)."""

    ABSENT = "absent"
    RECIPIENT_REFUSED = "recipient_refused"
    WRONG_ADDRESS = "wrong_address"
    MOVED = "moved"
    IDENTITY_NOT_VERIFIED = "identity_not_verified"
    NO_DELIVERY_CODE = "no_delivery_code"
    PREMISES_CLOSED = "premises_closed"
    FORCE_MAJEURE = "force_majeure"  # flood, storm, road cut


FAILURE_TEXT: Final[dict[FailureReason, str]] = {
    FailureReason.ABSENT: "Người nhận vắng nhà",
    FailureReason.RECIPIENT_REFUSED: "Người nhận từ chối nhận",
    FailureReason.WRONG_ADDRESS: "Sai địa chỉ",
    FailureReason.MOVED: "Người nhận đã chuyển đi",
    FailureReason.IDENTITY_NOT_VERIFIED: "Không xác minh được danh tính",
    FailureReason.NO_DELIVERY_CODE: "Người nhận không cung cấp được mã nhận",
    FailureReason.PREMISES_CLOSED: "Cơ sở đóng cửa",
    FailureReason.FORCE_MAJEURE: "Thiên tai, đường không đi được",
}


def tracking_key(secret_key: str) -> bytes:
    """The key of the delivery codes and ID hashes, derived from the app's secret (one secret to rotate)."""
    return hmac.new(secret_key.encode(), b"dossierpost/tracking/v1", hashlib.sha256).digest()


def _mac(key: bytes, label: str, dossier_id: int, value: str) -> str:
    return hmac.new(key, f"{label}:{dossier_id}:{value}".encode(), hashlib.sha256).hexdigest()


def delivery_code(key: bytes, dossier_id: int, nonce: str) -> str:
    """The six-digit code of a dossier for this nonce (what the citizen receives)."""
    digest = hmac.new(key, f"dossierpost/otp/v1:{dossier_id}:{nonce}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def _secret(session: Session, dossier_id: int) -> DeliverySecret:
    row = session.get(DeliverySecret, dossier_id)
    if row is None:
        row = DeliverySecret(dossier_id=dossier_id, failed_checks=0)
        session.add(row)
    return row


def record_id_digits(session: Session, key: bytes, dossier_id: int, digits: str) -> None:
    """Remember (as a keyed hash) the last digits of the applicant's ID seen at collection."""
    digest = _mac(key, "id", dossier_id, digits)
    known = session.identity_map.get(identity_key(DeliverySecret, dossier_id)) or next(
        (obj for obj in session.new if isinstance(obj, DeliverySecret) and obj.dossier_id == dossier_id), None)
    if known is not None:
        known.id_digits_hash = digest
        return
    # Collection is on the scan path: one upsert instead of a read and then an insert (on the table: the ORM's
    # bulk-insert machinery would cost more than the statement). Nothing pending needs writing first (a pending
    # secret of this dossier was handled above), so a batch's notifications are not flushed one by one here.
    with session.no_autoflush:
        session.execute(_RECORD_DIGITS[session.get_bind().dialect.name],
                        {"dossier_id": dossier_id, "digest": digest, "at": utcnow()})


def _record_digits(dialect: str) -> Any:
    stmt = upsert(dialect, DeliverySecret.__table__).values(
        dossier_id=bindparam("dossier_id"), id_digits_hash=bindparam("digest"), failed_checks=0,
        issued_at=bindparam("at"))
    return stmt.on_conflict_do_update(index_elements=["dossier_id"],
                                      set_={"id_digits_hash": stmt.excluded.id_digits_hash})


# Built once per dialect (SQLAlchemy keeps a statement's cache key): every collection with ID digits runs it.
_RECORD_DIGITS: Final = {dialect: _record_digits(dialect) for dialect in ("postgresql", "sqlite")}


def issue_delivery_code(session: Session, key: bytes, dossier_id: int) -> str:
    """Issue a fresh delivery code (a new nonce; failures reset) and return it for sending."""
    row = _secret(session, dossier_id)
    nonce = secrets.token_hex(8)
    code = delivery_code(key, dossier_id, nonce)
    row.code_nonce, row.code_hash = nonce, _mac(key, "otp", dossier_id, code)
    row.failed_checks, row.used_at, row.issued_at = 0, None, utcnow()
    session.flush()
    return code


def current_delivery_code(session: Session, key: bytes, dossier_id: int) -> str | None:
    """The code in force for a dossier (for the notifier that sends it), or None when none was issued."""
    row = session.get(DeliverySecret, dossier_id)
    if row is None or row.code_nonce is None or row.used_at is not None:
        return None
    return delivery_code(key, dossier_id, row.code_nonce)


class CodeCheck(enum.StrEnum):
    """Outcome of checking a delivery code or ID digits."""

    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"
    NOT_ISSUED = "not_issued"


def check_delivery_code(session: Session, key: bytes, dossier_id: int, code: str) -> CodeCheck:
    """Compare ``code`` with the stored hash (constant time); does not count failures (see below)."""
    row = session.get(DeliverySecret, dossier_id)
    if row is None or row.code_hash is None:
        return CodeCheck.NOT_ISSUED
    if row.failed_checks >= MAX_CODE_FAILURES or row.used_at is not None:
        return CodeCheck.LOCKED
    ok = hmac.compare_digest(_mac(key, "otp", dossier_id, code), row.code_hash)
    return CodeCheck.OK if ok else CodeCheck.WRONG


def count_code_failure(session: Session, dossier_id: int) -> None:
    """Count a wrong code (outside the refused scan's rolled-back savepoint, so it sticks)."""
    session.execute(
        update(DeliverySecret).where(DeliverySecret.dossier_id == dossier_id)
        .values(failed_checks=DeliverySecret.failed_checks + 1)
    )


def mark_code_used(session: Session, dossier_id: int) -> None:
    """The code delivered its item: it cannot be used again."""
    row = session.get(DeliverySecret, dossier_id)
    if row is not None:
        row.used_at = utcnow()


def check_id_digits(session: Session, key: bytes, dossier_id: int, digits: str) -> CodeCheck:
    """Match ID digits shown at delivery with those recorded at collection (NOT_ISSUED when none were)."""
    row = session.get(DeliverySecret, dossier_id)
    if row is None or row.id_digits_hash is None:
        return CodeCheck.NOT_ISSUED
    ok = hmac.compare_digest(_mac(key, "id", dossier_id, digits), row.id_digits_hash)
    return CodeCheck.OK if ok else CodeCheck.WRONG


# --- re-invitations -----------------------------------------------------------------------------------


def plan_reinvitations(failed_on: date) -> list[tuple[int, ReinvitationAction, date]]:
    """The steps after a first failed attempt on ``failed_on``.

    Two invitations two working days apart, then (two working days after the last invitation, if it
    failed too) the return to the agency.
    """
    steps: list[tuple[int, ReinvitationAction, date]] = []
    day = failed_on
    for seq in range(1, INVITATIONS + 1):
        day = add_working_days(day, INVITATION_SPACING_WD)
        steps.append((seq, ReinvitationAction.REINVITE, day))
    steps.append((INVITATIONS + 1, ReinvitationAction.RETURN, add_working_days(day, INVITATION_SPACING_WD)))
    return steps


def schedule_after_failure(session: Session, order_id: int, at: datetime, tz: str) -> list[Reinvitation]:
    """Store the plan at the first failure of the order's leg (later failures keep the plan already stored)."""
    existing = session.scalars(
        select(Reinvitation).where(Reinvitation.order_id == order_id).order_by(Reinvitation.seq)
    ).all()
    if existing:
        return list(existing)
    failed_on = at.astimezone(ZoneInfo(tz)).date()
    rows = [Reinvitation(order_id=order_id, seq=seq, action=action, due_date=due)
            for seq, action, due in plan_reinvitations(failed_on)]
    session.add_all(rows)
    return rows


def settle_reinvitations(session: Session, order_id: int, outcome: str, *, due_by: date | None = None) -> None:
    """Mark pending steps as done.

    All of them (delivered, returned, lost), or with ``due_by`` only the invitations already due by that day
    (a re-attempt carried them out).
    """
    query = select(Reinvitation).where(Reinvitation.order_id == order_id, Reinvitation.done_at.is_(None))
    if due_by is not None:
        query = query.where(Reinvitation.action == ReinvitationAction.REINVITE, Reinvitation.due_date <= due_by)
    for row in session.scalars(query):
        row.done_at, row.outcome = utcnow(), outcome


@dataclass(frozen=True)
class DueReinvitation:
    """A step the periodic job should carry out today."""

    id: int
    order_id: int
    item_code: str
    seq: int
    action: ReinvitationAction
    due_date: date


def due_reinvitations(session: Session, now: datetime, tz: str = "Asia/Ho_Chi_Minh") -> list[DueReinvitation]:
    """Steps due on or before today (local) whose leg is still waiting after a failed attempt."""
    today = now.astimezone(ZoneInfo(tz)).date()
    rows = session.execute(
        select(Reinvitation, Order.item_code)
        .join(Order, Order.id == Reinvitation.order_id)
        .where(
            Reinvitation.done_at.is_(None),
            Reinvitation.due_date <= today,
            Order.state.in_([OrderState.DELIVERY_FAILED, OrderState.AT_POST_OFFICE]),
        )
        .order_by(Reinvitation.due_date, Reinvitation.id)
    ).all()
    return [DueReinvitation(r.id, r.order_id, code, r.seq, r.action, r.due_date) for r, code in rows]


def mark_reinvitation_done(session: Session, reinvitation_id: int, outcome: str) -> bool:
    """Record that the periodic job acted on a step; False when it was already done (idempotent)."""
    result = session.execute(
        update(Reinvitation).where(Reinvitation.id == reinvitation_id, Reinvitation.done_at.is_(None))
        .values(done_at=utcnow(), outcome=outcome[:40])
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
