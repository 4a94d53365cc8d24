"""bench/summary.py: reading the benches' BENCH_JSON lines and printing the table (nothing is timed here)."""

from __future__ import annotations

import json

import pytest

from tests.scripts import load_script

summary = load_script("bench/summary.py", "bench_summary")

LABELS = {"bench": "bench_labels", "rows": [
    {"path": "labels: PDF label", "figure": 88.14, "unit": "labels/s", "ceiling": 121.0, "ratio": 0.7284,
     "target": ">= 0.70", "met": True},
    {"path": "labels: SVG label", "figure": 95.0, "unit": "labels/s", "ceiling": None, "ratio": None,
     "target": None, "met": None},
]}


def test_last_bench_json_line_wins_and_other_output_is_ignored():
    output = "\n".join([
        "a table for humans", "BENCH_JSON " + json.dumps({"bench": "old", "rows": []}),
        "BENCH_JSON " + json.dumps(LABELS), "",
    ])
    assert summary.parse_bench_json(output) == LABELS
    assert summary.parse_bench_json("no marker here\n  BENCH_JSON {} (indented: not the marker)") is None


def test_bench_json_must_be_an_object():
    with pytest.raises(ValueError, match="object"):
        summary.parse_bench_json("BENCH_JSON [1, 2]")
    with pytest.raises(json.JSONDecodeError):
        summary.parse_bench_json("BENCH_JSON {not json")


def test_rows_contract():
    rows = summary.rows_from("bench_labels", LABELS)
    assert rows[0] == summary.Row(bench="bench_labels", path="labels: PDF label", figure=88.14, unit="labels/s",
                                  ceiling=121.0, ratio=0.7284, target=">= 0.70", met=True)
    assert rows[1].met is None and rows[1].ceiling is None


def test_targets_of_bench_http_become_rows():
    payload = {"bench": "bench_http", "results": [{"name": "scan single"}],
               "targets": [{"check": "postgresql 10,000 items: scan single / ceiling write", "value": 0.55,
                            "target": ">= 0.60", "ok": False}]}
    (row,) = summary.rows_from("bench_http", payload)
    assert (row.path, row.figure, row.ratio, row.target, row.met) == (
        "postgresql 10,000 items: scan single / ceiling write", None, 0.55, ">= 0.60", False)


def test_targets_of_bench_http_take_their_rates_from_its_results():
    payload = {"bench": "bench_http", "results": [
        {"backend": "postgresql", "items": 10000, "name": "scan single", "per_s": 250.0},
        {"backend": "postgresql", "items": 10000, "name": "ceiling write", "per_s": 400.0},
        {"backend": "sqlite", "items": 10000, "name": "scan single", "per_s": 999.0},
    ], "targets": [
        {"check": "postgresql 10,000 items: scan single / ceiling write", "value": 0.625, "target": ">= 0.60",
         "ok": True},
        {"check": "postgresql: tracking api p99 at 1,000,000 / at 10,000 items", "value": 1.2, "target": "<= 1.5",
         "ok": True},
    ]}
    scan, growth = summary.rows_from("bench_http", payload)
    assert (scan.figure, scan.ceiling, scan.unit, scan.ratio, scan.met) == (250.0, 400.0, "/s", 0.625, True)
    assert (growth.figure, growth.ceiling, growth.ratio) == (None, None, 1.2)


def test_payload_without_rows_says_so():
    (row,) = summary.rows_from("bench_routes", {"bench": "bench_routes"})
    assert row.note == "no rows in BENCH_JSON"


def test_numbers_are_formatted_by_magnitude():
    assert summary.format_number(None) == "-"
    assert summary.format_number(1234.5, "jobs/s") == "1,234 jobs/s"
    assert summary.format_number(12.345, "s") == "12.3 s"
    assert summary.format_number(0.7284) == "0.73"


def test_table_lines_up_and_shows_met_not_met_and_failures():
    rows = [*summary.rows_from("bench_labels", LABELS),
            summary.Row(bench="bench_workers", path="workers: 2 vs 1 workers", figure=80.0, unit="jobs/s",
                        ceiling=55.0, ratio=1.45, target=">= 1.60", met=False),
            summary.Row(bench="bench_scans", path="bench_scans", note="failed (exit 1)")]
    lines = summary.format_table(rows).splitlines()
    assert lines[0].split() == ["path", "figure", "ceiling", "ratio", "target", "met"]
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 2 + len(rows)
    pdf, svg, workers, scans = lines[2:]
    assert "88.1 labels/s" in pdf and "121 labels/s" in pdf and "0.73" in pdf and pdf.endswith("met")
    assert svg.endswith("-")
    assert workers.endswith("NOT met") and ">= 1.60" in workers
    assert scans.endswith("failed (exit 1)")
    # The figure column is right-aligned: every row's figure ends in the same column.
    ends = [line.index(cell) + len(cell) for line, cell in ((pdf, "88.1 labels/s"), (workers, "80.0 jobs/s"))]
    assert ends[0] == ends[1]
