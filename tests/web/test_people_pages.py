"""The people's pages through the Flask test client, on SQLite and PostgreSQL: courier app, agency desk,
manager dashboard and exports, reference screens, the citizen's result address, vendor files.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from logistics.accounts.models import Role, User
from logistics.agencies.models import Agency, AgencyKind, PostOffice, PostOfficeArea, Procedure, ProcedureLevel
from logistics.fees.models import TariffRate
from logistics.orders.models import Channel, Leg, Order, OrderState
from tests.factories import login, make_user
from tests.web.helpers import csrf_from


def _db(app: Any) -> Any:
    return app.extensions["dossierpost"].db


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    """A booked 'both ways' dossier at the provincial center, and the staff around it."""
    from tracking.services import book_pickup

    with _db(app).unit_of_work() as s:
        center = s.scalars(select(Agency).where(Agency.kind == AgencyKind.PROVINCE_CENTER)).first()
        office = s.scalar(select(PostOffice).join(PostOfficeArea, PostOfficeArea.post_office_id == PostOffice.id)
                          .where(PostOfficeArea.admin_unit_id == center.admin_unit_id).limit(1))
        other_office = s.scalar(select(PostOffice).where(PostOffice.id != office.id).limit(1))
        other_agency = s.scalar(select(Agency).where(Agency.id != center.id).limit(1))
        procedure = next(p for p in s.scalars(
            select(Procedure).where(Procedure.by_post.is_(True), Procedure.level == ProcedureLevel.PROVINCE)
            .order_by(Procedure.code)) if p.documents)
        order, _ = book_pickup(s, {
            "applicant_name": "Nguyễn Thị Hồng Nhung", "phone": "0912345678", "address": "Số 3 Lưu Tấn Tài",
            "commune_code": center.admin_unit.code, "procedure_code": procedure.code, "service_form": "both",
            "envelopes": 1}, indicator="RA", channel=Channel.WEB)
        names = {
            "courier": make_user(s, Role.COURIER, post_office_code=office.code).username,
            "stranger": make_user(s, Role.COURIER, post_office_code=other_office.code).username,
            "dispatcher": make_user(s, Role.DISPATCHER, post_office_code=office.code).username,
            "officer": make_user(s, Role.AGENCY_OFFICER, agency_code=center.code).username,
            "other_officer": make_user(s, Role.AGENCY_OFFICER, agency_code=other_agency.code).username,
            "manager": make_user(s, Role.MANAGER).username,
        }
        order.post_office_id = office.id
        return {"code": order.item_code, "office": office.code, "commune": center.admin_unit.code, **names}


def _order(app: Any, code: str) -> tuple[OrderState, int | None]:
    with _db(app).unit_of_work() as s:
        o = s.scalar(select(Order).where(Order.item_code == code))
        return o.state, o.courier_id


def _signed_url(app: Any, code: str) -> str:
    return app.extensions["dossierpost"].signer.tracking_url("https://dossierpost.test", code)


def app_of(client: Any) -> Any:
    return client.application


def _assign(client: Any, world: dict[str, Any]) -> None:
    with _db(app_of(client)).unit_of_work() as s:
        courier_id = s.scalar(select(User.id).where(User.username == world["courier"]))
    login(client, world["dispatcher"])
    page = client.get("/dispatch/assign").get_data(as_text=True)
    resp = client.post(f"/dispatch/assign/{world['code']}",
                       data={"courier_id": courier_id, "csrf_token": csrf_from(page)})
    assert resp.status_code == 302
    client.post("/logout", data={"csrf_token": csrf_from(page)})


# --- vendor files, PWA plumbing ------------------------------------------------------------------------


def test_vendor_serves_only_whitelisted_package_files(client):
    ok = client.get("/vendor/qr-scanner/qr-scanner.min.js")
    assert ok.status_code == 200
    assert ok.mimetype == "text/javascript"
    assert ok.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/vendor/qr-scanner/package.json").status_code == 404
    assert client.get("/vendor/qr-scanner/../../package.json").status_code == 404
    assert client.get("/vendor/").status_code == 404


def test_service_worker_and_manifest_have_their_types_and_scope(client):
    sw = client.get("/courier/sw.js")
    assert sw.mimetype == "text/javascript"
    assert sw.headers["Service-Worker-Allowed"] == "/courier/"
    manifest = client.get("/courier/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    body = json.loads(manifest.get_data(as_text=True))
    assert body["scope"] == body["start_url"] == "/courier/"
    assert {i["sizes"] for i in body["icons"]} == {"192x192", "512x512"}
    icon = client.get(body["icons"][0]["src"])
    assert icon.mimetype == "image/png" and icon.data.startswith(b"\x89PNG")


# --- courier -------------------------------------------------------------------------------------------


def test_courier_app_needs_a_courier_and_allows_blob_workers_only_there(client, world):
    assert client.get("/courier/").status_code == 302
    login(client, world["dispatcher"])
    assert client.get("/courier/").status_code == 403
    assert "blob:" not in client.get("/staff").headers["Content-Security-Policy"]
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/staff").get_data(as_text=True))})
    login(client, world["courier"])
    shell = client.get("/courier/")
    assert shell.status_code == 200
    csp = shell.headers["Content-Security-Policy"]
    assert "worker-src 'self' blob:" in csp and "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "Chờ đồng bộ" in shell.get_data(as_text=True)


def test_scanned_label_offers_only_the_events_its_state_allows_with_requirements(client, app, world):
    _assign(client, world)
    login(client, world["courier"])
    item = client.get("/courier/api/item", query_string={"q": _signed_url(app, world["code"])}).get_json()
    assert item["state"] == "assigned"
    assert [a["event"] for a in item["actions"]] == ["collected"]
    reqs = item["actions"][0]["requirements"]
    assert reqs["seal_number"] and reqs["id_digits"] and reqs["checklist"]
    assert {"delivered"} & set(item["plan"]) == set()  # the pickup leg never delivers to a citizen
    assert [a["event"] for a in item["plan"]["collected"]] == ["arrived_post_office"]
    run = client.get("/courier/api/assignments").get_json()["items"]
    assert [i["item_code"] for i in run] == [world["code"]] and run[0]["stop"] == 1


def test_what_the_app_sends_for_a_collection_is_what_the_scan_api_accepts(client, app, world):
    _assign(client, world)
    login(client, world["courier"])
    item = client.get("/courier/api/item", query_string={"q": world["code"]}).get_json()
    reqs = item["actions"][0]["requirements"]
    scan = {  # the fields app.js builds from these requirements
        "idempotency_key": f"web-{uuid.uuid4()}", "qr": _signed_url(app, world["code"]), "event": "collected",
        "device_time": "2026-01-05T09:00:00+07:00", "lat": 9.17, "lon": 105.15, "seal_number": "NP-0001",
        "id_number_last4": "2468",
        "documents": [{"id": d["id"], "form": d["form"], "quantity": d["quantity"]} for d in reqs["checklist"]],
    }
    first = client.post("/api/v1/scans", json={"scans": [scan]}).get_json()
    again = client.post("/api/v1/scans", json={"scans": [scan]}).get_json()
    assert first["results"][0]["ok"] and again["results"][0]["replayed"]
    assert _order(app, world["code"])[0] == OrderState.COLLECTED


def test_forged_label_and_other_offices_items_are_refused(client, app, world):
    login(client, world["courier"])
    forged = _signed_url(app, world["code"])[:-3] + "AAA"
    assert client.get("/courier/api/item", query_string={"q": forged}).status_code == 403
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/staff").get_data(as_text=True))})
    login(client, world["stranger"])
    assert client.get("/courier/api/item", query_string={"q": world["code"]}).status_code == 403
    assert client.get("/courier/api/assignments").get_json()["items"] == []


# --- agency desk ---------------------------------------------------------------------------------------


def _to_the_desk(client: Any, app: Any, world: dict[str, Any]) -> int:
    """Assign, collect, take to the office and out, hand over: the record's id."""
    from tracking.actors import Actor
    from tracking.agency import open_handover
    from tracking.models import EventKind
    from tracking.services import append_event

    _assign(client, world)
    with _db(app).unit_of_work() as s:
        order = s.scalar(select(Order).where(Order.item_code == world["code"]))
        for kind, state in ((EventKind.COLLECTED, OrderState.COLLECTED),
                            (EventKind.ARRIVED_POST_OFFICE, OrderState.AT_POST_OFFICE),
                            (EventKind.OUT_FOR_DELIVERY, OrderState.OUT_FOR_DELIVERY)):
            append_event(s, order, kind, state, actor_role="courier")
        courier = s.scalar(select(User).where(User.username == world["courier"]))
        record = open_handover(s, agency_code=order.dossier.agency.code, items=[order.item_code],
                               actor=Actor.from_user(courier))
        return record.id


def test_officer_confirms_prints_and_marks_the_result_ready(client, app, world):
    record_id = _to_the_desk(client, app, world)
    login(client, world["officer"])
    desk = client.get("/agency/").get_data(as_text=True)
    assert world["code"] in desk
    pdf = client.get(f"/agency/records/{record_id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    token = csrf_from(desk)
    resp = client.post(f"/agency/records/{record_id}/items/{world['code']}/confirm", data={"csrf_token": token},
                       follow_redirects=True)
    assert "Đã tiếp nhận" in resp.get_data(as_text=True)
    assert _order(app, world["code"])[0] == OrderState.ACCEPTED
    resp = client.post(f"/agency/dossiers/{world['code']}/result-ready", data={"csrf_token": token},
                       follow_redirects=True)
    result_code = re.search(r"mở chiều trả kết quả (\w+)", resp.get_data(as_text=True)).group(1)
    with _db(app).unit_of_work() as s:
        assert s.scalar(select(Order.leg).where(Order.item_code == result_code)) == Leg.RESULT


def test_refusal_without_reason_changes_nothing(client, app, world):
    record_id = _to_the_desk(client, app, world)
    login(client, world["officer"])
    token = csrf_from(client.get("/agency/").get_data(as_text=True))
    resp = client.post(f"/agency/records/{record_id}/items/{world['code']}/refuse",
                       data={"csrf_token": token, "reason_code": ""}, follow_redirects=True)
    assert "flash-error" in resp.get_data(as_text=True)
    assert _order(app, world["code"])[0] == OrderState.HANDED_TO_AGENCY


def test_another_agencys_officer_sees_nothing_of_it(client, app, world):
    record_id = _to_the_desk(client, app, world)
    login(client, world["other_officer"])
    assert world["code"] not in client.get("/agency/").get_data(as_text=True)
    assert client.get(f"/agency/records/{record_id}").status_code == 404
    assert client.get(f"/agency/records/{record_id}.pdf").status_code == 404


# --- manager -------------------------------------------------------------------------------------------


def test_dashboard_and_every_table_export(client, world):
    login(client, world["manager"])
    page = client.get("/manager/?from=2026-01-01&to=2026-01-31")
    assert page.status_code == 200 and "<svg" in page.get_data(as_text=True)
    for name in ("volumes", "on_time_agency", "on_time_post_office", "on_time_procedure", "at_risk", "failures"):
        got = client.get(f"/manager/export/{name}.csv?from=2026-01-01&to=2026-01-31")
        assert got.status_code == 200 and got.mimetype == "text/csv"
        xlsx = client.get(f"/manager/export/{name}.xlsx")
        assert xlsx.data[:2] == b"PK"
    rows = list(csv.reader(io.StringIO(client.get("/manager/export/volumes.csv?from=2026-01-01&to=2026-01-31")
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "Ngày" and rows[1][0] == "01/01/2026" and len(rows) == 32


def test_exports_neutralise_spreadsheet_formulas(client, app, world):
    from openpyxl import load_workbook

    with _db(app).unit_of_work() as s:
        make_user(s, Role.COURIER, post_office_code=world["office"], full_name='=HYPERLINK("http://x","bấm")')
        make_user(s, Role.COURIER, post_office_code=world["office"], full_name="@SUM(1+1)")
    login(client, world["manager"])
    text = client.get("/manager/ref/users.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in text and "'@SUM" in text
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
    wb = load_workbook(io.BytesIO(client.get("/manager/ref/users.xlsx").data))
    names = [row[1] for row in wb.active.iter_rows(min_row=2, values_only=True)]
    assert "'=HYPERLINK(\"http://x\",\"bấm\")" in names and not any(str(n).startswith("=") for n in names)


def test_manager_pages_are_closed_to_others(client, world):
    login(client, world["dispatcher"])
    assert client.get("/manager/").status_code == 403
    assert client.get("/manager/ref/agencies").status_code == 403


def test_tariff_price_edit_and_its_guard(client, app, world):
    with _db(app).unit_of_work() as s:
        rate = s.scalars(select(TariffRate).order_by(TariffRate.id)).first()
        rate_id, old = rate.id, rate.price_vnd
    login(client, world["manager"])
    token = csrf_from(client.get("/manager/ref/tariff").get_data(as_text=True))
    client.post(f"/manager/ref/tariff/{rate_id}", data={"csrf_token": token, "price_vnd": "27.000"})
    client.post(f"/manager/ref/tariff/{rate_id}", data={"csrf_token": token, "price_vnd": "-5"})
    with _db(app).unit_of_work() as s:
        assert s.get(TariffRate, rate_id).price_vnd == 27000
        s.get(TariffRate, rate_id).price_vnd = old  # reference data stays as loaded for the other tests


def test_reference_search_ignores_accents(client, world):
    login(client, world["manager"])
    page = client.get("/manager/ref/post-offices?q=ca mau").get_data(as_text=True)
    assert "Cà Mau" in page


# --- citizen -------------------------------------------------------------------------------------------


def test_result_address_needs_verification_then_is_used_for_the_result(client, world):
    code = world["code"]
    assert client.get(f"/t/{code}/result-address").status_code == 403
    page = client.get(f"/t/{code}").get_data(as_text=True)
    client.post(f"/t/{code}/verify", data={"phone_last4": "5678", "csrf_token": csrf_from(page)})
    form = client.get(f"/t/{code}/result-address")
    assert form.status_code == 200
    resp = client.post(f"/t/{code}/result-address", data={
        "csrf_token": csrf_from(form.get_data(as_text=True)), "address": "Số 12 Phan Ngọc Hiển",
        "commune_code": world["commune"]})
    assert resp.status_code == 200 and "Số 12 Phan Ngọc Hiển" in resp.get_data(as_text=True)
    bad = client.post(f"/t/{code}/result-address", data={
        "csrf_token": csrf_from(form.get_data(as_text=True)), "address": "x", "commune_code": "00000"})
    assert bad.status_code == 422


# --- language ------------------------------------------------------------------------------------------


def test_every_text_of_the_peoples_pages_has_its_english():
    from pathlib import Path

    from web.courier import UI_TEXT
    from web.i18n import EN
    from web.manager import REFERENCE

    root = Path(__file__).resolve().parents[2] / "web"
    files = [*root.glob("templates/courier/*.html"), *root.glob("templates/agency/*.html"),
             *root.glob("templates/manager/*.html"), *root.glob("templates/citizen/*.html")]
    texts = {m for f in files for m in re.findall(r"""_\(["']([^"']+)["']\)""", f.read_text())}
    texts |= set(UI_TEXT) | {"Chọn địa chỉ nhận kết quả"}  # the link added to the public tracking page
    texts |= {text for text, _table in REFERENCE.values()}
    # The dashboard's titles, headers and status words are translated when shown.
    reports = (root.parent / "tracking" / "reports.py").read_text().split('"""', 2)[2]
    texts |= set(re.findall(r'"([^"]*[À-ỹĐđ][^"]*)"', reports))
    for module in ("agency_desk", "manager", "courier", "citizen"):
        texts |= set(re.findall(r'_\("([^"]+)"\)', (root / f"{module}.py").read_text()))
    missing = sorted(t for t in texts if t not in EN)
    assert not missing, missing

