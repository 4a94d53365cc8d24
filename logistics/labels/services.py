"""Labels of orders: what goes on them, and rendering each format once.

Labels are deterministic per item, so each format is rendered once (by the ``render_label`` job right
after the order is created, or on the first request) and the bytes are served from the database after.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.labels.render import LabelData, render_pdf, render_png, render_svg
from logistics.labels.signing import LabelSigner
from logistics.orders.models import LabelRendering, Leg, Order, ServiceForm

FORMATS: Final[dict[str, str]] = {
    "pdf": "application/pdf",
    "png": "image/png",
    "svg": "image/svg+xml",
}

SERVICE_FORM_TEXT: Final[dict[ServiceForm, str]] = {
    ServiceForm.SEND_ONLY: "Gửi hồ sơ",
    ServiceForm.RECEIVE_ONLY: "Nhận kết quả",
    ServiceForm.BOTH: "Gửi hồ sơ và nhận kết quả",
}


def label_data(order: Order, signer: LabelSigner, base_url: str, tz_name: str) -> LabelData:
    """Everything printed on an order's label (sender and receiver follow the leg's direction)."""
    from zoneinfo import ZoneInfo  # noqa: PLC0415 - cheap, keeps the module's import surface small

    dossier = order.dossier
    agency = dossier.agency
    citizen_address = f"{dossier.address_text}, {dossier.admin_unit.full_name}"
    if order.leg == Leg.PICKUP:
        sender = (dossier.applicant_name, dossier.applicant_phone, citizen_address)
        recipient = (agency.name, agency.address)
    else:
        sender = (agency.name, agency.phone or "", agency.address)
        recipient = (dossier.applicant_name, citizen_address)
    return LabelData(
        item_code=order.item_code,
        qr_url=signer.tracking_url(base_url, order.item_code),
        sender_name=sender[0],
        sender_phone=sender[1],
        sender_address=sender[2],
        recipient_name=recipient[0],
        recipient_address=recipient[1],
        procedure_name=dossier.procedure.name,
        service_form=SERVICE_FORM_TEXT[dossier.service_form],
        created_on=order.created_at.astimezone(ZoneInfo(tz_name)).date(),
        envelopes=dossier.envelopes,
        dossier_code=dossier.dossier_code,
        post_office_name=order.post_office.name if order.post_office else None,
    )


def _renderer(fmt: str) -> Callable[[LabelData], bytes]:
    if fmt == "pdf":
        return render_pdf
    if fmt == "png":
        return render_png
    if fmt == "svg":
        return lambda data: render_svg(data).encode()
    raise ValueError(f"unknown label format {fmt!r}; formats are {', '.join(FORMATS)}")


def get_label(session: Session, order: Order, fmt: str, *, signer: LabelSigner, base_url: str,
              tz_name: str) -> bytes:
    """The label of ``order`` in ``fmt``, rendered now if it was not yet (and kept)."""
    render = _renderer(fmt)
    cached = session.scalar(
        select(LabelRendering.content).where(LabelRendering.order_id == order.id, LabelRendering.fmt == fmt)
    )
    if cached is not None:
        return cached
    content = render(label_data(order, signer, base_url, tz_name))
    # Two requests may render the same label at once; the merge keeps one row and both get equal bytes.
    session.merge(LabelRendering(order_id=order.id, fmt=fmt, content=content))
    session.flush()
    return content
