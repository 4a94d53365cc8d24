"""bench/bench_http.py: how a target's ratio is taken from alternating slices (nothing is timed here)."""

from __future__ import annotations

import pytest

from tests.scripts import load_script

bench_http = load_script("bench/bench_http.py", "bench_http_module")


def _result(name: str, per_slice: list[float | None]) -> object:
    """A result whose slices each lasted one second."""
    units = int(sum(rate or 0 for rate in per_slice))
    return bench_http.Result("postgresql", 10, 10, name, units, units, float(len(per_slice)), 1.0, 2.0, 1.5, 0,
                             slice_per_s=per_slice)


def test_one_slow_slice_does_not_move_the_ratio():
    ceiling = _result("ceiling write", [600, 600, 200, 600, 600])  # CPU stolen during the third ceiling slice
    scan = _result("scan single", [390, 380, 400, 370, 385])
    assert bench_http.paired_ratio(scan, ceiling) == pytest.approx(385 / 600)
    assert scan.per_s / ceiling.per_s == pytest.approx(1925 / 2600)  # the totals would say 0.74


def test_an_even_number_of_slices_takes_the_middle_two():
    ceiling = _result("ceiling write", [100, 100, 100, 100])
    scan = _result("scan single", [50, 60, 70, 80])
    assert bench_http.paired_ratio(scan, ceiling) == pytest.approx(0.65)


def test_too_few_slices_fall_back_to_the_totals():
    ceiling = _result("ceiling write", [600, 300])
    scan = _result("scan single", [300, 300])
    assert bench_http.paired_ratio(scan, ceiling) == pytest.approx(600 / 900)


def test_slices_without_requests_are_not_pairs():
    single = _result("scan single", [300, 300, 300, 300, 300])
    batch = _result("scan batch200", [None, None, None, None, 1500])  # one batch per connection: the last slice
    assert bench_http.paired_ratio(batch, single) == pytest.approx(1.0)  # one pair: the totals, 1500 / 1500
