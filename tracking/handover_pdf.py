"""The printable hand-over record (Biên bản giao nhận hồ sơ), A4, with both parties' names and times."""

from __future__ import annotations

import functools
import io
from datetime import datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy.orm import Session

from logistics.agencies.models import Agency, PostOffice
from tracking.models import HandoverDecision, HandoverRecord

_FONT_DIR: Final = Path(__file__).resolve().parent.parent / "logistics" / "labels" / "fonts"
FONT: Final = "DossierPostRecord"
FONT_BOLD: Final = "DossierPostRecord-Bold"

DECISION_TEXT: Final[dict[HandoverDecision, str]] = {
    HandoverDecision.PENDING: "Chờ xác nhận",
    HandoverDecision.CONFIRMED: "Đã tiếp nhận",
    HandoverDecision.REFUSED: "Từ chối",
    HandoverDecision.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung",
}


@functools.cache
def _fonts() -> None:
    pdfmetrics.registerFont(TTFont(FONT, str(_FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(_FONT_DIR / "DejaVuSans-Bold.ttf")))


def record_number(record: HandoverRecord) -> str:
    """The record's printed number."""
    return f"BBGN-{record.id:06d}"


def render_handover_pdf(session: Session, record: HandoverRecord, tz: str = "Asia/Ho_Chi_Minh") -> bytes:
    """The record as a PDF (A4): parties, items with their decisions, signatures with names and times."""
    _fonts()
    zone = ZoneInfo(tz)

    def when(value: object) -> str:
        return value.astimezone(zone).strftime("%d/%m/%Y %H:%M") if isinstance(value, datetime) else "—"

    agency = session.get(Agency, record.agency_id)
    office = session.get(PostOffice, record.post_office_id) if record.post_office_id else None
    normal = ParagraphStyle("n", fontName=FONT, fontSize=9.5, leading=12)
    small = ParagraphStyle("s", parent=normal, fontSize=8.5, leading=10.5)
    code_style = ParagraphStyle("k", parent=normal, fontSize=8, leading=10)  # agency codes fit on one line
    title = ParagraphStyle("t", parent=normal, fontName=FONT_BOLD, fontSize=14, leading=18, alignment=1)
    centre = ParagraphStyle("c", parent=normal, alignment=1)
    bold = ParagraphStyle("b", parent=normal, fontName=FONT_BOLD)

    decided = [i.decided_at for i in record.items if i.decided_at is not None]
    story: list[object] = [
        Paragraph("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", ParagraphStyle("h", parent=bold, alignment=1)),
        Paragraph("Độc lập – Tự do – Hạnh phúc", centre),
        Spacer(1, 6 * mm),
        Paragraph("BIÊN BẢN GIAO NHẬN HỒ SƠ", title),
        Paragraph(f"Số: {record_number(record)} — lập lúc {when(record.created_at)}", centre),
        Spacer(1, 5 * mm),
        Paragraph(f"<b>Bên giao (bưu chính công ích):</b> {_esc(record.courier_name)}"
                  + (f" — {_esc(office.name)}" if office else ""), normal),
        Paragraph(f"<b>Bên nhận (bộ phận một cửa):</b> {_esc(agency.name if agency else '')}"
                  + (f" — cán bộ {_esc(record.officer_name)}" if record.officer_name else ""), normal),
        Spacer(1, 4 * mm),
    ]
    rows: list[list[object]] = [[Paragraph(h, bold) for h in
                                 ("STT", "Số hiệu bưu gửi", "Người nộp / Thủ tục", "Mã hồ sơ", "Kết quả", "Thời điểm")]]
    for n, item in enumerate(record.items, start=1):
        order = item.order
        dossier = order.dossier
        result = DECISION_TEXT[item.decision] + (f" ({_esc(item.reason_code)})" if item.reason_code else "")
        rows.append([
            Paragraph(str(n), small), Paragraph(order.item_code, code_style),
            Paragraph(f"{_esc(dossier.applicant_name)}<br/>{_esc(dossier.procedure.name)}", small),
            Paragraph(_esc(dossier.dossier_code or "—"), code_style), Paragraph(result, small),
            Paragraph(when(item.decided_at), small),
        ])
    table = Table(rows, colWidths=[9 * mm, 31 * mm, 52 * mm, 46 * mm, 26 * mm, 22 * mm], repeatRows=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    story += [table, Spacer(1, 4 * mm),
              Paragraph(f"Tổng số: {len(record.items)} bưu gửi. Thời điểm ký biên bản là thời điểm nộp hồ sơ "
                        "hợp lệ theo quy định.", normal), Spacer(1, 8 * mm)]
    signatures = Table([
        [Paragraph("BÊN GIAO", ParagraphStyle("sg", parent=bold, alignment=1)),
         Paragraph("BÊN NHẬN", ParagraphStyle("sn", parent=bold, alignment=1))],
        [Paragraph("(ký, ghi rõ họ tên)", centre), Paragraph("(ký, ghi rõ họ tên)", centre)],
        [Spacer(1, 18 * mm), Spacer(1, 18 * mm)],
        [Paragraph(_esc(record.courier_name), centre), Paragraph(_esc(record.officer_name or "—"), centre)],
        [Paragraph(when(record.created_at), centre),
         Paragraph(when(record.closed_at or (max(decided) if decided else None)), centre)],
    ], colWidths=[90 * mm, 90 * mm])
    story.append(signatures)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=12 * mm, rightMargin=12 * mm, topMargin=12 * mm,
                            bottomMargin=12 * mm, title=f"Biên bản giao nhận {record_number(record)}",
                            author="DossierPost", invariant=1)
    doc.build(story)  # type: ignore[arg-type]
    return buf.getvalue()


def _esc(text: str | None) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
