"""The manager's pages: the dashboard with charts, CSV/XLSX export of every table, reference data screens.

The dashboard: volumes, on-time rates, items at risk, failed attempts. The reference screens (agencies,
procedures, post offices, tariff, users) allow the few edits that are safe to make from a browser.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from logistics.accounts.models import Role, User
from logistics.agencies.models import Agency, PostOffice, Procedure
from logistics.fees.models import FeeReduction, TariffRate, TariffSurcharge
from logistics.text import collation_key, fold_words
from tracking.reports import Dashboard, Table, dashboard
from web.auth import ROLE_TEXT, current_user, register_staff_link, roles_required
from web.charts import bar_chart, column_chart
from web.context import db_session, services
from web.exports import table_response
from web.i18n import gettext as _

bp = Blueprint("manager", __name__, url_prefix="/manager")

MANAGERS: Final = (Role.MANAGER, Role.ADMIN)
DEFAULT_DAYS: Final = 14
MAX_DAYS: Final = 366
FORMATS: Final = ("csv", "xlsx")
TARGET_ON_TIME: Final = 99.0  # the seed article's headline: "over 99% on time"


def _today() -> date:
    return datetime.now(ZoneInfo(services().settings.timezone)).date()


def _period() -> tuple[date, date]:
    """``from``/``to`` (yyyy-mm-dd from the date inputs), defaulting to the last two weeks, at most a year."""
    today = _today()
    try:
        end = date.fromisoformat(request.args.get("to", "")) if request.args.get("to") else today
        start = date.fromisoformat(request.args["from"]) if request.args.get("from") else end - timedelta(
            days=DEFAULT_DAYS - 1)
    except ValueError:
        abort(400, description=_("Ngày không hợp lệ."))
    if start > end:
        start, end = end, start
    return max(start, end - timedelta(days=MAX_DAYS - 1)), end


def _dashboard() -> Dashboard:
    start, end = _period()
    return dashboard(db_session(), start=start, end=end, tz_name=services().settings.timezone, today=_today())


def _translated(table: Table) -> Table:
    """The table with its title and header in the request's language (cells are data, left as they are)."""
    rows = [[_(c) if isinstance(c, str) and c in _CELL_TEXTS else c for c in row] for row in table.rows]
    return Table(table.name, _(table.title), [_(h) for h in table.header], rows)


# Cell values that are vocabulary (leg and state names, risk status), not data: translated in the views.
_CELL_TEXTS: Final = frozenset({
    "Chiều gửi hồ sơ", "Chiều trả kết quả", "Quá hạn", "Sắp đến hạn", "Đã nhận hồ sơ", "Tại bưu cục",
    "Đang chuyển phát",
})


@bp.get("/")
@roles_required(*MANAGERS)
def home() -> str:
    """The dashboard."""
    dash = _dashboard()
    tables = {name: _translated(t) for name, t in dash.tables().items()}
    vol = dash.volumes.rows
    charts = {
        "volumes": column_chart(
            [f"{d:%d/%m}" for d, *_rest in vol],
            [(_("Đặt lịch"), [r[1] for r in vol]), (_("Phát thành công"), [r[4] for r in vol]),
             (_("Phát không thành công"), [r[5] for r in vol])],
            title=_("Sản lượng theo ngày")),
        "on_time_agency": bar_chart([(r[0], r[3]) for r in dash.on_time_agency.rows if r[3] is not None],
                                    title=_("Tỷ lệ đúng hạn theo cơ quan"), unit="%", maximum=100,
                                    bad_below=TARGET_ON_TIME),
        "failures": bar_chart([(_(r[0]), r[1]) for r in dash.failures.rows],
                              title=_("Phát không thành công theo lý do")),
    }
    rate = dash.on_time_rate
    return render_template("manager/dashboard.html", dash=dash, tables=tables, charts=charts,
                           rate=None if rate is None else round(100 * rate, 1), target=TARGET_ON_TIME,
                           args=request.args.to_dict())


@bp.get("/export/<name>.<fmt>")
@roles_required(*MANAGERS)
def export(name: str, fmt: str) -> Response:
    """One dashboard table as CSV or XLSX, for the same period as the page."""
    table = _dashboard().tables().get(name)
    if table is None or fmt not in FORMATS:
        abort(404)
    t = _translated(table)
    start, end = _period()
    return table_response(fmt, f"{name}-{start:%Y%m%d}-{end:%Y%m%d}", t.title, t.header, t.rows)


# --- reference data -----------------------------------------------------------------------------------------


def _agencies() -> Table:
    rows = db_session().scalars(select(Agency)).all()
    return Table("agencies", "Cơ quan tiếp nhận", ["Mã", "Tên", "Loại", "Địa chỉ", "Điện thoại", "Đang hoạt động"],
                 [[a.code, a.name, a.kind.value, a.address, a.phone or "", a.active, a.id]
                  for a in sorted(rows, key=lambda a: collation_key(a.name))])


def _procedures() -> Table:
    rows = db_session().scalars(select(Procedure)).all()
    return Table("procedures", "Thủ tục hành chính",
                 ["Mã", "Tên", "Lĩnh vực", "Cấp", "Qua bưu chính", "Số ngày giải quyết", "Lệ phí (đồng)",
                  "Số giấy tờ"],
                 [[p.code, p.name, p.field, p.level.value, p.by_post, p.processing_days, p.gov_fee_vnd,
                   len(p.documents), p.id]
                  for p in sorted(rows, key=lambda p: (collation_key(p.field), collation_key(p.name)))])


def _post_offices() -> Table:
    rows = db_session().scalars(select(PostOffice)).all()
    return Table("post-offices", "Bưu cục", ["Mã", "Tên", "Địa chỉ", "Điện thoại", "Đang hoạt động"],
                 [[o.code, o.name, o.address, o.phone or "", o.active, o.id]
                  for o in sorted(rows, key=lambda o: collation_key(o.name))])


def _tariff() -> Table:
    s = db_session()
    rates = s.scalars(select(TariffRate).order_by(TariffRate.zone, TariffRate.max_weight_g)).all()
    rows: list[list[Any]] = [["Cước", f"{r.zone.value} ≤ {r.max_weight_g} g", r.price_vnd, r.id] for r in rates]
    rows += [["Phụ phí", x.name, x.amount_vnd, None] for x in s.scalars(select(TariffSurcharge)).all()]
    rows += [["Miễn giảm", x.name, f"{x.percent}%", None] for x in s.scalars(select(FeeReduction)).all()]
    return Table("tariff", "Bảng cước", ["Loại", "Mục", "Giá (đồng)"], rows)


def _users() -> Table:
    rows = db_session().scalars(select(User)).all()
    return Table("users", "Người dùng", ["Tên đăng nhập", "Họ tên", "Vai trò", "Cơ quan / Bưu cục", "Đang hoạt động"],
                 [[u.username, u.full_name, ROLE_TEXT[u.role],
                   (u.agency.name if u.agency else u.post_office.name if u.post_office else ""), u.active, u.id]
                  for u in sorted(rows, key=lambda u: u.username)])


REFERENCE: Final[dict[str, tuple[str, Callable[[], Table]]]] = {  # kind -> (tab text, table)
    "agencies": ("Cơ quan", _agencies),
    "procedures": ("Thủ tục", _procedures),
    "post-offices": ("Bưu cục", _post_offices),
    "tariff": ("Bảng cước", _tariff),
    "users": ("Người dùng", _users),
}


def _reference(kind: str) -> Table:
    entry = REFERENCE.get(kind)
    if entry is None:
        abort(404)
    return entry[1]()


@bp.get("/ref/")
@roles_required(*MANAGERS)
def reference_home() -> BaseResponse:
    """The first reference screen."""
    return redirect(url_for("manager.reference", kind="agencies"))


@bp.get("/ref/<kind>")
@roles_required(*MANAGERS)
def reference(kind: str) -> str:
    """A reference data screen; ``q`` filters rows (accents and case ignored)."""
    table = _reference(kind)
    q = fold_words(request.args.get("q", "").strip())
    rows = [r for r in table.rows if not q or any(q in fold_words(str(c)) for c in r[:4])]
    return render_template("manager/reference.html", kind=kind, table=table, rows=rows, tabs=REFERENCE,
                           q=request.args.get("q", ""), user=current_user())


@bp.get("/ref/<kind>.<fmt>")
@roles_required(*MANAGERS)
def reference_export(kind: str, fmt: str) -> Response:
    """A reference table as CSV or XLSX (the row ids are left out)."""
    if fmt not in FORMATS:
        abort(404)
    table = _reference(kind)
    rows = [r[: len(table.header)] for r in table.rows]
    return table_response(fmt, kind, _(table.title), [_(h) for h in table.header], rows)


def _back(kind: str, message: str) -> BaseResponse:
    flash(message, "ok")
    return redirect(url_for("manager.reference", kind=kind, q=request.form.get("q") or None))


@bp.post("/ref/<kind>/<int:row_id>/active")
@roles_required(*MANAGERS)
def toggle_active(kind: str, row_id: int) -> BaseResponse:
    """Switch an agency, post office or (administrators only) a user on or off; history stays intact."""
    row: Agency | PostOffice | User | None
    if kind == "agencies":
        row = db_session().get(Agency, row_id)
    elif kind == "post-offices":
        row = db_session().get(PostOffice, row_id)
    elif kind == "users":
        user = current_user()
        if user is None or user.role != Role.ADMIN or user.id == row_id:
            abort(403)  # only administrators, and never their own account
        row = db_session().get(User, row_id)
    else:
        abort(404)
    if row is None:
        abort(404)
    row.active = not row.active
    return _back(kind, _("Đã cập nhật."))


@bp.post("/ref/tariff/<int:rate_id>")
@roles_required(*MANAGERS)
def set_rate(rate_id: int) -> BaseResponse:
    """Change a tariff price (integer VND); new bookings use it, existing orders keep the price they had."""
    rate = db_session().get(TariffRate, rate_id)
    if rate is None:
        abort(404)
    raw = request.form.get("price_vnd", "").replace(".", "").replace(",", "").strip()
    if not raw.isdigit() or not 0 <= int(raw) <= 10_000_000:  # noqa: PLR2004 - a sanity bound on one item's price
        flash(_("Giá phải là số nguyên đồng."), "error")
        return redirect(url_for("manager.reference", kind="tariff"))
    rate.price_vnd = int(raw)
    return _back("tariff", _("Đã cập nhật."))


register_staff_link("manager.home", "Bảng điều khiển", *MANAGERS)
register_staff_link("manager.reference_home", "Dữ liệu danh mục", *MANAGERS)
