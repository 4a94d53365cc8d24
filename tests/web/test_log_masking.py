"""No log record carries a citizen's phone number, name or address: booking, scans, webhooks, a failing SMS.

Everything is logged at DEBUG, SQL statements included (as with SQLAlchemy's echo), the SMS gateway refuses
with the number in its error (as real gateways do), and the webhook goes to a real receiver on 127.0.0.1.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import Settings
from logistics.agencies.models import Procedure
from logistics.notifications.providers import SendError
from logistics.orders.models import Order
from logistics.text import mask_pii
from tests.factories import bearer, make_token
from tests.orders.helpers import valid_request
from tests.workers.helpers import drain
from tests.workers.servers import WebhookReceiver
from web.context import services

PHONE = "0912 345 678"
# Every way the number could be printed: national, spaced, dotted, international (84… is what SMS get).
PHONE_FORMS = ("912345678", "912 345 678", "912.345.678", "912-345-678")
NAME, STREET = "Hồng Nhung", "Lưu Tấn Tài"


class RefusingGateway:
    """An SMS gateway that refuses every message and names the number in its error."""

    name = "refusing-gateway"
    transactional = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send_sms(self, session: Any, *, notification_id: int, phone: str, text: str) -> str:  # noqa: ARG002
        raise SendError(f"gateway refused +{phone} (message {notification_id}): subscriber absent")


@pytest.fixture
def settings(db):
    return Settings(env="test", database_url=db.url, public_base_url="https://dossierpost.test",
                    inprocess_jobs=False, sms_provider=f"{__name__}:RefusingGateway", webhook_timeout_seconds=5)


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


def _text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return text


def test_no_phone_number_name_or_address_reaches_the_logs(app, db, settings, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # an operator tracing SQL (SQLAlchemy's echo)
    with app.app_context(), services().db.unit_of_work() as s:
        body = valid_request(s, phone=PHONE, applicant_name=f"Nguyễn Thị {NAME}", address=f"Số 3 {STREET}",
                             external_ref="LOG-1")
        writer = bearer(make_token(s, ["orders:write", "webhooks:manage"]))
    client = app.test_client()
    sub = client.post("/api/v1/webhooks", headers=writer, json={"name": "iGate", "url": receiver.url})
    receiver.secret = sub.get_json()["secret"]
    order = client.post("/api/v1/orders", json=body, headers=writer).get_json()
    with app.app_context(), services().db.unit_of_work() as s:
        row = s.scalar(select(Order).where(Order.item_code == order["item_code"]))
        courier = bearer(make_token(s, ["scans:write"], post_office_code=row.post_office.code))
        procedure = s.scalar(select(Procedure).where(Procedure.code == body["procedure_code"]))
        documents = [{"id": d.id, "form": str(d.form), "quantity": d.quantity} for d in procedure.documents]
    scans = [{"item_code": order["item_code"], "event": "collected", "idempotency_key": str(uuid.uuid4()),
              "seal_number": "NP-0001", "documents": documents, "id_number_last4": "4321"},
             {"item_code": order["item_code"], "event": "arrived_post_office", "idempotency_key": str(uuid.uuid4())}]
    resp = client.post("/api/v1/scans", json={"scans": scans}, headers=courier)
    assert resp.get_json()["accepted"] == 2, resp.get_json()
    drain(db, settings)  # label, notifications (refused by the gateway), webhooks — in this process

    assert receiver.received and all(r.signature_ok for r in receiver.received)
    assert any("not sent" in r.getMessage() for r in caplog.records), "the gateway's refusal was logged"
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records), "SQL was logged at this level"
    leaks = [(r.name, _text(r)[:300]) for r in caplog.records
             if any(form in _text(r) for form in (*PHONE_FORMS, NAME, STREET))]
    assert leaks == []


def test_mask_pii_masks_numbers_and_addresses_in_free_text():
    text = "gateway refused +84912345678, CCCD 079203001234, mail nhung.nguyen@example.vn, 0290 3831 234"
    masked = mask_pii(text)
    assert "912345678" not in masked and "079203001234" not in masked and "nhung.nguyen" not in masked
    assert "3831 234" not in masked
    assert masked.startswith("gateway refused ") and "*678" in masked and "@example.vn" in masked
    assert mask_pii("outbox job 42 (message 7) failed; RA123456785VN") == (
        "outbox job 42 (message 7) failed; RA123456785VN")  # ids and item codes stay readable
