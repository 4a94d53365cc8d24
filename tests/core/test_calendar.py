from datetime import UTC, date, datetime

import pytest

from logistics.calendar import (
    acceptance_date,
    add_working_days,
    holiday_name,
    is_working_day,
    next_working_day,
    working_days_between,
)


def test_weekends_and_tet_are_not_working_days():
    assert not is_working_day(date(2026, 11, 28))  # Saturday
    assert not is_working_day(date(2026, 2, 17))  # Tết
    assert holiday_name(date(2026, 2, 17))
    assert is_working_day(date(2026, 11, 26))


def test_substituted_saturday_is_worked_and_its_bridge_day_is_off():
    assert is_working_day(date(2026, 8, 22))  # Saturday worked in exchange
    assert not is_working_day(date(2026, 8, 31))  # the bridge day before National Day


def test_j_plus_n_skips_tet():
    # Friday 13/02/2026 + 1 working day: Tết runs 16–20/02, so the next working day is Monday 23/02.
    assert add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 23)
    assert add_working_days(date(2026, 2, 13), 0) == date(2026, 2, 13)
    assert next_working_day(date(2026, 8, 21)) == date(2026, 8, 22)


def test_acceptance_after_cutoff_moves_to_next_working_day():
    before = datetime(2026, 11, 26, 7, 59, tzinfo=UTC)  # 14:59 in Hà Nội time
    after = datetime(2026, 11, 26, 8, 1, tzinfo=UTC)  # 15:01
    assert acceptance_date(before) == date(2026, 11, 26)
    assert acceptance_date(after) == date(2026, 11, 27)
    assert acceptance_date(datetime(2026, 11, 28, 2, tzinfo=UTC)) == date(2026, 11, 30)  # Saturday → Monday
    with pytest.raises(ValueError, match="aware"):
        acceptance_date(datetime(2026, 11, 26, 8))  # noqa: DTZ001 - the naive input is the point


def test_working_days_between():
    assert working_days_between(date(2026, 2, 13), date(2026, 2, 23)) == 1
    assert working_days_between(date(2026, 2, 23), date(2026, 2, 13)) == 0
