"""The agency desk: hand-over records, receipt per item (dossier code, appointment), supplements, results."""

import re
import threading
from datetime import UTC, date, datetime

import pypdfium2
import pytest
from sqlalchemy import func, select

from config.queue import OutboxMessage
from logistics.agencies.models import Agency
from logistics.calendar import add_working_days
from logistics.labels.s10 import parse_item_code
from logistics.orders.models import Leg, Order, OrderState
from tests.conftest import clean_transactional
from tests.tracking.tracking_helpers import (
    AGENCY_CTX,
    SIGNER,
    accepted,
    book,
    courier,
    officer,
    qr,
    scan,
    to_out_for_agency,
)
from tracking.agency import (
    confirm_item,
    confirm_supplement,
    current_receipt,
    mark_result_ready,
    next_dossier_code,
    open_handover,
    refuse_item,
    request_supplement,
)
from tracking.errors import AgencyActionRefused, NotPermitted
from tracking.handover_pdf import render_handover_pdf
from tracking.models import AgencyReceipt, EventKind, HandoverDecision, TrackingEvent
from tracking.portal import PortalStatus, derive_portal_status, portal_status

# Thursday 15/01/2026 10:00 in Cà Mau (UTC+7): a working day before the 15:00 cut-off.
THURSDAY_MORNING = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)


def _three_on_their_way(s):
    orders = [book(s, applicant_name=name) for name in ("Nguyễn Thị Hồng Nhung", "Trần Văn Bảy", "Lê Thị Mai")]
    for order in orders:
        to_out_for_agency(s, order)
    agency = orders[0].dossier.agency
    assert all(o.dossier.agency_id == agency.id for o in orders)
    return orders, agency


def test_a_hand_over_record_lists_several_items_and_each_is_decided(db_session):
    s = db_session
    orders, agency = _three_on_their_way(s)
    record = open_handover(s, agency_code=agency.code, items=[qr(o) for o in orders], actor=courier(orders[0]),
                           signer=SIGNER)
    assert [i.order_id for i in record.items] == [o.id for o in orders]
    assert all(o.state == OrderState.HANDED_TO_AGENCY for o in orders)
    receipt = confirm_item(s, record.id, orders[0].item_code, actor=officer(orders[0]), now=THURSDAY_MORNING)
    refuse_item(s, record.id, orders[1].item_code, actor=officer(orders[1]), reason_code="invalid_documents",
                note="CCCD hết hạn")
    assert record.closed_at is None
    request_supplement(s, orders[2].item_code, actor=officer(orders[2]), record_id=record.id,
                       missing_documents=["Tờ khai theo mẫu"])
    assert record.closed_at is not None
    assert [i.decision for i in record.items] == [HandoverDecision.CONFIRMED, HandoverDecision.REFUSED,
                                                  HandoverDecision.SUPPLEMENT_REQUESTED]
    assert [o.state for o in orders] == [OrderState.ACCEPTED, OrderState.REFUSED, OrderState.SUPPLEMENT_REQUESTED]
    # Legal submission time, dossier code, appointment date (J + processing days, in working days).
    dossier = orders[0].dossier
    assert receipt.submitted_at == THURSDAY_MORNING and receipt.acceptance_date == date(2026, 1, 15)
    assert re.fullmatch(re.escape(agency.code) + r"-260115-\d{4}", dossier.dossier_code)
    assert dossier.appointment_date == add_working_days(date(2026, 1, 15), dossier.procedure.processing_days)
    refused_ev = s.scalars(select(TrackingEvent).where(TrackingEvent.order_id == orders[1].id)
                           .order_by(TrackingEvent.id.desc())).first()
    assert refused_ev.kind == EventKind.REFUSED and refused_ev.reason_code == "invalid_documents"
    with pytest.raises(AgencyActionRefused, match="đã được xử lý"):
        confirm_item(s, record.id, orders[1].item_code, actor=officer(orders[1]))


def test_a_receipt_after_the_cut_off_counts_from_the_next_working_day(db_session):
    s = db_session
    order = book(s)
    to_out_for_agency(s, order)
    record = open_handover(s, agency_code=order.dossier.agency.code, items=[order.item_code], actor=courier(order))
    friday_evening = datetime(2026, 2, 13, 10, 0, tzinfo=UTC)  # 17:00 local, Friday before Tết 2026
    receipt = confirm_item(s, record.id, order.item_code, actor=officer(order), now=friday_evening)
    assert receipt.acceptance_date == date(2026, 2, 23)  # after the weekend and the Tết holidays
    assert order.dossier.dossier_code.split("-")[-2] == "260213"  # the code carries the signing day


def test_a_record_refuses_items_not_on_their_way_to_that_agency(db_session):
    s = db_session
    ready, waiting = book(s), book(s)
    to_out_for_agency(s, ready)
    other = s.scalar(select(Agency).where(Agency.id != ready.dossier.agency_id).limit(1))
    with pytest.raises(AgencyActionRefused) as info:
        open_handover(s, agency_code=ready.dossier.agency.code, items=[ready.item_code, waiting.item_code],
                      actor=courier(ready))
    assert set(info.value.details["items"]) == {waiting.item_code}
    assert ready.state == OrderState.OUT_FOR_DELIVERY  # all or nothing
    with pytest.raises(AgencyActionRefused):
        open_handover(s, agency_code=other.code, items=[ready.item_code], actor=courier(ready))


def test_only_an_officer_of_the_receiving_agency_decides(db_session):
    s = db_session
    order = book(s)
    to_out_for_agency(s, order)
    record = open_handover(s, agency_code=order.dossier.agency.code, items=[order.item_code], actor=courier(order))
    with pytest.raises(NotPermitted):
        confirm_item(s, record.id, order.item_code, actor=courier(order))
    stranger = officer(order).__class__(role="agency_officer", name="X", agency_id=order.dossier.agency_id + 1)
    with pytest.raises(NotPermitted):
        confirm_item(s, record.id, order.item_code, actor=stranger)


def test_the_printable_record_names_both_parties_items_and_times(db_session):
    s = db_session
    orders, agency = _three_on_their_way(s)
    record = open_handover(s, agency_code=agency.code, items=[o.item_code for o in orders[:2]],
                           actor=courier(orders[0], name="Nguyễn Văn Tới"))
    confirm_item(s, record.id, orders[0].item_code, actor=officer(orders[0], name="Huỳnh Ngọc Trâm"),
                 now=THURSDAY_MORNING)
    refuse_item(s, record.id, orders[1].item_code, actor=officer(orders[1], name="Huỳnh Ngọc Trâm"),
                reason_code="damaged")
    pdf = render_handover_pdf(s, record)
    doc = pypdfium2.PdfDocument(pdf)
    try:
        text = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()
    compact = " ".join(text.split())
    for needle in ("BIÊN BẢN GIAO NHẬN HỒ SƠ", "Nguyễn Văn Tới", "Huỳnh Ngọc Trâm", agency.name[:20],
                   orders[0].item_code, orders[1].item_code, orders[0].dossier.dossier_code,
                   "Đã tiếp nhận", "Từ chối", "15/01/2026 10:00", "Tổng số: 2 bưu gửi"):
        assert needle in compact, needle


def test_result_ready_opens_the_result_leg_with_a_new_item_and_its_label_job(db_session):
    s = db_session
    order = book(s, service_form="both")
    accepted(s, order)
    result = mark_result_ready(s, order.item_code, actor=officer(order), ctx=AGENCY_CTX)
    assert result.leg == Leg.RESULT and result.dossier_id == order.dossier_id
    assert parse_item_code(result.item_code).serial != parse_item_code(order.item_code).serial
    assert result.state == OrderState.CREATED and order.state == OrderState.ACCEPTED
    jobs = s.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key == f"label:{result.id}")).all()
    assert len(jobs) == 1 and jobs[0].job == "workers.jobs.labels.render_label"
    assert portal_status(s, order.dossier) == PortalStatus.DONE
    with pytest.raises(AgencyActionRefused):
        mark_result_ready(s, order.item_code, actor=officer(order), ctx=AGENCY_CTX)


def test_a_send_only_dossier_records_the_result_without_a_result_leg(db_session):
    s = db_session
    order = book(s, service_form="send_only")
    accepted(s, order)
    assert mark_result_ready(s, order.item_code, actor=officer(order), ctx=AGENCY_CTX) is None
    assert s.scalar(select(func.count(Order.id)).where(Order.dossier_id == order.dossier_id)) == 1
    assert portal_status(s, order.dossier) == PortalStatus.DONE


def test_supplement_then_complete_dossier_restarts_the_clock_with_the_same_code(db_session):
    s = db_session
    order = book(s)
    accepted(s, order)
    first = current_receipt(s, order.dossier_id)
    with pytest.raises(AgencyActionRefused):
        request_supplement(s, order.item_code, actor=officer(order), missing_documents=[" "])
    request_supplement(s, order.item_code, actor=officer(order), missing_documents=["Bản sao giấy khai sinh"])
    ev = s.scalars(select(TrackingEvent).where(TrackingEvent.order_id == order.id)
                   .order_by(TrackingEvent.id.desc())).first()
    assert ev.details == {"missing_documents": ["Bản sao giấy khai sinh"]}
    assert portal_status(s, order.dossier) == PortalStatus.SUPPLEMENT_REQUESTED
    later = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    second = confirm_supplement(s, order.item_code, actor=officer(order), now=later)
    assert second.dossier_code == first.dossier_code and second.submitted_at == later
    assert order.dossier.appointment_date == add_working_days(date(2026, 3, 2), order.dossier.procedure.processing_days)
    assert s.scalar(select(func.count(AgencyReceipt.id)).where(AgencyReceipt.dossier_id == order.dossier_id)) == 2


def test_the_two_leg_dossier_from_booking_to_delivery_with_portal_status(db_session):
    from tests.tracking.tracking_helpers import result_out_for_delivery

    s = db_session
    order = book(s, service_form="both")
    assert portal_status(s, order.dossier) == PortalStatus.REGISTERED
    result, code = result_out_for_delivery(s, order)
    assert portal_status(s, order.dossier) == PortalStatus.DONE
    assert scan(s, result, "delivered", delivery_code=code).ok
    assert portal_status(s, order.dossier) == PortalStatus.RESULT_RETURNED
    kinds = [e.kind for e in s.scalars(select(TrackingEvent).where(TrackingEvent.order_id == result.id)
                                       .order_by(TrackingEvent.id))]
    assert kinds == [EventKind.RESULT_READY, EventKind.COLLECTED, EventKind.ARRIVED_POST_OFFICE,
                     EventKind.OUT_FOR_DELIVERY, EventKind.DELIVERED]


@pytest.mark.parametrize(("pickup", "result", "recorded", "status"), [
    (OrderState.CREATED, None, False, 1), (OrderState.HANDED_TO_AGENCY, None, False, 1),
    (OrderState.ACCEPTED, None, False, 2), (OrderState.REFUSED, None, False, 3),
    (OrderState.RETURNED, None, False, 3), (OrderState.SUPPLEMENT_REQUESTED, None, False, 5),
    (OrderState.CANCELLED, None, False, 7), (OrderState.LOST, None, False, 8),
    (OrderState.ACCEPTED, None, True, 9), (OrderState.ACCEPTED, OrderState.OUT_FOR_DELIVERY, True, 9),
    (OrderState.ACCEPTED, OrderState.DELIVERY_FAILED, True, 9), (OrderState.ACCEPTED, OrderState.LOST, True, 8),
    (OrderState.ACCEPTED, OrderState.DELIVERED, True, 10),
])
def test_portal_status_is_derived_from_the_legs(pickup, result, recorded, status):
    assert derive_portal_status(pickup, result, result_recorded=recorded) == status


def test_dossier_codes_stay_unique_when_officers_confirm_at_the_same_moment(db):
    workers = 6
    try:
        with db.unit_of_work() as s:
            agency_id = book(s).dossier.agency_id
        barrier = threading.Barrier(workers)
        codes, errors = [], []

        def take():
            try:
                barrier.wait(timeout=30)
                for _ in range(5):
                    with db.unit_of_work() as s:
                        codes.append(next_dossier_code(s, s.get(Agency, agency_id), date(2026, 1, 15)))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=take) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert len(codes) == workers * 5 == len(set(codes))
        assert sorted(int(c.rsplit("-", 1)[1]) for c in codes) == list(range(1, workers * 5 + 1))
    finally:
        clean_transactional(db)
