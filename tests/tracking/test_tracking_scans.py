"""Scan ingestion through the real services on SQLite and PostgreSQL."""

import itertools
from datetime import timedelta

from sqlalchemy import func, select

from config.db import utcnow
from logistics.orders.models import Leg, OrderState
from tests.tracking.tracking_helpers import (
    CTX,
    KEY,
    book,
    courier,
    dispatcher,
    payload,
    qr,
    result_leg,
    result_out_for_delivery,
    scan,
)
from tracking.delivery import MAX_CODE_FAILURES, issue_delivery_code
from tracking.models import EventKind, RefusedScan, TrackingEvent
from tracking.scans import SCANNABLE, record_scan, record_scans
from tracking.states import can_transition


def _counts(s):
    return s.scalar(select(func.count(TrackingEvent.id))), s.scalar(select(func.count(RefusedScan.id)))


def test_every_courier_scan_in_every_state_is_recorded_or_refused_as_the_table_says(db_session):
    s = db_session
    pickup = book(s)
    result, _code = result_leg(s, book(s))
    events = sorted(SCANNABLE["courier"] | SCANNABLE["dispatcher"])
    for order, state, event in itertools.product((pickup, result), OrderState, events):
        order.state = state
        s.flush()
        issue_delivery_code(s, KEY, order.dossier_id)
        code = issue_delivery_code(s, KEY, order.dossier_id)
        actor = courier(order) if event in SCANNABLE["courier"] else dispatcher(order)
        before = _counts(s)
        outcome = scan(s, order, str(event), actor, delivery_code=code)
        expected = can_transition(order.leg, state, event)
        assert outcome.ok is expected, (order.leg, state, event, outcome)
        events_after, refused_after = _counts(s)
        if expected:
            assert outcome.state == str(order.state) and events_after == before[0] + 1
        else:
            assert outcome.error == "invalid_transition" and f"'{state}'" in outcome.message
            assert order.state == state  # nothing changed
            assert (events_after, refused_after) == (before[0], before[1] + 1)  # the refusal is logged


def test_a_replayed_key_returns_the_original_outcome_and_writes_nothing(db_session):
    s = db_session
    order = book(s)
    raw = payload(order, "collected")
    first = record_scan(s, raw, actor=courier(order), ctx=CTX)
    assert first.ok and not first.replayed
    counts = _counts(s)
    again = record_scan(s, raw, actor=courier(order), ctx=CTX)
    assert again.replayed and again.ok and again.event_id == first.event_id and again.state == "collected"
    assert _counts(s) == counts


def test_a_replayed_refusal_is_refused_the_same_way(db_session):
    s = db_session
    order = book(s)
    raw = payload(order, "delivered")
    first = record_scan(s, raw, actor=courier(order), ctx=CTX)
    assert not first.ok and first.error == "invalid_transition"
    counts = _counts(s)
    again = record_scan(s, raw, actor=courier(order), ctx=CTX)
    assert again.replayed and (again.error, again.message) == (first.error, first.message)
    assert _counts(s) == counts


def test_a_batch_reports_each_scan_and_a_bad_scan_never_sinks_the_good_ones(db_session):
    s = db_session
    a, b = book(s), book(s)
    forged = qr(b)[:-1] + ("A" if qr(b)[-1] != "A" else "B")
    outcomes = record_scans(s, [
        payload(a, "collected"),
        payload(b, "collected", qr=forged),
        payload(a, "delivered"),
        "not an object",
        payload(a, "arrived_post_office"),
        payload(b, "collected", idempotency_key="short"),
    ], actor=courier(a), ctx=CTX)
    assert [o.ok for o in outcomes] == [True, False, False, False, True, False]
    assert [o.error for o in outcomes] == [None, "bad_signature", "invalid_transition", "invalid_scan", None,
                                           "idempotency_key_required"]
    assert a.state == OrderState.AT_POST_OFFICE and b.state == OrderState.CREATED


def test_a_typed_code_is_accepted_without_signature_and_marked_typed(db_session):
    s = db_session
    order = book(s)
    raw = payload(order, "collected")
    del raw["qr"]
    raw["item_code"] = order.item_code.lower()
    outcome = record_scan(s, raw, actor=courier(order), ctx=CTX)
    assert outcome.ok
    ev = s.get(TrackingEvent, outcome.event_id)
    assert ev.details["typed_code"] is True


def test_a_large_device_clock_gap_is_kept_and_flagged(db_session):
    s = db_session
    order = book(s)
    device = (utcnow() - timedelta(hours=3)).isoformat()
    outcome = scan(s, order, "collected", device_time=device)
    assert outcome.ok and outcome.clock_skew_flag
    ev = s.get(TrackingEvent, outcome.event_id)
    assert ev.clock_skew_flag and -3 * 3600 - 60 < ev.clock_skew_s < -3 * 3600 + 60
    assert ev.device_time.isoformat()[:16] == device[:16]  # kept as sent
    on_time = scan(s, order, "arrived_post_office", device_time=utcnow().isoformat())
    assert on_time.ok and not on_time.clock_skew_flag


def test_collection_needs_the_whole_checklist_and_a_seal(db_session):
    s = db_session
    order = book(s)
    docs = [d for d in order.dossier.procedure.documents if d.required]
    assert docs, "the test procedure has a checklist"
    short = payload(order, "collected")
    short["documents"] = short["documents"][1:]
    outcome = record_scan(s, short, actor=courier(order), ctx=CTX)
    assert outcome.error == "checklist_incomplete"
    assert docs[0].name in outcome.message and outcome.details["missing"][0]["id"] == docs[0].id
    no_seal = record_scan(s, payload(order, "collected", seal_number=""), actor=courier(order), ctx=CTX)
    assert no_seal.error == "seal_required"
    assert order.state == OrderState.CREATED
    assert scan(s, order, "collected").ok


def test_collection_refuses_a_copy_where_an_original_is_required(db_session):
    s = db_session
    order = book(s)
    docs = [d for d in order.dossier.procedure.documents if d.required and d.form == "original"]
    if not docs:  # pick a procedure with an original in its checklist
        from logistics.agencies.models import DocumentForm, Procedure, ProcedureDocument

        proc = s.scalars(select(Procedure).join(ProcedureDocument).where(
            Procedure.by_post.is_(True), Procedure.level == "commune",
            ProcedureDocument.form == DocumentForm.ORIGINAL, ProcedureDocument.required.is_(True))).first()
        order = book(s, procedure_code=proc.code)
        docs = [d for d in order.dossier.procedure.documents if d.required and d.form == "original"]
    raw = payload(order, "collected")
    for entry in raw["documents"]:
        if entry["id"] == docs[0].id:
            entry["form"] = "copy"
    outcome = record_scan(s, raw, actor=courier(order), ctx=CTX)
    assert outcome.error == "checklist_incomplete" and "bản chính" in outcome.details["problems"][0]


def test_delivery_needs_identity_and_the_code_and_wrong_codes_lock_it(db_session):
    s = db_session
    order = book(s)
    result, code = result_out_for_delivery(s, order)
    assert scan(s, result, "delivered", identity=None, delivery_code=code).error == "identity_required"
    assert scan(s, result, "delivered", identity={"method": "id_number", "last_digits": "0000"},
                delivery_code=code).error == "identity_mismatch"
    assert scan(s, result, "delivered").error == "delivery_code_required"
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(MAX_CODE_FAILURES):
        assert scan(s, result, "delivered", delivery_code=wrong).error == "delivery_code_wrong"
    assert scan(s, result, "delivered", delivery_code=code).error == "delivery_code_locked"
    assert result.state == OrderState.OUT_FOR_DELIVERY
    fresh = issue_delivery_code(s, KEY, order.dossier_id)
    done = scan(s, result, "delivered", delivery_code=fresh)
    assert done.ok and result.state == OrderState.DELIVERED
    ev = s.get(TrackingEvent, done.event_id)
    assert ev.details["identity"] == {"method": "id_number", "matched": True, "on_record": True}
    assert fresh not in str(ev.details) and fresh not in (ev.note or "")


def test_a_representative_may_receive_with_an_authorisation(db_session):
    s = db_session
    result, code = result_out_for_delivery(s, book(s))
    ident = {"method": "representative", "name": "Trần Văn Bảy", "authorisation": "Giấy ủy quyền số 12/UQ",
             "id_last_digits": "7788"}
    outcome = scan(s, result, "delivered", identity=ident, delivery_code=code)
    assert outcome.ok
    assert s.get(TrackingEvent, outcome.event_id).details["identity"]["name"] == "Trần Văn Bảy"


def test_a_failed_attempt_needs_a_reason_from_the_list(db_session):
    s = db_session
    result, _code = result_out_for_delivery(s, book(s))
    bad = scan(s, result, "delivery_failed", reason_code="lazy")
    assert bad.error == "reason_required" and "absent" in bad.message
    ok = scan(s, result, "delivery_failed", reason_code="wrong_address")
    assert ok.ok and s.get(TrackingEvent, ok.event_id).reason_code == "wrong_address"


def test_roles_may_scan_only_their_events(db_session):
    s = db_session
    order = book(s)
    assert scan(s, order, "collected", dispatcher(order)).error == "event_not_allowed"
    assert scan(s, order, "handed_to_agency").error == "event_not_allowed"  # goes through the hand-over record
    assert scan(s, order, "teleported").error == "unknown_event"


def test_unknown_and_malformed_items_are_refused_and_logged(db_session):
    s = db_session
    order = book(s)
    unknown = payload(order, "collected", qr=None, item_code="RA000000005VN")
    assert record_scan(s, unknown, actor=courier(order), ctx=CTX).error == "unknown_item"
    unsigned = payload(order, "collected", qr=f"https://dossierpost.test/t/{order.item_code}")
    assert record_scan(s, unsigned, actor=courier(order), ctx=CTX).error == "bad_signature"
    garbage = payload(order, "collected", qr="https://x/t/NOTACODE?s=abc")
    assert record_scan(s, garbage, actor=courier(order), ctx=CTX).error == "invalid_item_code"
    assert s.scalar(select(func.count(RefusedScan.id))) == 3
    assert order.state == OrderState.CREATED


def test_result_leg_is_a_separate_item_of_the_same_dossier(db_session):
    s = db_session
    order = book(s)
    result, _ = result_leg(s, order)
    assert result.leg == Leg.RESULT and result.dossier_id == order.dossier_id and result.item_code != order.item_code
    first = s.scalars(select(TrackingEvent).where(TrackingEvent.order_id == result.id)).first()
    assert first.kind == EventKind.RESULT_READY
