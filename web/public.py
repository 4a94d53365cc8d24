"""Pages for citizens: home, booking a pickup, public tracking, labels."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, session, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from config.ratelimit import Limit
from logistics.agencies.models import AdminUnit, Procedure, Scheme, UnitLevel
from logistics.labels.errors import InvalidItemCode
from logistics.labels.s10 import normalize_item_code
from logistics.labels.services import FORMATS, get_label
from logistics.orders.errors import OrderNotFound, RoutingError, ValidationError
from logistics.orders.models import Channel
from logistics.orders.services import get_order
from logistics.routing.services import RoutingPolicy
from logistics.text import collation_key
from tracking.demo import showcase_order
from tracking.public import personal_details, phone_matches, public_tracking, verified_order
from tracking.services import book_pickup
from web.context import db_session, services
from web.i18n import gettext as _
from web.limits import client_key, hit, too_many_requests

bp = Blueprint("public", __name__)


@bp.get("/")
def home() -> str:
    """Search box, booking link, and (in demo mode) an example shipment."""
    example = None
    if services().settings.demo:
        order = showcase_order(db_session())  # a dossier with both legs' stories on its public page
        if order is not None:
            example = services().signer.tracking_url("", order.item_code)
    return render_template("home.html", example=example)


@bp.get("/track")
def track_search() -> BaseResponse | tuple[str, int]:
    """The home page's search box: normalise what was typed and go to the item's page."""
    raw = request.args.get("code", "")
    try:
        code = normalize_item_code(raw)
    except InvalidItemCode as exc:
        return render_template("error.html", title=_("Mã bưu gửi không hợp lệ"), detail=str(exc),
                               status=400), 400
    return redirect(url_for("public.track", code=code))


# Typed lookups by item code, per client address: S10 serials are sequential, so without a limit a script
# could walk them. Signed QR URLs cannot be guessed and are not counted.
TRACK_LOOKUPS = Limit("track-lookup", 30, 600)
# Proving the dossier is yours (last 4 phone digits): per item (10,000 possibilities) and per address.
VERIFY_PER_ITEM = Limit("track-verify-item", 5, 3600)
VERIFY_PER_CLIENT = Limit("track-verify-client", 20, 3600)
VERIFIED_KEY = "verified_items"
MAX_VERIFIED = 20


def _track_page(normalized: str, sig: str | None, *, verify_error: str | None = None,
                status: int = 200) -> str | tuple[str, int]:
    try:
        view = public_tracking(db_session(), normalized)
    except OrderNotFound:
        return render_template(
            "error.html", title=_("Không tìm thấy bưu gửi"),
            detail=_("Mã hợp lệ nhưng chưa có bưu gửi nào mang mã này. "
                     "Vui lòng kiểm tra lại mã trên nhãn hoặc biên nhận."),
            status=404,
        ), 404
    verified = normalized in session.get(VERIFIED_KEY, [])
    details = personal_details(db_session(), verified_order(db_session(), normalized)) if verified else None
    page = render_template("track.html", view=view, verified_label=sig is not None,
                           details=details, verify_error=verify_error, sig=sig)
    return (page, status) if status != 200 else page  # noqa: PLR2004 - HTTP OK


@bp.get("/t/<code>")
def track(code: str) -> str | Response | tuple[str, int]:
    """The public tracking page; the QR code on the label opens it with a signature ``s``."""
    try:
        normalized = normalize_item_code(code)
    except InvalidItemCode as exc:
        return render_template("error.html", title=_("Mã bưu gửi không hợp lệ"), detail=str(exc),
                               status=400), 400
    sig = request.args.get("s")
    if sig is None:
        decision = hit(TRACK_LOOKUPS, client_key())  # before the request's session: see web.limits
        if not decision.allowed:
            return too_many_requests(decision)
    elif not services().signer.verify(normalized, sig):
        return render_template(
            "error.html", title=_("Nhãn không hợp lệ"),
            detail=_("Chữ ký trên mã QR không khớp: nhãn có thể bị làm giả hoặc in sai. "
                     "Hãy nhập mã bưu gửi bằng tay hoặc liên hệ bưu cục."),
            status=403,
        ), 403
    return _track_page(normalized, sig)


@bp.post("/t/<code>/verify")
def track_verify(code: str) -> str | Response | BaseResponse | tuple[str, int]:
    """The citizen proves the dossier is theirs (last 4 digits of the phone) to see the personal details."""
    try:
        normalized = normalize_item_code(code)
    except InvalidItemCode:
        abort(404)
    for limit, key in ((VERIFY_PER_ITEM, normalized), (VERIFY_PER_CLIENT, client_key())):
        decision = hit(limit, key)
        if not decision.allowed:
            return too_many_requests(decision)
    sig = request.form.get("s") or None
    if sig is not None and not services().signer.verify(normalized, sig):
        sig = None
    try:
        order = get_order(db_session(), normalized)
    except OrderNotFound:
        abort(404)
    if not phone_matches(order, request.form.get("phone_last4", "")):
        return _track_page(normalized, sig, status=403,
                           verify_error=_("Số điện thoại không khớp. Số lần thử có giới hạn."))
    verified = [c for c in session.get(VERIFIED_KEY, []) if c != normalized]
    session[VERIFIED_KEY] = [*verified, normalized][-MAX_VERIFIED:]
    return redirect(url_for("public.track", code=normalized, s=sig))


@bp.get("/labels/<code>.<fmt>")
def label(code: str, fmt: str) -> Response:
    """A label as PDF/PNG/SVG. The label's own signature is the key: whoever holds the label may print it."""
    if fmt not in FORMATS:
        abort(404)
    try:
        normalized = normalize_item_code(code)
    except InvalidItemCode:
        abort(404)
    if not services().signer.verify(normalized, request.args.get("s", "")):
        abort(403)
    try:
        order = get_order(db_session(), normalized)
    except OrderNotFound:
        abort(404)
    svc = services()
    content = get_label(db_session(), order, fmt, signer=svc.signer, base_url=svc.settings.public_base_url,
                        tz_name=svc.settings.timezone)
    resp = Response(content, mimetype=FORMATS[fmt])
    resp.headers["Content-Disposition"] = f'inline; filename="{normalized}.{fmt}"'
    resp.headers["Cache-Control"] = "private, max-age=86400"
    return resp


def _form_choices() -> dict[str, Any]:
    s = db_session()
    communes = s.scalars(
        select(AdminUnit).where(AdminUnit.scheme == Scheme.V2025, AdminUnit.level == UnitLevel.COMMUNE)
    ).all()
    procedures = s.scalars(select(Procedure).where(Procedure.by_post.is_(True))).all()
    fields: dict[str, list[Procedure]] = {}
    for p in sorted(procedures, key=lambda p: collation_key(p.name)):
        fields.setdefault(p.field, []).append(p)
    return {
        "communes": sorted(communes, key=lambda u: collation_key(u.name)),
        "procedure_fields": sorted(fields.items(), key=lambda kv: collation_key(kv[0])),
    }


@bp.route("/book", methods=["GET", "POST"])
def book() -> str | BaseResponse | tuple[str, int]:
    """The citizen's booking form; the same validation as the API, every field's error shown."""
    if request.method == "GET":
        return render_template("book.html", form={}, errors={}, **_form_choices())
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    svc = services()
    try:
        order, _created = book_pickup(db_session(), form, indicator=svc.settings.s10_service_indicator,
                                      policy=RoutingPolicy.from_settings(svc.settings),
                                      channel=Channel.WEB)
    except ValidationError as exc:
        return render_template("book.html", form=form, errors=exc.errors,
                               form_error=_("Vui lòng sửa các lỗi bên dưới."), **_form_choices()), 422
    except RoutingError as exc:
        return render_template("book.html", form=form, errors={}, form_error=str(exc), **_form_choices()), 422
    sig = svc.signer.sign(order.item_code)
    return redirect(url_for("public.booked", code=order.item_code, s=sig))


@bp.get("/booked/<code>")
def booked(code: str) -> str:
    """Confirmation after booking: the item code, label links, tracking link."""
    try:
        normalized = normalize_item_code(code)
    except InvalidItemCode:
        abort(404)
    sig = request.args.get("s", "")
    if not services().signer.verify(normalized, sig):
        abort(403)
    try:
        order = get_order(db_session(), normalized)
    except OrderNotFound:
        abort(404)
    return render_template("booked.html", order=order, sig=sig)
