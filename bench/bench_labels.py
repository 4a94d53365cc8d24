"""Label rendering costs: QR encoding, one label per format, and a 1,000-label A4 batch.

Run from the repository root: ``python -m bench.bench_labels [--sheet N]``. Figures are per label,
after a warm-up (fonts registered, modules imported), with distinct item codes so nothing is cached.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from typing import TYPE_CHECKING

from logistics.labels.render import LabelData, qr_matrix, render_pdf, render_pdf_sheet, render_png, render_svg
from logistics.labels.s10 import make_item_code
from logistics.labels.signing import LabelSigner

if TYPE_CHECKING:
    from collections.abc import Callable

SIGNER = LabelSigner([b"bench-label-key-0123456789abcdef"])
BASE_URL = "https://dvc.buudien.vn"


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


def per_call_ms(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    """Median and mean milliseconds per call over ``n`` calls with distinct inputs."""
    times = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), statistics.fmean(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100, help="calls per single-label measurement")
    parser.add_argument("--sheet", type=int, default=1000, help="labels in the A4 batch")
    args = parser.parse_args()

    start = time.perf_counter()
    first = render_pdf(label(999_999))
    cold_ms = (time.perf_counter() - start) * 1000
    labels = [label(i) for i in range(max(args.n, args.sheet))]

    rows = [
        ("QR encode (qrcode, level Q)", per_call_ms(lambda i: qr_matrix(labels[i].qr_url), args.n)),
        ("PDF label", per_call_ms(lambda i: render_pdf(labels[i]), args.n)),
        ("PNG label, 203 dpi", per_call_ms(lambda i: render_png(labels[i]), args.n)),
        ("PNG label, 300 dpi", per_call_ms(lambda i: render_png(labels[i], dpi=300), args.n // 2)),
        ("SVG label", per_call_ms(lambda i: render_svg(labels[i]), args.n)),
    ]
    print(f"{'operation':<34}{'median ms':>11}{'mean ms':>10}")
    for name, (median, mean) in rows:
        print(f"{name:<34}{median:>11.2f}{mean:>10.2f}")
    print(f"{'first PDF in process (cold)':<34}{cold_ms:>11.2f}{'':>10}   ({len(first) / 1024:.1f} KiB)")

    start = time.perf_counter()
    sheet = render_pdf_sheet(labels[: args.sheet])
    seconds = time.perf_counter() - start
    pages = -(-args.sheet // 4)
    print(
        f"A4 sheet, {args.sheet} labels / {pages} pages: {seconds:.2f} s "
        f"({seconds / args.sheet * 1000:.1f} ms/label, {len(sheet) / 1024 / 1024:.1f} MiB)"
    )


if __name__ == "__main__":
    main()
