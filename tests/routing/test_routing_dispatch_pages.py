"""The dispatcher's pages: review queue, assignment, runs with the PDF, upload with progress; staff only."""

import time

from sqlalchemy import select

from logistics.accounts.models import Role
from logistics.orders.models import Channel, Order, OrderState
from tests.factories import csrf_token, login, make_user
from tests.orders.helpers import commune, procedure, valid_request
from tracking.models import EventKind, TrackingEvent
from tracking.services import book_pickup


def _setup(db, *, ambiguous=1, clear=2):
    with db.unit_of_work() as s:
        disp = make_user(s, Role.DISPATCHER, username="dp1", post_office_code="98000")
        c1 = make_user(s, Role.COURIER, username="bt1", post_office_code="98000", full_name="Nguyễn Văn Tới")
        c2 = make_user(s, Role.COURIER, username="bt2", post_office_code="98000", full_name="Phạm Hoàng Khải")
        codes = []
        for i in range(ambiguous):
            raw = valid_request(s, address=f"Số {i + 1} Lưu Tấn Tài, Phường 6", external_ref=f"AMB-{i}")
            raw.pop("commune_code")
            codes.append(book_pickup(s, raw, indicator="RA", channel=Channel.API)[0].item_code)
        for i in range(clear):
            raw = valid_request(s, address=f"Số {i + 10} Lưu Tấn Tài, Phường Tân Thành", external_ref=f"OK-{i}")
            raw.pop("commune_code")
            codes.append(book_pickup(s, raw, indicator="RA", channel=Channel.API)[0].item_code)
        return disp.username, (c1.id, c2.id), codes


def test_pages_are_staff_only(client):
    assert client.get("/dispatch/").status_code == 302
    assert "/login" in client.get("/dispatch/review").headers["Location"]


def test_couriers_cannot_open_dispatch_pages(client, db):
    with db.unit_of_work() as s:
        make_user(s, Role.COURIER, username="bt9")
    login(client, "bt9")
    assert client.get("/dispatch/").status_code == 403


def test_review_queue_lists_candidates_and_a_choice_moves_the_order_on(client, db):
    with db.unit_of_work() as s:
        raw = valid_request(s, address="Số 3 Lưu Tấn Tài, Phường 5", external_ref="AMB-1")
        raw.pop("commune_code")
        order = book_pickup(s, raw, indicator="RA", channel=Channel.API)[0]
        code = order.item_code
        assert order.state == OrderState.NEEDS_REVIEW
        make_user(s, Role.DISPATCHER, username="dp5", post_office_code=order.post_office.code)
        target = commune(s, "Phường Tân Thành").code
    login(client, "dp5")
    page = client.get("/dispatch/review").get_data(as_text=True)
    assert code in page and "Phường Tân Thành" in page
    token = csrf_token(client, "/dispatch/review")
    resp = client.post(f"/dispatch/review/{code}", data={"commune_code": target, "csrf_token": token})
    assert resp.status_code == 302
    with db.unit_of_work() as s:
        order = s.scalar(select(Order).where(Order.item_code == code))
        assert order.state == OrderState.CREATED
        assert order.dossier.admin_unit.name == "Phường Tân Thành"
        assert order.post_office.code == "98000"
        last = s.scalars(select(TrackingEvent).where(TrackingEvent.order_id == order.id)
                         .order_by(TrackingEvent.id.desc())).first()
        assert last.actor_role == "dispatcher" and "xác nhận địa chỉ" in last.note
    # The order moved to another office's queue, and out of review anyway.
    assert f"review-{code}" not in client.get("/dispatch/review").get_data(as_text=True)


def test_an_ambiguous_booking_shows_in_the_review_queue(client, db):
    with db.unit_of_work() as s:
        make_user(s, Role.MANAGER, username="ql1")
        raw = valid_request(s, address="Số 3, Phường 5", external_ref="AMB-X")
        raw.pop("commune_code")
        order = book_pickup(s, raw, indicator="RA", channel=Channel.API)[0]
        code, office = order.item_code, order.post_office.code
        assert order.state == OrderState.NEEDS_REVIEW
    login(client, "ql1")
    page = client.get(f"/dispatch/review?office={office}").get_data(as_text=True)
    assert code in page and "Phường Vĩnh Trạch" in page and "Phường Tân Thành" in page
    detail = client.get(f"/dispatch/orders/{code}").get_data(as_text=True)
    assert "TẠM THỜI" in detail


def test_assign_all_balances_and_records_events(client, db):
    user, couriers, codes = _setup(db, ambiguous=0, clear=4)
    login(client, user)
    assert "Phân công" in client.get("/dispatch/assign").get_data(as_text=True)
    token = csrf_token(client, "/dispatch/assign")
    assert client.post("/dispatch/assign-all", data={"csrf_token": token}).status_code == 302
    with db.unit_of_work() as s:
        orders = s.scalars(select(Order).where(Order.item_code.in_(codes))).unique().all()
        assert {o.state for o in orders} == {OrderState.ASSIGNED}
        per = [sum(o.courier_id == c for o in orders) for c in couriers]
        assert sorted(per) == [2, 2]
        kinds = s.scalars(select(TrackingEvent.kind).where(TrackingEvent.order_id == orders[0].id)).all()
        assert kinds[-1] == EventKind.ASSIGNED
    # Reassign one order to a named courier.
    target = couriers[0]
    client.post(f"/dispatch/assign/{codes[0]}", data={"csrf_token": token, "courier_id": str(target)})
    with db.unit_of_work() as s:
        assert s.scalar(select(Order.courier_id).where(Order.item_code == codes[0])) == target


def test_runs_page_and_run_sheet_pdf(client, db):
    user, couriers, codes = _setup(db, ambiguous=0, clear=3)
    login(client, user)
    token = csrf_token(client, "/dispatch/assign")
    client.post("/dispatch/assign-all", data={"csrf_token": token})
    page = client.get("/dispatch/runs?date=2026-03-02").get_data(as_text=True)
    assert "km" in page and codes[0] in page
    pdf = client.get(f"/dispatch/runs/{couriers[0]}/2026-03-02.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")


def test_upload_shows_progress_and_bad_rows(client, db):
    with db.unit_of_work() as s:
        make_user(s, Role.DISPATCHER, username="dp2", post_office_code="98000")
        proc = procedure(s).code
    login(client, "dp2")
    token = csrf_token(client, "/dispatch/imports")
    csv = ("external_ref,applicant_name,phone,address,procedure_code\n"
           f'UP-1,Nguyễn Văn An,0912345678,"Số 3 Lưu Tấn Tài, Phường 5, TP Cà Mau",{proc}\n'
           f"UP-2,Trần Thị Lan,123,Số 4,{proc}\n").encode()
    import io

    resp = client.post("/dispatch/imports", data={"csrf_token": token, "file": (io.BytesIO(csv), "don.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 302
    url = resp.headers["Location"]
    assert "progress" in client.get(url).get_data(as_text=True)
    for _ in range(100):
        progress = client.get(url + ".json").get_json()
        if progress["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert progress["status"] == "done"
    assert (progress["created"], progress["errors"], progress["percent"]) == (1, 1, 100)
    assert progress["error_rows"][0]["line"] == 3
    page = client.get(url).get_data(as_text=True)
    assert "phone" in page


def test_upload_refuses_a_file_without_the_columns(client, db):
    with db.unit_of_work() as s:
        make_user(s, Role.DISPATCHER, username="dp3", post_office_code="98000")
    login(client, "dp3")
    token = csrf_token(client, "/dispatch/imports")
    import io

    resp = client.post("/dispatch/imports", data={"csrf_token": token, "file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 422
    assert "Thiếu cột" in resp.get_data(as_text=True)


def test_api_says_when_an_address_needs_review(client, db):
    from tests.factories import bearer, make_token

    with db.unit_of_work() as s:
        secret = make_token(s, ["orders:write"])
        raw = valid_request(s, address="Số 3, Phường 5", external_ref="API-AMB")
    raw.pop("commune_code")
    resp = client.post("/api/v1/orders", json=raw, headers=bearer(secret))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["state"] == "needs_review"
    assert body["needs_address_review"] is True
    assert {c["name"] for c in body["address_review"]["candidates"]} >= {"Phường Tân Thành", "Phường Vĩnh Trạch"}
    assert body["dossier"]["routing"]["provisional"] is True
