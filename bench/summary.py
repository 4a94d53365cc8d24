"""Run every ``bench/bench_*.py`` and print one table: path, figure, ceiling, ratio, target, met.

Run from the repository root: ``python bench/summary.py [--quick] [NAME ...]`` (``make bench``; NAME picks
benches by part of their file name, e.g. ``labels workers``). Each bench's own output stays visible as it
runs; ``--quick`` is passed to the benches that take it (a smoke run with small sizes).

Contract with the benches: a bench prints, as its last ``BENCH_JSON`` line, one JSON object::

    BENCH_JSON {"bench": "bench_labels", "rows": [
        {"path": "labels: PDF label", "figure": 88.1, "unit": "labels/s", "ceiling": 121.0,
         "ceiling_path": "QR-only PDF", "ratio": 0.73, "target": ">= 0.70", "met": true}, ...]}

``figure`` is the measured value, ``ceiling`` what the same work costs stripped to its bare minimum (or
null), ``ratio`` the bench's own comparison of the two, ``target`` a text and ``met`` true/false, or null
for rows that only inform. A bench that reports ``"targets": [{"check", "value", "target", "ok"}]`` instead
(bench_http) is read too: each target becomes a row with its value as the ratio (and the two rates it compares
as figure and ceiling when its ``results`` name them: their totals, while bench_http's ratio is the median of
its paired slices, so the two can differ). Exit status: 1 when a bench failed or printed no BENCH_JSON, else 0
(unmet targets are reported, not failures).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    bench: str
    path: str
    figure: float | None = None
    unit: str = ""
    ceiling: float | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    note: str = ""  # why there is no figure (a bench that failed)


def parse_bench_json(output: str) -> dict[str, Any] | None:
    """The payload of the last ``BENCH_JSON`` line of a bench's output, or None."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            payload = json.loads(line[len(MARKER):])
            if not isinstance(payload, dict):
                raise ValueError("BENCH_JSON must be a JSON object")
            return payload
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def rows_from(bench: str, payload: dict[str, Any]) -> list[Row]:
    """Table rows from one bench's payload (the ``rows`` contract, or bench_http's ``targets``)."""
    name = str(payload.get("bench") or bench)
    rows = [
        Row(bench=name, path=str(r.get("path", "?")), figure=_number(r.get("figure")), unit=str(r.get("unit") or ""),
            ceiling=_number(r.get("ceiling")), ratio=_number(r.get("ratio")),
            target=None if r.get("target") is None else str(r["target"]), met=_flag(r.get("met")))
        for r in payload.get("rows") or []
    ]
    results = _results_by_name(payload.get("results") or [])
    for t in payload.get("targets") or []:
        check = str(t.get("check", "?"))
        figure = ceiling = None
        unit = ""
        # bench_http names its ratio targets "<backend> <items> items: <path> / <ceiling path>".
        if (m := _CHECK.match(check)) and (a := results.get(m.group(1, 2, 3))) and (b := results.get(m.group(1, 2, 4))):
            figure, ceiling, unit = a, b, "/s"
        rows.append(Row(bench=name, path=check, figure=figure, unit=unit, ceiling=ceiling,
                        ratio=_number(t.get("value")), target=None if t.get("target") is None else str(t["target"]),
                        met=_flag(t.get("ok"))))
    return rows or [Row(bench=name, path=name, note="no rows in BENCH_JSON")]


_CHECK = re.compile(r"^(\w+) ([\d,]+) items: (.+?) / (.+)$")


def _results_by_name(results: list[Any]) -> dict[tuple[str, str, str], float]:
    """bench_http's measured rates by (backend, items as printed, name)."""
    out: dict[tuple[str, str, str], float] = {}
    for r in results:
        if isinstance(r, dict) and (rate := _number(r.get("per_s"))) is not None and isinstance(r.get("items"), int):
            out[str(r.get("backend")), f"{r['items']:,}", str(r.get("name"))] = rate
    return out


def format_number(value: float | None, unit: str = "") -> str:
    """A figure for the table: three significant digits or so, with its unit."""
    if value is None:
        return "-"
    magnitude = abs(value)
    text = f"{value:,.0f}" if magnitude >= 100 else f"{value:.1f}" if magnitude >= 10 else f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def format_table(rows: list[Row]) -> str:
    """The summary table, one line per row, columns aligned."""
    header = ("path", "figure", "ceiling", "ratio", "target", "met")
    lines = [header]
    for r in rows:
        met = r.note or ("-" if r.met is None else "met" if r.met else "NOT met")
        lines.append((
            r.path, format_number(r.figure, r.unit), format_number(r.ceiling, r.unit if r.figure is not None else ""),
            "-" if r.ratio is None else f"{r.ratio:.2f}", r.target or "-", met,
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        cells = [line[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(line[1:4], widths[1:4], strict=True)),
                 line[4].ljust(widths[4]), line[5]]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def run_bench(script: Path, *, quick: bool) -> tuple[int, str]:
    """Run one bench, echoing its output as it comes; (exit status, everything it printed on stdout)."""
    args = [sys.executable, str(script)]
    if quick and "--quick" in script.read_text(encoding="utf-8"):
        args.append("--quick")
    print(f"== {script.relative_to(BENCH_DIR.parent)}{' --quick' if len(args) > 2 else ''}", flush=True)
    captured: list[str] = []
    with subprocess.Popen(args, cwd=BENCH_DIR.parent, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:  # noqa: S603
        assert proc.stdout is not None  # noqa: S101 - stdout=PIPE
        for line in proc.stdout:
            captured.append(line)
            if not line.startswith(MARKER):  # the JSON line is for this script, the table shows it
                print(line, end="", flush=True)
    return proc.returncode, "".join(captured)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to the benches that take it")
    parser.add_argument("names", nargs="*", help="only the benches whose file name contains one of these")
    args = parser.parse_args(argv)
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if args.names:
        scripts = [s for s in scripts if any(n in s.stem for n in args.names)]
    rows: list[Row] = []
    failed = False
    for script in scripts:
        started = time.perf_counter()
        status, output = run_bench(script, quick=args.quick)
        seconds = time.perf_counter() - started
        try:
            payload = parse_bench_json(output)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            payload, note = None, f"bad BENCH_JSON: {exc}"
        else:
            note = "no BENCH_JSON line"
        if status != 0:
            note = f"failed (exit {status})"
        if status != 0 or payload is None:
            failed = True
            rows.append(Row(bench=script.stem, path=script.stem, note=note))
        else:
            rows += rows_from(script.stem, payload)
        print(f"== {script.stem}: {seconds:.0f} s\n", flush=True)
    print(f"== summary{' (quick: small sizes, figures are not the reference ones)' if args.quick else ''}")
    print(format_table(rows))
    if any(r.bench == "bench_http" for r in rows):
        print("(bench_http: figure and ceiling are the totals; its ratio is the median of the paired slices' ratios)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
