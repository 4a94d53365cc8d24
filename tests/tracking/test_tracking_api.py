"""POST /api/v1/scans (single and batch) and the agency's JSON endpoints, through the real app."""

import uuid

from sqlalchemy import func, select

from logistics.accounts.models import Role
from tests.factories import login, make_user
from tests.tracking.tracking_helpers import ID_DIGITS, book, checklist, to_out_for_agency
from tracking.models import RefusedScan, TrackingEvent
from web.context import services


def _setup(app, *, state="created"):
    """A booked order (optionally driven on), a courier of its office and an officer of its agency."""
    with app.app_context():
        svc = services()
        with svc.db.unit_of_work() as s:
            order = book(s)
            if state == "out_for_agency":
                to_out_for_agency(s, order)
            courier = make_user(s, Role.COURIER, post_office_code=order.post_office.code)
            officer = make_user(s, Role.AGENCY_OFFICER, agency_code=order.dossier.agency.code)
            return {"code": order.item_code, "qr": svc.signer.tracking_url("https://x", order.item_code),
                    "docs": checklist(order), "courier": courier.username, "officer": officer.username,
                    "agency": order.dossier.agency.code}


def _collect(ctx, **extra):
    raw = {"qr": ctx["qr"], "event": "collected", "idempotency_key": str(uuid.uuid4()), "seal_number": "NP-1",
           "documents": ctx["docs"], "id_number_last4": ID_DIGITS, "lat": 9.18, "lon": 105.15,
           "device_time": "2026-01-15T10:00:00+07:00"}
    raw.update(extra)
    return raw


def _count(app, model):
    with app.app_context(), services().db.unit_of_work() as s:
        return s.scalar(select(func.count(model.id)))


def test_scans_need_a_courier(app, client):
    ctx = _setup(app)
    assert client.post("/api/v1/scans", json=_collect(ctx)).status_code == 401
    login(client, ctx["officer"])
    resp = client.post("/api/v1/scans", json=_collect(ctx))
    assert resp.status_code == 403 and resp.mimetype == "application/problem+json"


def test_a_single_scan_then_its_replay(app, client):
    ctx = _setup(app)
    login(client, ctx["courier"])
    raw = _collect(ctx)
    first = client.post("/api/v1/scans", json=raw)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["ok"] and body["state"] == "collected" and body["clock_skew_flag"] is True  # device time: Jan 2026
    again = client.post("/api/v1/scans", json=raw)
    assert again.status_code == 200 and again.get_json()["replayed"]
    assert again.get_json()["event_id"] == body["event_id"]
    assert _count(app, TrackingEvent) == 2  # created + collected


def test_a_refused_single_scan_is_a_problem_and_its_log_is_kept(app, client):
    ctx = _setup(app)
    login(client, ctx["courier"])
    resp = client.post("/api/v1/scans", json=_collect(ctx, event="delivered"))
    assert resp.status_code == 409 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["error"] == "invalid_transition" and "'created'" in resp.get_json()["detail"]
    assert _count(app, RefusedScan) == 1
    bad = client.post("/api/v1/scans", json=_collect(ctx, seal_number=None))
    assert bad.status_code == 422 and bad.get_json()["error"] == "seal_required"


def test_a_batch_answers_each_scan(app, client):
    ctx = _setup(app)
    login(client, ctx["courier"])
    batch = [_collect(ctx), {**_collect(ctx), "event": "delivered"},
             {"qr": ctx["qr"], "event": "arrived_post_office", "idempotency_key": str(uuid.uuid4())}]
    resp = client.post("/api/v1/scans", json={"scans": batch})
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["accepted"], body["refused"]) == (2, 1)
    assert [r["ok"] for r in body["results"]] == [True, False, True]
    assert body["results"][1]["error"] == "invalid_transition"
    assert client.post("/api/v1/scans", json={"scans": [{}] * 501}).status_code == 413
    form = client.post("/api/v1/scans", data="qr=x", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 400


def test_hand_over_then_the_officer_confirms_and_prints(app, client):
    ctx = _setup(app, state="out_for_agency")
    login(client, ctx["courier"])
    created = client.post("/api/v1/handovers", json={"agency_code": ctx["agency"], "items": [ctx["qr"]]})
    assert created.status_code == 201, created.get_json()
    record = created.get_json()
    assert [i["decision"] for i in record["items"]] == ["pending"]
    assert client.get(record["pdf"]).status_code == 200  # the courier of the handing office may print it
    officer = app.test_client()
    login(officer, ctx["officer"])
    confirm = officer.post(f"/api/v1/agency/handovers/{record['id']}/items/{ctx['code']}/confirm", json={})
    assert confirm.status_code == 200, confirm.get_json()
    body = confirm.get_json()
    assert body["dossier_code"].startswith(ctx["agency"] + "-") and body["portal_status"] == {
        "code": 2, "text": "Đã tiếp nhận"}
    assert body["receipt"]["appointment_date"] == body["appointment_date"]
    again = officer.post(f"/api/v1/agency/handovers/{record['id']}/items/{ctx['code']}/confirm", json={})
    assert again.status_code == 409
    pdf = officer.get(record["pdf"])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    ready = officer.post(f"/api/v1/agency/dossiers/{ctx['code']}/result-ready", json={"note": "Đã ký"})
    assert ready.status_code == 201 and ready.get_json()["result_leg"]["item_code"] != ctx["code"]
    assert ready.get_json()["portal_status"]["code"] == 9


def test_officers_act_only_within_their_agency(app, client):
    ctx = _setup(app, state="out_for_agency")
    login(client, ctx["courier"])
    record = client.post("/api/v1/handovers", json={"agency_code": ctx["agency"], "items": [ctx["code"]]}).get_json()
    with app.app_context(), services().db.unit_of_work() as s:
        from logistics.agencies.models import Agency

        other = s.scalar(select(Agency.code).where(Agency.code != ctx["agency"]).limit(1))
        stranger = make_user(s, Role.AGENCY_OFFICER, agency_code=other).username
    officer = app.test_client()
    login(officer, stranger)
    assert officer.post(f"/api/v1/agency/handovers/{record['id']}/items/{ctx['code']}/confirm",
                        json={}).status_code == 403
    # Reading another agency's record answers like a missing one; acting on it is refused.
    assert officer.get(f"/api/v1/agency/handovers/{record['id']}").status_code == 404
    assert officer.get(record["pdf"]).status_code == 404
    refused = officer.post(f"/api/v1/agency/handovers/{record['id']}/items/{ctx['code']}/refuse",
                           json={"reason_code": "damaged"})
    assert refused.status_code == 403
