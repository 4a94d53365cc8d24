"""Label jobs: pre-render an order's labels off the request path."""

from __future__ import annotations

from sqlalchemy.orm import Session

from config.settings import Settings
from logistics.labels.services import FORMATS, get_label
from logistics.labels.signing import LabelSigner
from logistics.orders.models import Order


def render_label(session: Session, settings: Settings, order_id: int) -> None:
    """Render every format of an order's label; idempotent (already-rendered formats are kept)."""
    order = session.get(Order, order_id)
    if order is None:  # deleted since: nothing to do
        return
    signer = LabelSigner(settings.label_keys)
    for fmt in FORMATS:
        get_label(session, order, fmt, signer=signer, base_url=settings.public_base_url,
                  tz_name=settings.timezone)
