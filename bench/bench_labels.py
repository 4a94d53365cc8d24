"""Label rendering beside its ceiling, the bare QR code: labels/s for PDF and PNG, and a 1,000-label A4 sheet.

Run from the repository root: ``python bench/bench_labels.py [--quick] [--n N] [--sheet N]``.

The ceiling is what the QR code alone costs with the same libraries: qrcode encodes the label's URL (level
Q, as on the label), then

* PDF: reportlab paints just that symbol (one path of module runs, the label's 46 mm box) on a one-page
  100 x 150 mm document with the label's canvas options;
* PNG: qrcode's own image of just the symbol (PIL, 8 px modules: the label's module size at 203 dpi),
  saved as PNG. For reference, the QR-only page through the label's raster path (the label's pixel
  painter at 203 dpi and its PNG writer) is printed too;
* SVG (no target): qrcode's SVG path image of the symbol;
* sheet: the same symbols, bare, four to an A4 page.

Label and ceiling run alternately, call by call (side by side in one run, so background load on the machine
hits both alike), over distinct item codes, after a warm-up; figures are medians per call. Ratio = label
rate / ceiling rate; the targets (issue #8): ratio >= 0.70 for PDF and PNG, the 1,000-label sheet < 30 s.
The last line is ``BENCH_JSON {...}`` for bench/summary.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import qrcode
import qrcode.constants
import qrcode.image.svg
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from logistics.labels.render import (
    LABEL_HEIGHT_MM,
    LABEL_WIDTH_MM,
    QR_BOX_MM,
    QR_QUIET_MODULES,
    LabelData,
    render_pdf,
    render_pdf_sheet,
    render_png,
    render_svg,
)
from logistics.labels.s10 import make_item_code
from logistics.labels.signing import LabelSigner

if TYPE_CHECKING:
    from collections.abc import Callable

SIGNER = LabelSigner([b"bench-label-key-0123456789abcdef"])
BASE_URL = "https://dvc.buudien.vn"
TARGET_RATIO = 0.70
TARGET_SHEET_S = 30.0


def label(i: int) -> LabelData:
    code = make_item_code("RA", 10_000_000 + i)
    return LabelData(
        item_code=code,
        qr_url=SIGNER.tracking_url(BASE_URL, code),
        sender_name="Nguyễn Thị Hồng Nhung",
        sender_phone="0912 345 678",
        sender_address=f"Số {i % 300 + 1} đường Nguyễn Tất Thành, khóm 3, Phường Tân Thành, tỉnh Cà Mau",
        recipient_name="Trung tâm Phục vụ hành chính công tỉnh Cà Mau",
        recipient_address="Số 2 đường Hùng Vương, Phường An Xuyên, tỉnh Cà Mau",
        procedure_name="Cấp đổi giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở và tài sản khác",
        service_form="Gửi hồ sơ và nhận kết quả",
        created_on=dt.date(2024, 1, 15),
        envelopes=1 + i % 3,
        dossier_code=f"000.00.01.H29-240115-{i % 10_000:04d}",
        post_office_name="Bưu cục Trung tâm Cà Mau",
    )


# --- the ceiling: the bare QR code with the same libraries ----------------------------------------------------


def bare_qr(url: str, **options: Any) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, **options)
    qr.add_data(url)
    qr.make(fit=True)
    return qr


def paint_bare_qr(canvas: Canvas, url: str, x: float, top: float, box: float) -> None:
    """The symbol as one path of dark runs, in a ``box`` (points) whose top-left corner is (x, top)."""
    matrix = bare_qr(url, border=0).get_matrix()
    n = len(matrix)
    module = box / (n + 2 * QR_QUIET_MODULES)
    path = canvas.beginPath()
    for r, row in enumerate(matrix):
        c = 0
        while c < n:
            if not row[c]:
                c += 1
                continue
            start = c
            while c < n and row[c]:
                c += 1
            path.rect(x + (QR_QUIET_MODULES + start) * module, top - (QR_QUIET_MODULES + r + 1) * module,
                      (c - start) * module, module)
    canvas.drawPath(path, stroke=0, fill=1)


def bare_qr_pdf(url: str) -> bytes:
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=(LABEL_WIDTH_MM * mm, LABEL_HEIGHT_MM * mm), invariant=1, pageCompression=1)
    paint_bare_qr(canvas, url, 0, (LABEL_HEIGHT_MM - 12) * mm, QR_BOX_MM * mm)
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


def bare_qr_png(url: str) -> bytes:
    out = io.BytesIO()
    bare_qr(url, box_size=8, border=QR_QUIET_MODULES).make_image().save(out)  # qrcode's PIL image, PNG
    return out.getvalue()


def bare_qr_page_png(url: str) -> bytes:
    """The QR-only page through the label's own raster path (its pixel painter and PNG writer), for reference."""
    from PIL import Image  # noqa: PLC0415

    from logistics.labels.render import (  # noqa: PLC0415 - the label's own painter and writer, for reference
        Layout,
        _encode_png_grey,
        _paint_raster,
        _qr_fill,
        _raster_size,
    )

    layout = Layout(LABEL_WIDTH_MM, LABEL_HEIGHT_MM, (_qr_fill(url, 0, 12, QR_BOX_MM),), "QR")
    width, height = _raster_size(layout, 203)
    image = Image.new("L", (width + 1, height), 255)  # with the writer's spare column, as render_png
    _paint_raster(image, layout, 203)
    return _encode_png_grey(image, 203)


def bare_qr_svg(url: str) -> bytes:
    return bare_qr(url, border=QR_QUIET_MODULES, image_factory=qrcode.image.svg.SvgPathImage).make_image().to_string()


def bare_qr_sheet(urls: list[str]) -> bytes:
    """The symbols alone, four to an A4 page, in the label sheet's cells."""
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, invariant=1, pageCompression=1)
    for index, url in enumerate(urls):
        slot = index % 4
        if index and slot == 0:
            canvas.showPage()
        x, top = (10 + slot % 2 * 96) * mm, A4[1] - (10 + slot // 2 * 142) * mm
        paint_bare_qr(canvas, url, x, top, QR_BOX_MM * 0.93 * mm)
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


# --- measuring ---------------------------------------------------------------------------------------------------


def side_by_side(fns: dict[str, Callable[[int], object]], n: int) -> dict[str, float]:
    """Median ms per call of each function over inputs 0..n-1, interleaved call by call (order rotating), so
    that a burst of load from elsewhere on the machine hits the label and its ceiling alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for i in range(n):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            fns[name](i)
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def row(path: str, figure: float, unit: str, *, ceiling: float | None, ceiling_path: str, ratio: float | None,
        target: str | None, met: bool | None) -> dict[str, Any]:
    return {"path": path, "figure": round(figure, 2), "unit": unit,
            "ceiling": None if ceiling is None else round(ceiling, 2), "ceiling_path": ceiling_path,
            "ratio": None if ratio is None else round(ratio, 3), "target": target, "met": met}


def rate_row(path: str, label_ms: float, ceiling_ms: float, ceiling_path: str, *, target: bool) -> dict[str, Any]:
    ratio = ceiling_ms / label_ms  # = label rate / ceiling rate
    return row(path, 1000 / label_ms, "labels/s", ceiling=1000 / ceiling_ms, ceiling_path=ceiling_path, ratio=ratio,
               target=f">= {TARGET_RATIO:.2f}" if target else None, met=(ratio >= TARGET_RATIO) if target else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--n", type=int, help="calls per single-label measurement (default 160, quick 24)")
    parser.add_argument("--sheet", type=int, help="labels in the A4 batch (default 1000, quick 100)")
    args = parser.parse_args()
    n = args.n or (24 if args.quick else 160)
    sheet_n = args.sheet or (100 if args.quick else 1000)

    start = time.perf_counter()
    first = render_pdf(label(999_999))
    cold_ms = (time.perf_counter() - start) * 1000
    labels = [label(i) for i in range(max(n, sheet_n))]
    urls = [d.qr_url for d in labels]
    for i in range(3):  # warm-up: fonts registered, PIL loaded, caches filled
        render_png(label(999_990 + i))
        bare_qr_page_png(urls[i])
        bare_qr_png(urls[i])
        render_svg(labels[i])
        bare_qr_svg(urls[i])

    pdf = side_by_side({"label": lambda i: render_pdf(labels[i]), "ceiling": lambda i: bare_qr_pdf(urls[i])},
                       n)
    png = side_by_side({"label": lambda i: render_png(labels[i]), "ceiling": lambda i: bare_qr_png(urls[i]),
                        "page": lambda i: bare_qr_page_png(urls[i])}, n)
    svg = side_by_side({"label": lambda i: render_svg(labels[i]), "ceiling": lambda i: bare_qr_svg(urls[i])}, n)
    start = time.perf_counter()
    sheet = render_pdf_sheet(labels[:sheet_n])
    sheet_s = time.perf_counter() - start
    start = time.perf_counter()
    bare_qr_sheet(urls[:sheet_n])
    bare_sheet_s = time.perf_counter() - start

    rows = [
        rate_row("labels: PDF label", pdf["label"], pdf["ceiling"], "QR-only PDF (qrcode + reportlab)", target=True),
        rate_row("labels: PNG label, 203 dpi", png["label"], png["ceiling"], "QR-only PNG (qrcode's PIL image)",
                 target=True),
        rate_row("labels: PNG label vs QR-only page, same raster path", png["label"], png["page"],
                 "QR-only page via the label's painter + PNG writer", target=False),
        rate_row("labels: SVG label", svg["label"], svg["ceiling"], "QR-only SVG (qrcode's SVG path)", target=False),
        row(f"labels: A4 sheet of {sheet_n:,} labels", sheet_s, "s", ceiling=bare_sheet_s,
            ceiling_path="the bare QR codes on A4", ratio=bare_sheet_s / sheet_s,
            target=f"< {TARGET_SHEET_S:.0f} s" if sheet_n >= 1000 else None,
            met=sheet_s < TARGET_SHEET_S if sheet_n >= 1000 else None),
    ]
    print(f"{'path':<56}{'label ms':>10}{'ceiling ms':>12}{'ratio':>8}  target")
    for r, ms in zip(rows[:4], ((pdf["label"], pdf["ceiling"]), (png["label"], png["ceiling"]),
                                (png["label"], png["page"]), (svg["label"], svg["ceiling"])), strict=True):
        flag = "" if r["met"] is None else (" met" if r["met"] else " NOT met")
        print(f"{r['path']:<56}{ms[0]:>10.2f}{ms[1]:>12.2f}{r['ratio']:>8.2f}  {r['target'] or '-'}{flag}")
    print(f"first PDF in process (cold): {cold_ms:.1f} ms ({len(first) / 1024:.1f} KiB)")
    pages = -(-sheet_n // 4)
    print(f"A4 sheet, {sheet_n} labels / {pages} pages: {sheet_s:.2f} s ({sheet_s / sheet_n * 1000:.1f} ms/label, "
          f"{len(sheet) / 1024 / 1024:.1f} MiB); bare QR codes alone: {bare_sheet_s:.2f} s")
    print("BENCH_JSON " + json.dumps({"bench": Path(__file__).stem, "quick": args.quick, "rows": rows},
                                     ensure_ascii=False))


if __name__ == "__main__":
    main()
