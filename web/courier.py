"""The courier's installable web app (PWA): today's run, camera or typed scans, an offline queue.

The HTML shell, the service worker and the manifest live under ``/courier/`` (the worker's scope); the app's
JSON reads are ``/courier/api/...`` (the logged-in courier's session); scans go to ``POST /api/v1/scans``
(tracking core), one by one or as the replay of the offline queue, each with its idempotency key.
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from PIL import Image, ImageDraw

from logistics.accounts.models import Role, Staff
from logistics.labels.errors import InvalidItemCode
from logistics.labels.signing import parse_tracking_url
from logistics.orders.errors import OrderNotFound
from logistics.orders.services import get_order
from tracking.courier_view import (
    ACTION_TEXT,
    COURIER_EVENTS,
    FAILURE_REASONS,
    courier_assignments,
    courier_item,
    may_handle,
)
from web.auth import current_account, current_user, register_staff_link, roles_required
from web.context import db_session, services
from web.errors import problem
from web.i18n import gettext as _

bp = Blueprint("courier", __name__, url_prefix="/courier")

STATIC: Final[Path] = Path(__file__).resolve().parent / "static" / "courier"

# qr-scanner decodes in a Web Worker it starts from a blob: URL; the camera stream plays from a blob too.
COURIER_CSP: Final[str] = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; "
    "script-src 'self'; worker-src 'self' blob:; connect-src 'self'; manifest-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)

# Every text the app's script shows, translated on the server (the script itself holds no language).
UI_TEXT: Final[tuple[str, ...]] = (
    "Trực tuyến", "Ngoại tuyến", "Chờ đồng bộ", "Đã ghi nhận", "Bị từ chối", "Đang đồng bộ…",
    "Không đọc được camera", "Quét mã QR", "Dừng quét", "Không tìm thấy bưu gửi", "Không có quyền với bưu gửi này",
    "Cần đăng nhập lại", "Chưa có dữ liệu ngoại tuyến cho mã này; thao tác sẽ được kiểm tra khi có mạng.",
    "Số niêm phong", "Kiểm tra giấy tờ tùy thân", "4 số cuối CCCD/hộ chiếu", "Người nhận thay (có giấy ủy quyền)",
    "Họ tên người nhận thay", "Mã OTP người dân nhận được", "Lý do", "Xác nhận", "Hủy",
    "Đánh dấu đủ các giấy tờ bắt buộc", "Thiếu thông tin bắt buộc", "Không có thao tác nào ở trạng thái này",
    "Trạng thái", "Lỗi máy chủ, sẽ thử lại", "bản", "Giấy ủy quyền (số, ngày)",
    "Lập biên bản giao nhận", "Đã lập biên bản số", "Cần có mạng để lập biên bản", "Không lập được biên bản",
)


def _ui_text() -> dict[str, str]:
    texts = {t: _(t) for t in UI_TEXT}
    texts.update({ev.value: _(ACTION_TEXT[ev]) for ev in COURIER_EVENTS})
    texts.update({code: _(text) for code, text in FAILURE_REASONS})
    return texts


def _with_csp(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = COURIER_CSP
    return resp


@bp.get("/")
@roles_required(Role.COURIER)
def app_shell() -> Response:
    """The app's single page; the script fills it from the JSON endpoints and the offline cache."""
    html = render_template("courier/app.html", user=current_account(), ui=_ui_text())
    return _with_csp(Response(html, mimetype="text/html"))


@bp.get("/sw.js")
def service_worker() -> Response:
    """The service worker, served from the app's folder so that its scope is ``/courier/``."""
    resp = Response((STATIC / "sw.js").read_bytes(), mimetype="text/javascript")
    resp.headers["Service-Worker-Allowed"] = "/courier/"
    resp.headers["Cache-Control"] = "no-cache"  # browsers check for a new worker on each visit
    return _with_csp(resp)


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    """The web app manifest: installable, opens standalone on the run list."""
    body = {
        "name": "DossierPost – Bưu tá",
        "short_name": "Bưu tá",
        "lang": "vi",
        "start_url": url_for("courier.app_shell"),
        "scope": url_for("courier.app_shell"),
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f4f6fa",
        "theme_color": "#0b4ea2",
        "icons": [
            {"src": url_for("courier.icon", size=size), "sizes": f"{size}x{size}", "type": "image/png",
             "purpose": "any maskable"}
            for size in (192, 512)
        ],
    }
    resp = Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@lru_cache(maxsize=4)
def _icon_png(size: int) -> bytes:
    """The app icon (a yellow envelope on the post's blue), drawn rather than stored."""
    img = Image.new("RGB", (size, size), (11, 78, 162))
    draw = ImageDraw.Draw(img)
    m = size // 5
    box = (m, int(size * 0.3), size - m, int(size * 0.72))
    draw.rectangle(box, fill=(255, 194, 14))
    width = max(2, size // 40)
    draw.line((box[0], box[1], size // 2, int(size * 0.53), box[2], box[1]), fill=(11, 78, 162), width=width)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@bp.get("/icon-<int:size>.png")
def icon(size: int) -> Response:
    """The app icon in the two sizes the manifest lists."""
    if size not in (192, 512):
        return problem(404, "Not Found")
    resp = Response(_icon_png(size), mimetype="image/png")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


def favicon() -> Response:
    """The site icon (the courier app's, small)."""
    resp = Response(_icon_png(192), mimetype="image/png")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


def _courier() -> Staff:
    user = current_user()
    assert user is not None  # noqa: S101 - roles_required guarantees it
    return user


@bp.get("/api/assignments")
@roles_required(Role.COURIER)
def assignments() -> Response:
    """Today's assignments in run order, each with its allowed events and their requirements."""
    items = courier_assignments(db_session(), _courier(), tz_name=services().settings.timezone)
    return jsonify({"items": [_item_json(i.as_json()) for i in items]})


@bp.get("/api/item")
@roles_required(Role.COURIER)
def item() -> Response:
    """Resolve what was scanned (a label's QR URL or a typed code) to the item and its allowed events.

    A QR whose signature does not verify is refused (a forged or misprinted label); a typed code has none.
    """
    raw = request.args.get("q", "")[:300]
    try:
        code, sig = parse_tracking_url(raw)
    except InvalidItemCode as exc:
        return problem(400, _("Mã bưu gửi không hợp lệ"), str(exc))
    if sig is not None and not services().signer.verify(code, sig):
        return problem(403, _("Nhãn không hợp lệ"),
                       _("Chữ ký trên mã QR không khớp: nhãn có thể bị làm giả hoặc in sai. "
                         "Hãy nhập mã bưu gửi bằng tay hoặc liên hệ bưu cục."))
    try:
        order = get_order(db_session(), code)
    except OrderNotFound:
        return problem(404, _("Không tìm thấy bưu gửi"))
    if not may_handle(_courier(), order):
        return problem(403, _("Không có quyền với bưu gửi này"))
    return jsonify(_item_json(courier_item(db_session(), order).as_json()))


def _translate_actions(actions: list[dict[str, Any]]) -> None:
    for action in actions:
        action["text"] = _(action["text"])
        action["next_state_text"] = _(action["next_state_text"])
        reqs = action["requirements"]
        for line in reqs["checklist"]:
            line["form_text"] = _(line["form_text"])
        reqs["failure_reasons"] = [[c, _(t)] for c, t in reqs["failure_reasons"]]


def _item_json(data: dict[str, Any]) -> dict[str, Any]:
    """An item's JSON with its texts in the request's language."""
    for key in ("leg_text", "state_text"):
        data[key] = _(data[key])
    _translate_actions(data["actions"])
    for actions in data["plan"].values():
        _translate_actions(actions)
    return data


register_staff_link("courier.app_shell", "Ứng dụng bưu tá", Role.COURIER)
