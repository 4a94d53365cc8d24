"""Builders for tracking tests: orders driven through the real services, actors, scan payloads."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from logistics.labels.signing import LabelSigner
from logistics.orders.models import Channel, Order, OrderState
from tests.orders.helpers import valid_request
from tracking.actors import Actor
from tracking.agency import AgencyContext, confirm_item, mark_result_ready, open_handover
from tracking.delivery import issue_delivery_code, tracking_key
from tracking.scans import ScanContext, ScanOutcome, record_scan
from tracking.services import book_pickup

SIGNER = LabelSigner([b"tracking-tests-label-key-0123456789"])
KEY = tracking_key("tracking-tests-secret-key")
CTX = ScanContext(signer=SIGNER, key=KEY)
AGENCY_CTX = AgencyContext(signer=SIGNER, key=KEY, indicator="RA")
ID_DIGITS = "4321"


def book(session: Session, **overrides: Any) -> Order:
    order, _ = book_pickup(session, valid_request(session, **overrides), indicator="RA", channel=Channel.WEB)
    return order


def courier(order: Order, name: str = "Nguyễn Văn Tới", user_id: int | None = None) -> Actor:
    return Actor(role="courier", user_id=user_id, name=name, post_office_id=order.post_office_id)


def dispatcher(order: Order) -> Actor:
    return Actor(role="dispatcher", name="Lê Thị Thu Hà", post_office_id=order.post_office_id)


def officer(order: Order, name: str = "Huỳnh Ngọc Trâm") -> Actor:
    return Actor(role="agency_officer", name=name, agency_id=order.dossier.agency_id)


def qr(order: Order) -> str:
    return SIGNER.tracking_url("https://dossierpost.test", order.item_code)


def checklist(order: Order) -> list[dict[str, Any]]:
    return [{"id": d.id, "form": str(d.form), "quantity": d.quantity}
            for d in order.dossier.procedure.documents if d.required]


def payload(order: Order, event: str, **extra: Any) -> dict[str, Any]:
    """A complete scan for ``event`` (every requirement met), overridable."""
    raw: dict[str, Any] = {"qr": qr(order), "event": event, "idempotency_key": str(uuid.uuid4()),
                           "lat": 9.1769, "lon": 105.1524}
    if event == "collected":
        raw["seal_number"] = "NP-000123"
        if order.leg == "pickup":
            raw["documents"] = checklist(order)
            raw["id_number_last4"] = ID_DIGITS
    elif event == "delivered":
        raw["identity"] = {"method": "id_number", "last_digits": ID_DIGITS}
    elif event == "delivery_failed":
        raw["reason_code"] = "absent"
    elif event == "lost":
        raw["note"] = "Bì hồ sơ rơi xuống sông"
    raw.update(extra)
    return raw


def scan(session: Session, order: Order, event: str, actor: Actor | None = None, **extra: Any) -> ScanOutcome:
    return record_scan(session, payload(order, event, **extra), actor=actor or courier(order), ctx=CTX)


def to_out_for_agency(session: Session, order: Order) -> None:
    """Drive a pickup leg from created to on its way to the agency desk."""
    for event in ("collected", "arrived_post_office", "left_post_office"):
        outcome = scan(session, order, event)
        assert outcome.ok, outcome
    assert order.state == OrderState.OUT_FOR_DELIVERY


def accepted(session: Session, order: Order) -> None:
    """Drive a pickup leg to accepted by the agency (through a one-item hand-over record)."""
    to_out_for_agency(session, order)
    record = open_handover(session, agency_code=order.dossier.agency.code, items=[qr(order)], actor=courier(order),
                           signer=SIGNER)
    confirm_item(session, record.id, order.item_code, actor=officer(order))


def result_leg(session: Session, order: Order) -> tuple[Order, str]:
    """Accepted, result ready: the result leg and its delivery code."""
    accepted(session, order)
    result = mark_result_ready(session, order.item_code, actor=officer(order), ctx=AGENCY_CTX)
    assert result is not None
    code = issue_delivery_code(session, KEY, order.dossier_id)
    return result, code


def result_out_for_delivery(session: Session, order: Order) -> tuple[Order, str]:
    result, code = result_leg(session, order)
    for event in ("collected", "arrived_post_office", "out_for_delivery"):
        outcome = scan(session, result, event)
        assert outcome.ok, outcome
    return result, code
