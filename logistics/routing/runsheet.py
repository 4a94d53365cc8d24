"""The printable run sheet (A4 PDF): a courier's stops in order, with what to do, where, and a signature box."""

from __future__ import annotations

import functools
import io
from datetime import date
from pathlib import Path
from typing import Any, Final

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from logistics.routing.runs import ACTION_TEXT

FONT: Final = "RunSheetSans"
FONT_BOLD: Final = "RunSheetSans-Bold"
_FONT_DIR: Final = Path(__file__).resolve().parent.parent / "labels" / "fonts"


@functools.cache
def _fonts() -> None:
    pdfmetrics.registerFont(TTFont(FONT, str(_FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(_FONT_DIR / "DejaVuSans-Bold.ttf")))


def _fit(text: str, font: str, size: float, width: float) -> str:
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def render_run_sheet(*, courier_name: str, office_name: str, run_date: date, stops: list[dict[str, Any]],
                     total_m: float, baseline_m: float) -> bytes:
    """The run sheet PDF (deterministic for the same input)."""
    _fonts()
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, invariant=True)
    canvas.setTitle(f"Lộ trình {courier_name} {run_date:%d/%m/%Y}")
    width, height = A4
    left, right = 15 * mm, width - 15 * mm
    row_h = 17 * mm

    def header(page: int) -> float:
        y = height - 18 * mm
        canvas.setFont(FONT_BOLD, 14)
        canvas.drawString(left, y, "PHIẾU LỘ TRÌNH BƯU TÁ / COURIER RUN SHEET")
        canvas.setFont(FONT, 10)
        y -= 7 * mm
        canvas.drawString(left, y, f"Bưu tá: {courier_name}    Bưu cục: {office_name}")
        y -= 5 * mm
        canvas.drawString(left, y, f"Ngày: {run_date:%d/%m/%Y}    Số điểm dừng: {len(stops)}    "
                                   f"Quãng đường: {total_m / 1000:.1f} km "
                                   f"(theo thứ tạo đơn: {baseline_m / 1000:.1f} km)")
        canvas.drawRightString(right, height - 18 * mm, f"Trang {page}")
        y -= 4 * mm
        canvas.line(left, y, right, y)
        return y - 6 * mm

    page = 1
    y = header(page)
    for n, stop in enumerate(stops, start=1):
        if y < 25 * mm:
            canvas.showPage()
            page += 1
            y = header(page)
        canvas.setFont(FONT_BOLD, 11)
        canvas.drawString(left, y, f"{n}.")
        canvas.drawString(left + 9 * mm, y, stop["item_code"])
        canvas.setFont(FONT, 10)
        canvas.drawString(left + 48 * mm, y, _fit(ACTION_TEXT.get(stop["action"], stop["action"]), FONT, 10, 80 * mm))
        canvas.rect(right - 38 * mm, y - 11 * mm, 38 * mm, 14 * mm)
        canvas.setFont(FONT, 7)
        canvas.drawString(right - 37 * mm, y + 0.5 * mm, "Ký nhận / giờ")
        canvas.setFont(FONT, 9.5)
        canvas.drawString(left + 9 * mm, y - 5 * mm, _fit(stop["label"], FONT, 9.5, right - left - 50 * mm))
        canvas.drawString(left + 9 * mm, y - 10 * mm, _fit(stop["address"], FONT, 9.5, right - left - 50 * mm))
        y -= row_h
    canvas.setFont(FONT, 8)
    canvas.drawString(left, 12 * mm, "Thứ tự do hệ thống lập (láng giềng gần nhất + 2-opt, khoảng cách trắc địa).")
    canvas.showPage()
    canvas.save()
    return buf.getvalue()
