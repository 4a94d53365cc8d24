"""Bulk import (CSV/XLSX): every row validated, good rows created, bad rows reported, safe to re-run."""

import io
from functools import partial

import pytest
from sqlalchemy import func, select

from config.settings import Settings
from logistics.orders.imports import ImportFileError, create_batch, read_rows, run_import
from logistics.orders.models import Channel, Dossier, Order, OrderState
from tests.conftest import clean_transactional
from tests.orders.helpers import commune, procedure
from tracking.services import book_pickups

HEADER = "external_ref,applicant_name,phone,address,commune_code,procedure_code,service_form,envelopes\n"


@pytest.fixture
def committed(db):
    yield db
    clean_transactional(db)


def _csv(db, rows):
    with db.unit_of_work() as s:
        code, proc = commune(s).code, procedure(s).code
    lines = [HEADER]
    lines.extend(",".join(str(x).format(code=code, proc=proc) for x in r) + "\n" for r in rows)
    return "".join(lines).encode()


def _create():
    return partial(book_pickups, indicator="RA", channel=Channel.IMPORT, actor_role="import")


def _import(db, name, content, **kw):
    with db.unit_of_work() as s:
        batch_id = create_batch(s, name, content).id
    return run_import(db, batch_id, _create(), **kw)


GOOD_AND_BAD = [
    ("IMP-1", "Nguyễn Thị Hồng Nhung", "0912 345 678", "Số 3 Lưu Tấn Tài", "{code}", "{proc}", "both", 1),
    ("IMP-2", "Trần Văn Bình", "0912345679", '"Ấp 3, xã Đất Mũi, Ngọc Hiển"', "", "{proc}", "send_only", 1),
    ("IMP-3", "", "0912345670", "Số 1", "{code}", "{proc}", "both", 1),  # line 4: no name
    ("IMP-4", "Lê An", "12345", "Số 1", "{code}", "NO-SUCH", "both", 1),  # line 5: bad phone and procedure
    ("", "Lê Bình", "0912345671", "Số 1", "{code}", "{proc}", "both", 1),  # line 6: no reference
    ("IMP-1", "Lê Cường", "0912345672", "Số 1", "{code}", "{proc}", "both", 1),  # line 7: same ref as line 2
    ("IMP-5", "Võ Dung", "0912345673", "Phường 5", "", "{proc}", "both", 1),  # ambiguous: held for review
    ("IMP-6", "Hồ Hạnh", "0912345674", "Số 1", "{code}", "{proc}", "both", 99),  # line 9: too many envelopes
]


def test_valid_rows_are_created_and_bad_rows_reported_with_line_and_reason(committed):
    seen = []
    batch = _import(committed, "don.csv", _csv(committed, GOOD_AND_BAD), progress=lambda b: seen.append(b.percent),
                    chunk_rows=3)
    assert batch.status == "done"
    assert (batch.total_rows, batch.created_count, batch.review_count, batch.error_count) == (8, 3, 1, 5)
    by_line = {e["line"]: e["errors"] for e in batch.errors}
    assert set(by_line) == {4, 5, 6, 7, 9}
    assert "applicant_name" in by_line[4]
    assert {"phone", "procedure_code"} <= set(by_line[5])
    assert "external_ref" in by_line[6]
    assert "dòng 2" in by_line[7]["external_ref"]
    assert "envelopes" in by_line[9]
    assert seen[-1] == 100 and len(seen) >= 3
    with committed.unit_of_work() as s:
        orders = s.scalars(select(Order).join(Dossier).where(Dossier.external_ref.like("IMP-%"))).unique().all()
        states = {o.dossier.external_ref: o.state for o in orders}
        assert states == {"IMP-1": OrderState.CREATED, "IMP-2": OrderState.CREATED, "IMP-5": OrderState.NEEDS_REVIEW}
        assert next(o for o in orders if o.dossier.external_ref == "IMP-2").dossier.admin_unit.name == "Xã Đất Mũi"
        assert all(o.dossier.channel == Channel.IMPORT for o in orders)


def test_re_running_a_file_creates_no_duplicates(committed):
    content = _csv(committed, GOOD_AND_BAD[:2])
    first = _import(committed, "a.csv", content)
    second = _import(committed, "a.csv", content)
    assert (first.created_count, second.created_count, second.existing_count) == (2, 0, 2)
    with committed.unit_of_work() as s:
        assert s.scalar(select(func.count(Dossier.id)).where(Dossier.external_ref.in_(["IMP-1", "IMP-2"]))) == 2


def test_xlsx_files_import_like_csv(committed):
    from openpyxl import Workbook

    with committed.unit_of_work() as s:
        code, proc = commune(s).code, procedure(s).code
    wb = Workbook()
    ws = wb.active
    ws.append(["Mã tham chiếu", "Họ tên", "Số điện thoại", "Địa chỉ", "Mã xã", "Mã thủ tục", "Hình thức",
               "Số phong bì"])
    ws.append(["X-1", "Nguyễn Văn An", "0912345678", "Số 3", int(code), proc, "both", 1])
    ws.append(["X-2", "Trần Thị Lan", 912345679, "Số 4", code, proc, "send_only", 2.0])
    ws.append(["X-3", "Phạm Văn Hùng", "abc", "Số 5", code, proc, "both", 1])
    buf = io.BytesIO()
    wb.save(buf)
    batch = _import(committed, "don.xlsx", buf.getvalue())
    assert (batch.created_count, batch.error_count) == (2, 1)
    assert batch.errors[0]["line"] == 4 and "phone" in batch.errors[0]["errors"]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "rỗng"),
    (b"name,phone\nA,1\n", "Thiếu cột"),
    ("external_ref;applicant_name\n".encode("utf-16"), "UTF-8"),
    (b"PK\x03\x04not really a zip", "XLSX"),
])
def test_unreadable_files_are_refused_whole(content, message):
    with pytest.raises(ImportFileError, match=message):
        list(read_rows("x.csv", content))


def test_semicolon_csv_with_bom_and_blank_lines():
    text = "\ufeffexternal_ref;applicant_name;phone;address;procedure_code\nA;B;0912345678;Số 1;1.0\n\n;;;;\n"
    rows = list(read_rows("x.csv", text.encode()))
    assert len(rows) == 1 and rows[0].line == 2 and rows[0].fields["applicant_name"] == "B"


def test_cli_imports_a_file(committed, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from web.cli import main

    path = tmp_path / "don.csv"
    path.write_bytes(_csv(committed, GOOD_AND_BAD[:4]))
    monkeypatch.setenv("DATABASE_URL", committed.url)
    monkeypatch.setenv("DOSSIERPOST_ENV", "test")
    result = CliRunner().invoke(main, ["orders", "import", str(path)])
    assert result.exit_code == 2, result.output  # bad rows make the exit code non-zero
    assert "2 created" in result.output
    assert "dòng/line 4" in result.output and "dòng/line 5" in result.output
    assert Settings.from_env().database_url == committed.url
