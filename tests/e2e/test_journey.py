"""The whole journey of one dossier in a real browser, through the pages people use.

Citizen books -> dispatcher assigns -> courier scans the label with the (fake) camera and collects -> the
phone goes offline, scans again (queued, "Chờ đồng bộ") -> back online, the queue syncs -> courier takes it
out and hands it over -> the agency officer confirms receipt and marks the result ready -> the courier
collects and delivers the result -> the public page shows both legs' timeline. A screenshot of each main
page lands in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from logistics.accounts.models import Role
from logistics.agencies.models import Agency, AgencyKind, PostOffice, PostOfficeArea, Procedure, ProcedureLevel
from logistics.orders.models import Leg, Order, OrderState
from tests.e2e.conftest import CHROMIUM_ARGS, LiveServer
from tests.e2e.y4m import write_y4m
from tests.factories import TEST_PASSWORD, make_user
from tracking.delivery import current_delivery_code, tracking_key
from tracking.models import EventKind, TrackingEvent

pytestmark = pytest.mark.timeout(240)

ID_LAST4 = "2468"
STEP_TIMEOUT = 20_000  # ms


@pytest.fixture(scope="module")
def scene(live_server: LiveServer) -> dict[str, Any]:
    """The people of the story, at the provincial center and the post office serving its ward."""
    with live_server.db.unit_of_work() as s:
        center = s.scalars(select(Agency).where(Agency.kind == AgencyKind.PROVINCE_CENTER)).first()
        assert center is not None
        office = s.scalar(select(PostOffice).join(PostOfficeArea, PostOfficeArea.post_office_id == PostOffice.id)
                          .where(PostOfficeArea.admin_unit_id == center.admin_unit_id).limit(1))
        assert office is not None
        procedure = next(p for p in s.scalars(
            select(Procedure).where(Procedure.by_post.is_(True), Procedure.level == ProcedureLevel.PROVINCE)
            .order_by(Procedure.code)) if p.documents)
        make_user(s, Role.DISPATCHER, username="dieuphoi", post_office_code=office.code, full_name="Lê Thị Thu Hà")
        make_user(s, Role.COURIER, username="buuta", post_office_code=office.code, full_name="Nguyễn Văn Tới")
        make_user(s, Role.AGENCY_OFFICER, username="motcua", agency_code=center.code, full_name="Huỳnh Ngọc Trâm")
        make_user(s, Role.MANAGER, username="quanly", full_name="Trần Minh Quang")
        return {"commune": center.admin_unit.code, "procedure": procedure.code, "agency": center.name,
                "office": office.name}


@pytest.fixture(scope="module")
def browser(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium whose camera is a file; the file is written by the test once the label exists."""
    from playwright.sync_api import sync_playwright

    camera = tmp_path_factory.mktemp("camera") / "label.y4m"
    with sync_playwright() as pw:
        # The fake camera reads its file when the stream starts, so the browser can launch before the label exists.
        write_y4m(_blank_png(), camera)
        b = pw.chromium.launch(executable_path=chromium_path, args=[
            *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}"])
        b.camera_file = camera
        yield b
        b.close()


def _blank_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buf, format="PNG")
    return buf.getvalue()


def _context(browser: Any, base: str, **kw: Any) -> Any:
    ctx = browser.new_context(base_url=base, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", **kw)
    ctx.set_default_timeout(STEP_TIMEOUT)
    return ctx


def _expected_console_error(message: Any) -> bool:
    """Offline, the browser reports each fetch it could not make: that is the point of the offline step."""
    return "ERR_INTERNET_DISCONNECTED" in message.text


def _login(page: Any, username: str, then: str) -> None:
    page.goto(f"/login?next={then}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(then.split("?", maxsplit=1)[0]) + r"(\?.*)?$"))


def _shot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def _states(server: LiveServer, code: str) -> list[str]:
    with server.db.unit_of_work() as s:
        order = s.scalar(select(Order).where(Order.item_code == code))
        assert order is not None
        return [str(k) for k in s.scalars(select(TrackingEvent.kind).where(TrackingEvent.order_id == order.id)
                                          .order_by(TrackingEvent.id))]


def test_a_dossier_travels_both_ways_through_the_peoples_pages(
        live_server: LiveServer, scene: dict[str, Any], browser: Any, screenshots: Path) -> None:
    errors: list[str] = []
    request_pages: list[Any] = []
    try:
        _journey(live_server, scene, browser, screenshots, errors=errors, request_pages=request_pages)
    except Exception:
        for n, pg in enumerate(request_pages):  # what each page showed when the story broke
            if not pg.is_closed():
                pg.screenshot(path=str(screenshots / f"zz-failure-{n}.png"), full_page=True)
        raise


def _journey(live_server: LiveServer, scene: dict[str, Any], browser: Any, screenshots: Path,  # noqa: PLR0915 - one story, told in order
             *, errors: list[str], request_pages: list[Any]) -> None:
    base = live_server.url

    def watch(page: Any) -> Any:
        request_pages.append(page)
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
        page.on("console", lambda m: errors.append(f"{m.location.get('url')}: {m.text}")
                if m.type == "error" and not _expected_console_error(m) else None)
        return page

    # 1. The citizen books a pickup on the public site.
    citizen = _context(browser, base, viewport={"width": 412, "height": 900})
    page = watch(citizen.new_page())
    page.goto("/")
    _shot(page, screenshots, "01-citizen-home")
    page.goto("/book")
    page.fill("#applicant_name", "Nguyễn Thị Hồng Nhung")
    page.fill("#phone", "0912 345 678")
    page.fill("#address", "Số 3 Lưu Tấn Tài, khóm 2")
    page.select_option("#commune_code", scene["commune"])
    page.select_option("#procedure_code", scene["procedure"])
    page.check("input[name=service_form][value=both]")
    _shot(page, screenshots, "02-citizen-book")
    page.click("form button[type=submit]")
    page.wait_for_selector("#item-code")
    pickup_code = page.inner_text("#item-code").strip()
    _shot(page, screenshots, "03-citizen-booked")
    label_url = page.get_attribute("a[href*='.png']", "href")
    tracking_url = page.get_attribute("a[href*='/t/']", "href")
    citizen.close()

    # The courier's camera will see this very label.
    with urllib.request.urlopen(base + label_url) as resp:  # noqa: S310 - the test's own server on 127.0.0.1
        write_y4m(resp.read(), browser.camera_file)

    # 2. The dispatcher assigns a courier.
    office = _context(browser, base, viewport={"width": 1280, "height": 900})
    page = watch(office.new_page())
    _assign_as_dispatcher(page, pickup_code, screenshots)
    office.close()
    assert _states(live_server, pickup_code)[-1] == "assigned"

    # 3. The courier scans the label through the camera and collects the dossier.
    phone = _context(browser, base, viewport={"width": 412, "height": 915}, permissions=["camera", "geolocation"],
                     geolocation={"latitude": 9.1769, "longitude": 105.1524}, service_workers="allow")
    page = watch(phone.new_page())
    _login(page, "buuta", "/courier/")
    page.wait_for_selector("#app[data-ready='1']")
    page.wait_for_selector(f"#run li[data-code='{pickup_code}']")
    _shot(page, screenshots, "05-courier-run")
    page.click("#scan-start")
    page.wait_for_selector("#item-card:not([hidden])")
    assert page.inner_text("#item-code") == pickup_code
    page.click("#actions button[data-event='collected']")
    for box in page.query_selector_all("#action-form input[name=doc]"):
        box.check()
    page.fill("#f-seal", "NP-000123")
    page.fill("#f-id4", ID_LAST4)
    _shot(page, screenshots, "06-courier-collect-form")
    page.click("#action-form button[type=submit]")
    page.wait_for_selector("#queue li[data-status='accepted']")
    page.wait_for_function("document.getElementById('item-state').textContent.length > 0 && "
                           "!document.querySelector('#actions button[data-event=\"collected\"]')")
    assert _states(live_server, pickup_code)[-1] == "collected"

    # 4. Offline: the phone scans again (camera), the event waits in IndexedDB.
    phone.set_offline(True)
    page.wait_for_selector("#net[data-state='offline']")
    page.click("#scan-start")
    page.wait_for_selector("#item-card:not([hidden]) #actions button[data-event='arrived_post_office']")
    page.click("#actions button[data-event='arrived_post_office']")
    page.click("#action-form button[type=submit]")
    page.wait_for_selector("#queue li[data-status='pending']")
    assert "Chờ đồng bộ" in page.inner_text("#queue-card")
    _shot(page, screenshots, "07-courier-offline-waiting-to-sync")
    assert _states(live_server, pickup_code)[-1] == "collected"  # nothing reached the server

    # 5. Back online: the queue replays with its idempotency key, the server accepts it.
    phone.set_offline(False)
    page.wait_for_selector("#queue li[data-status='accepted'] >> nth=1")
    assert not page.query_selector("#queue li[data-status='pending']")
    _shot(page, screenshots, "08-courier-synced")
    assert _states(live_server, pickup_code)[-1] == "arrived_post_office"

    # 6. Out to the agency (typed code this time) and the hand-over record.
    page.fill("#code-input", pickup_code)
    page.click("#code-form button[type=submit]")
    page.click("#item-card:not([hidden]) #actions button[data-event='out_for_delivery']")
    page.click("#action-form button[type=submit]")
    page.wait_for_selector("#queue li[data-status='accepted'] >> nth=2")
    page.wait_for_selector("#handover-card:not([hidden]) form.handover-group")
    page.click("#handover form.handover-group button[type=submit]")
    page.wait_for_selector("#handover-done")
    _shot(page, screenshots, "09-courier-handover")
    assert _states(live_server, pickup_code)[-1] == "handed_to_agency"

    # 7. The agency officer confirms receipt and, later, marks the result ready.
    desk = _context(browser, base, viewport={"width": 1280, "height": 900})
    officer = watch(desk.new_page())
    _login(officer, "motcua", "/agency/")
    officer.wait_for_selector(f"#records tr[data-code='{pickup_code}']")
    _shot(officer, screenshots, "10-agency-desk-handover")
    with officer.expect_response(lambda r: ".pdf" in r.url) as pdf:
        officer.evaluate("url => fetch(url)", officer.get_attribute("#records a[href$='.pdf']", "href"))
    assert pdf.value.status == 200 and pdf.value.headers["content-type"] == "application/pdf"
    officer.click(f"#records tr[data-code='{pickup_code}'] button.confirm")
    officer.wait_for_selector(".flash-ok")
    officer.wait_for_selector(f"#processing tr[data-code='{pickup_code}']")
    _shot(officer, screenshots, "11-agency-desk-processing")
    officer.click(f"#processing tr[data-code='{pickup_code}'] button.result-ready")
    officer.wait_for_selector(".flash-ok")
    result_code = re.search(r"[A-Z]{2}\d{9}VN", officer.inner_text(".flash-ok")).group(0)
    officer.wait_for_selector(f"#results li:has-text('{result_code}')")
    _shot(officer, screenshots, "12-agency-desk-result-ready")
    desk.close()

    # 7b. The citizen proves the dossier is theirs and chooses where the result goes.
    citizen = _context(browser, base, viewport={"width": 412, "height": 900})
    page_c = watch(citizen.new_page())
    page_c.goto(tracking_url)
    page_c.fill("#phone_last4", "5678")
    page_c.click("form.verify button[type=submit]")
    page_c.wait_for_selector("#personal")
    page_c.click("#result-address-link")
    page_c.fill("#address", "Số 12 Phan Ngọc Hiển, khóm 4")
    page_c.select_option("#commune_code", scene["commune"])
    page_c.click("form button[type=submit]")
    page_c.wait_for_selector("#saved")
    assert "Số 12 Phan Ngọc Hiển" in page_c.inner_text("#current-address")
    _shot(page_c, screenshots, "12b-citizen-result-address")
    citizen.close()

    # 8. The courier collects the result at the desk and delivers it (identity + the citizen's one-time code).
    with live_server.db.unit_of_work() as s:
        result = s.scalar(select(Order).where(Order.item_code == result_code))
        assert result is not None and result.leg == Leg.RESULT and result.state == OrderState.CREATED
        code = current_delivery_code(s, tracking_key(live_server.settings.secret_key), result.dossier_id)
    assert code is not None
    for event, fill in (("collected", {"#f-seal": "NP-000456"}), ("out_for_delivery", {}),
                        ("delivered", {"#f-id": ID_LAST4, "#f-otp": code})):
        page.fill("#code-input", result_code)
        page.click("#code-form button[type=submit]")
        page.click(f"#item-card:not([hidden]) #actions button[data-event='{event}']")
        for selector, value in fill.items():
            page.fill(selector, value)
        if event == "delivered":
            assert "Số 12 Phan Ngọc Hiển" in page.inner_text("#item-address")
            _shot(page, screenshots, "13-courier-delivery-form")
        before = len(page.query_selector_all("#queue li[data-status='accepted']"))
        page.click("#action-form button[type=submit]")
        page.wait_for_selector(f"#queue li[data-status='accepted'] >> nth={before}")
    assert _states(live_server, result_code)[-1] == "delivered"
    _shot(page, screenshots, "14-courier-delivered")
    phone.close()

    # 9. The public page shows the whole journey, both legs.
    public = _context(browser, base, viewport={"width": 412, "height": 900})
    page = watch(public.new_page())
    page.goto(tracking_url)
    text = page.inner_text("main")
    for words in ("Đã nhận hồ sơ từ người dân", "Đến bưu cục", "Đã bàn giao cho cơ quan", "Cơ quan xác nhận đã nhận",
                  "Có kết quả", "Đã phát thành công", result_code):
        assert words in text, words
    _shot(page, screenshots, "15-public-timeline")
    public.close()

    # 10. The manager sees it in the figures.
    mgr = _context(browser, base, viewport={"width": 1280, "height": 900})
    page = watch(mgr.new_page())
    _login(page, "quanly", "/manager/")
    assert "100.0%" in page.inner_text(".stats")
    _shot(page, screenshots, "16-manager-dashboard")
    page.goto("/manager/ref/procedures")
    _shot(page, screenshots, "17-manager-reference-procedures")
    page.goto("/manager/ref/tariff")
    _shot(page, screenshots, "18-manager-reference-tariff")
    mgr.close()

    assert all(k in _states(live_server, pickup_code) for k in (EventKind.RECEIPT_CONFIRMED, EventKind.RESULT_READY))
    assert not errors, errors


def _assign_as_dispatcher(page: Any, code: str, shots: Path) -> None:
    """The post office's dispatcher assigns the booking to the courier (the routing issue's dispatch page)."""
    _login(page, "dieuphoi", "/dispatch/assign")
    row = page.locator("tr", has_text=code)
    row.locator("select[name=courier_id]").select_option(label="Nguyễn Văn Tới")
    _shot(page, shots, "04-dispatcher-assign")
    row.locator("button[type=submit]").click()
    page.wait_for_load_state()
