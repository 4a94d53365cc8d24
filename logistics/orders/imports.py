"""Bulk import of pickup orders from CSV or XLSX: every row validated, valid rows created, bad rows reported.

A file is stored as an ``ImportBatch`` and imported in chunks, each chunk one transaction, so progress is
visible to other processes (the dispatcher's progress bar) and an interrupted import resumes where it stopped.
Every row must carry an external reference: a row whose reference already exists returns the earlier order
instead of creating a second one, so re-running a file (or a batch) is safe.

Creating an order also writes its first tracking event, which ``logistics`` may not import; the door (CLI, web)
passes the bulk booking function (``tracking.services.book_pickups`` with its options) as ``create``: each
chunk's valid rows are booked in one call, a few batched statements rather than a dozen per row.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from config.db import Base, Database, UTCDateTime, utcnow
from logistics.orders.models import Dossier
from logistics.orders.services import Booking

log = logging.getLogger(__name__)

MAX_ROWS: Final = 50_000
MAX_ERRORS_KEPT: Final = 2_000
CHUNK_ROWS: Final = 1000

# Accepted header names (folded: lower case, no diacritics, spaces as underscores) -> request field.
COLUMNS: Final[dict[str, str]] = {
    "external_ref": "external_ref", "ma_tham_chieu": "external_ref", "ma_ho_so": "external_ref",
    "applicant_name": "applicant_name", "ho_ten": "applicant_name", "ho_va_ten": "applicant_name",
    "phone": "phone", "so_dien_thoai": "phone", "dien_thoai": "phone", "sdt": "phone",
    "address": "address", "dia_chi": "address",
    "commune_code": "commune_code", "ma_xa": "commune_code", "ma_xa_phuong": "commune_code",
    "procedure_code": "procedure_code", "ma_thu_tuc": "procedure_code",
    "service_form": "service_form", "hinh_thuc": "service_form",
    "envelopes": "envelopes", "so_phong_bi": "envelopes",
    "notes": "notes", "ghi_chu": "notes",
    "reduction_code": "reduction_code", "doi_tuong_mien_giam": "reduction_code",
}
REQUIRED_COLUMNS: Final = ("external_ref", "applicant_name", "phone", "address", "procedure_code")


class ImportBatch(Base):
    """One uploaded file and how far its import has gone."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    fmt: Mapped[str] = mapped_column(String(8))  # csv | xlsx
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending|running|done|failed
    content: Mapped[bytes] = mapped_column(LargeBinary)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    existing_count: Mapped[int] = mapped_column(Integer, default=0)  # external_ref seen before: not duplicated
    review_count: Mapped[int] = mapped_column(Integer, default=0)  # created, held for address review
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{"line", "external_ref", "errors"}]
    message: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def percent(self) -> int:
        """Progress, 0-100."""
        if self.status == "done":
            return 100
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0

    def to_json(self) -> dict[str, Any]:
        """Progress and results, for the progress endpoint and the CLI."""
        return {
            "id": self.id, "filename": self.filename, "status": self.status, "percent": self.percent,
            "total_rows": self.total_rows, "processed_rows": self.processed_rows,
            "created": self.created_count, "existing": self.existing_count, "needs_review": self.review_count,
            "errors": self.error_count, "error_rows": self.errors[:200], "message": self.message,
        }


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (format, header); the message says what to fix."""


@dataclass(frozen=True)
class Row:
    """One data row: its line number in the file (header = line 1) and its fields."""

    line: int
    fields: dict[str, Any]


def _fold_header(name: str) -> str:
    from logistics.text import fold_words  # noqa: PLC0415 - tiny helper

    return fold_words(str(name)).replace(" ", "_")


def _columns(header: list[Any]) -> list[str | None]:
    cols = [COLUMNS.get(_fold_header(h)) if h is not None else None for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise ImportFileError(
            f"Thiếu cột bắt buộc: {', '.join(missing)}. Các cột: external_ref, applicant_name, phone, address, "
            "commune_code (tùy chọn), procedure_code, service_form, envelopes, notes, reduction_code. / "
            f"Missing required columns: {', '.join(missing)}.")
    return cols


def detect_format(filename: str, content: bytes) -> str:
    """``xlsx`` (a zip) or ``csv``, from the content first, the name second."""
    if content[:2] == b"PK":
        return "xlsx"
    if filename.lower().endswith((".csv", ".txt")) or content:
        return "csv"
    raise ImportFileError("Tệp rỗng. / Empty file.")


def _cell(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def read_rows(filename: str, content: bytes) -> Iterator[Row]:
    """The data rows of a CSV (UTF-8, with or without BOM; comma or semicolon) or XLSX file."""
    fmt = detect_format(filename, content)
    if fmt == "xlsx":
        yield from _xlsx_rows(content)
        return
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError("Tệp CSV phải mã hóa UTF-8. / CSV files must be UTF-8.") from exc
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise ImportFileError("Tệp rỗng. / Empty file.")
    cols = _columns(header)
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        yield Row(reader.line_num, {c: v for c, v in zip(cols, values, strict=False) if c is not None})


def _xlsx_rows(content: bytes) -> Iterator[Row]:
    from openpyxl import load_workbook  # noqa: PLC0415 - only for XLSX files
    from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise ImportFileError("Không đọc được tệp XLSX. / Not a readable XLSX file.") from exc
    try:
        sheet = wb.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise ImportFileError("Tệp rỗng. / Empty file.")
        cols = _columns(list(header))
        for line, values in enumerate(rows, start=2):
            if not any(v is not None and str(v).strip() for v in values):
                continue
            fields = {c: _cell(v) for c, v in zip(cols, values, strict=False) if c is not None and v is not None}
            phone = fields.get("phone")
            if isinstance(phone, str) and phone.isdigit() and len(phone) == 9:  # noqa: PLR2004
                fields["phone"] = "0" + phone  # a spreadsheet stored the number as a number and dropped the 0
            yield Row(line, fields)
    finally:
        wb.close()


def create_batch(session: Session, filename: str, content: bytes, *, created_by_id: int | None = None) -> ImportBatch:
    """Store an uploaded file as a pending batch, after checking its format and header and counting rows."""
    fmt = detect_format(filename, content)
    total = sum(1 for _ in read_rows(filename, content))
    if total > MAX_ROWS:
        raise ImportFileError(f"Tối đa {MAX_ROWS} dòng mỗi tệp. / At most {MAX_ROWS} rows per file.")
    batch = ImportBatch(filename=filename[:255], fmt=fmt, content=content, total_rows=total,
                        created_by_id=created_by_id, errors=[])
    session.add(batch)
    session.flush()
    return batch


CreateFn = Callable[[Session, list[Mapping[str, Any]]], list[Booking]]
ProgressFn = Callable[[ImportBatch], None]


def _row_errors(row: Row, seen: dict[str, int]) -> dict[str, str]:
    errors: dict[str, str] = {}
    ref = row.fields.get("external_ref")
    ref = " ".join(str(ref).split()) if ref is not None else ""
    if not ref:
        errors["external_ref"] = ("Mỗi dòng cần mã tham chiếu (external_ref) để nhập lại không bị trùng. / "
                                  "Every row needs an external_ref.")
    elif ref in seen:
        errors["external_ref"] = f"Trùng mã tham chiếu với dòng {seen[ref]}. / Same external_ref as line {seen[ref]}."
    else:
        seen[ref] = row.line
    return errors


def import_rows(session: Session, batch: ImportBatch, rows: list[Row], create: CreateFn,
                seen: dict[str, int]) -> None:
    """Import some rows of a batch in the caller's transaction, in one bulk booking; counters updated.

    Every refusal (validation, routing) happens before anything is written for its row, and references seen
    earlier in the file are refused here; an unexpected error fails the chunk, and a re-run resumes.
    """
    errors = list(batch.errors or [])
    refs = [" ".join(str(r.fields["external_ref"]).split()) for r in rows if r.fields.get("external_ref")]
    # One query per chunk for the references already imported (a re-run skips them without booking them).
    known = set(session.scalars(select(Dossier.external_ref).where(Dossier.external_ref.in_(refs)))) if refs else set()
    problems: dict[int, dict[str, str]] = {}
    to_book: list[Row] = []
    for row in rows:
        found = _row_errors(row, seen)
        if found:
            problems[row.line] = found
        elif " ".join(str(row.fields["external_ref"]).split()) in known:
            batch.existing_count += 1
        else:
            to_book.append(row)
    bookings = create(session, [row.fields for row in to_book]) if to_book else []
    for row, booking in zip(to_book, bookings, strict=True):
        if booking.error is not None:
            problems[row.line] = booking.errors
        elif booking.created and booking.order is not None:
            batch.created_count += 1
            if booking.order.state.value == "needs_review":
                batch.review_count += 1
        else:
            batch.existing_count += 1
    batch.error_count += len(problems)
    kept = [{"line": row.line, "external_ref": row.fields.get("external_ref"), "errors": problems[row.line]}
            for row in rows if row.line in problems]
    batch.errors = errors + kept[:max(0, MAX_ERRORS_KEPT - len(errors))]
    batch.processed_rows += len(rows)
    session.flush()


def run_import(db: Database, batch_id: int, create: CreateFn, *, progress: ProgressFn | None = None,
               chunk_rows: int = CHUNK_ROWS, resume: bool = False) -> ImportBatch:
    """Import a stored batch chunk by chunk, one transaction each (like a job, this owns its transactions).

    Resumes after the rows already processed (a failed batch, or a running one with ``resume`` after its
    runner died); a second runner finds the batch running and stops.
    """
    with db.unit_of_work() as session:
        batch = session.get(ImportBatch, batch_id)
        if batch is None:
            raise ImportFileError(f"Không có lô nhập {batch_id}.")
        if batch.status == "done" or (batch.status == "running" and not resume):
            return batch  # finished, or another runner has it
        batch.status, batch.started_at = "running", batch.started_at or utcnow()
        filename, content, done = batch.filename, batch.content, batch.processed_rows
    seen: dict[str, int] = {}
    rows = list(read_rows(filename, content))
    for row in rows[:done]:  # references of rows already imported still count as seen in this file
        ref = row.fields.get("external_ref")
        if ref:
            seen.setdefault(" ".join(str(ref).split()), row.line)
    try:
        for start in range(done, len(rows), chunk_rows):
            with db.unit_of_work() as session:
                batch = session.get(ImportBatch, batch_id)
                assert batch is not None  # noqa: S101 - it existed a moment ago and batches are never deleted
                import_rows(session, batch, rows[start:start + chunk_rows], create, seen)
                snapshot = batch
            if progress is not None:
                progress(snapshot)
    except Exception as exc:
        with db.unit_of_work() as session:
            batch = session.get(ImportBatch, batch_id)
            if batch is not None:
                batch.status, batch.message = "failed", f"{exc.__class__.__name__}: {exc}"[:1000]
        raise
    with db.unit_of_work() as session:
        batch = session.get(ImportBatch, batch_id)
        assert batch is not None  # noqa: S101
        batch.status, batch.finished_at = "done", utcnow()
        batch.message = (f"Đã tạo {batch.created_count} đơn ({batch.review_count} chờ xác nhận địa chỉ), "
                         f"{batch.existing_count} đã có, {batch.error_count} dòng lỗi.")
    if progress is not None:
        progress(batch)
    return batch


def recent_batches(session: Session, limit: int = 20) -> list[ImportBatch]:
    """The latest batches, newest first."""
    return list(session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc()).limit(limit)))
