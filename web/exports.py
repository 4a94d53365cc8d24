"""CSV and XLSX downloads of any table shown to staff.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (CSV/formula
injection: a citizen's name like ``=HYPERLINK(...)`` would become a live link). Such text cells are prefixed
with ``'`` so they read as text; numbers and dates stay typed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final

from flask import Response
from openpyxl import Workbook
from openpyxl.styles import Font

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
XLSX_MIME: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def safe_cell(value: Any) -> Any:
    """A cell value that no spreadsheet will evaluate; dates as dd/mm/yyyy in CSV."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "x" if value else ""
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_response(name: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Response:
    """UTF-8 CSV with a BOM (Excel then shows Vietnamese correctly)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([safe_cell(h) for h in header])
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    resp = Response("\ufeff" + buf.getvalue(), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return resp


def xlsx_response(name: str, title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Response:
    """An XLSX workbook with one sheet; dates stay dates (shown dd/mm/yyyy), text guarded like the CSV."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None  # noqa: S101 - a new workbook always has a sheet
    ws.title = title[:31]
    ws.append([safe_cell(h) for h in header])
    for row in rows:
        ws.append([v if isinstance(v, date | datetime) and not isinstance(v, bool) else safe_cell(v) for v in row])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, datetime):
                cell.number_format = "dd/mm/yyyy hh:mm"
            elif isinstance(cell.value, date):
                cell.number_format = "dd/mm/yyyy"
    buf = io.BytesIO()
    wb.save(buf)
    resp = Response(buf.getvalue(), mimetype=XLSX_MIME)
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
    return resp


def table_response(fmt: str, name: str, title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Response:
    """The table as ``csv`` or ``xlsx``."""
    if fmt == "xlsx":
        return xlsx_response(name, title, header, rows)
    return csv_response(name, header, rows)
