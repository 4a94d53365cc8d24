"""Working days in Vietnam: Monday–Friday, minus public holidays, plus Saturdays worked in exchange.

The ``holidays`` package knows Tết, the observed days, and the substituted days (a Saturday worked so that
a bridge day can be taken off: 22/08/2026 is worked for 31/08/2026). Legal time limits (Circular 17's J+n,
the procedures' processing times, the re-invitation spacing) are all counted in these working days.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

DEFAULT_TZ = "Asia/Ho_Chi_Minh"
# Items accepted after this local time are forwarded the next working day (J moves to that day).
DEFAULT_CUTOFF = time(15, 0)


@lru_cache(maxsize=64)
def _calendar(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("VN", years=range(year - 1, year + 2))


def is_working_day(day: date) -> bool:
    """Whether public offices work on ``day`` (substituted Saturdays count as working days)."""
    return bool(_calendar(day.year).is_working_day(day))


def holiday_name(day: date) -> str | None:
    """The holiday's name when ``day`` is one (for explanations), else None."""
    name = _calendar(day.year).get(day)
    return str(name) if name else None


def next_working_day(day: date) -> date:
    """The first working day strictly after ``day``."""
    day += timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def working_day_on_or_after(day: date) -> date:
    """``day`` itself when it is a working day, else the next one."""
    return day if is_working_day(day) else next_working_day(day)


def add_working_days(start: date, n: int) -> date:
    """The date ``n`` working days after ``start`` (J+n); ``n = 0`` gives the first working day on or after."""
    if n < 0:
        raise ValueError("n must be >= 0")
    day = working_day_on_or_after(start)
    for _ in range(n):
        day = next_working_day(day)
    return day


def working_days_between(start: date, end: date) -> int:
    """How many working days lie in (start, end] — 0 when ``end <= start``."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count


def acceptance_date(at: datetime, *, tz: str = DEFAULT_TZ, cutoff: time = DEFAULT_CUTOFF) -> date:
    """J, the acceptance date of an item handed over at ``at``.

    The local date when that is a working day and the time is before the cut-off; otherwise the next
    working day.
    """
    if at.tzinfo is None:
        raise ValueError("acceptance_date needs an aware datetime")
    local = at.astimezone(ZoneInfo(tz))
    day = local.date()
    if is_working_day(day) and local.time() < cutoff:
        return day
    return next_working_day(day)
