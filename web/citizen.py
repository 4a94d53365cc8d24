"""Citizen pages added by the people's web app: choosing where the result is delivered.

Booking, tracking and the verification that shows personal details are the public pages (``web.public``);
this page opens only for an item the citizen verified there, in the same browser session.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, session
from sqlalchemy import select

from logistics.agencies.models import AdminUnit, Scheme, UnitLevel
from logistics.labels.errors import InvalidItemCode
from logistics.labels.s10 import normalize_item_code
from logistics.orders.errors import OrderNotFound
from logistics.orders.models import Order
from logistics.orders.services import get_order
from logistics.text import collation_key
from tracking.citizen import AddressRefused, choose_result_address, delivery_address
from web.context import db_session
from web.public import VERIFIED_KEY

bp = Blueprint("citizen", __name__)


def _verified_order(code: str) -> Order:
    try:
        normalized = normalize_item_code(code)
        order = get_order(db_session(), normalized)
    except (InvalidItemCode, OrderNotFound):
        abort(404)
    if normalized not in session.get(VERIFIED_KEY, []):
        abort(403, description="Hãy xác minh trên trang theo dõi trước. / Verify on the tracking page first.")
    return order


def _communes() -> list[AdminUnit]:
    units = db_session().scalars(
        select(AdminUnit).where(AdminUnit.scheme == Scheme.V2025, AdminUnit.level == UnitLevel.COMMUNE)
    ).all()
    return sorted(units, key=lambda u: collation_key(u.name))


@bp.route("/t/<code>/result-address", methods=["GET", "POST"])
def result_address(code: str) -> str | tuple[str, int]:
    """Choose (or change) the address where the result will be delivered."""
    order = _verified_order(code)
    dossier = order.dossier
    error = saved = None
    status = 200
    if request.method == "POST":
        try:
            choose_result_address(db_session(), dossier, address=request.form.get("address", "")[:1000],
                                  commune_code=request.form.get("commune_code", "")[:10])
            saved = True
        except AddressRefused as exc:
            error, status = str(exc), 422
    address, unit = delivery_address(db_session(), dossier)
    page = render_template("citizen/result_address.html", order=order, dossier=dossier, address=address, unit=unit,
                           communes=_communes(), error=error, saved=saved, form=request.form)
    return (page, status) if status != 200 else page  # noqa: PLR2004 - HTTP OK
