"""Time limits of a leg (Circular 17/2017/TT-BTTTT) and how close an item is to them.

Pickup leg: J is the acceptance date of the collection (after the 15:00 cut-off, the next working day); the
dossier must reach the agency by J+1 when the agency sits in the applicant's commune (the former "same
district"), J+2 elsewhere in the province. Result leg: the same limits from the collection at the agency;
before the result is collected, the agency's appointment date is the date to watch. The clock of the result
leg stops at the first delivery attempt, so legs past it are not watched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from logistics.calendar import acceptance_date, add_working_days, next_working_day
from logistics.notifications.models import AlertLevel
from logistics.notifications.templates import ddmmyyyy

SAME_COMMUNE_DAYS: Final = 1
IN_PROVINCE_DAYS: Final = 2

# States (by value) in which a leg's clock runs.
WATCHED_STATES: Final[dict[str, frozenset[str]]] = {
    "pickup": frozenset({"created", "assigned", "collected", "at_post_office", "out_for_delivery"}),
    "result": frozenset({"created", "assigned", "collected", "at_post_office", "out_for_delivery"}),
}


@dataclass(frozen=True)
class Deadline:
    """The date a leg must be done by, and why (shown to dispatchers)."""

    due: date
    basis: str


def leg_deadline(
    *,
    collected_at: datetime | None,
    same_commune: bool,
    appointment_date: date | None = None,
    tz: str = "Asia/Ho_Chi_Minh",
) -> Deadline | None:
    """The limit of a leg: J+n from its collection, else the appointment date (result legs), else none yet."""
    if collected_at is not None:
        j = acceptance_date(collected_at, tz=tz)
        n = SAME_COMMUNE_DAYS if same_commune else IN_PROVINCE_DAYS
        scope = "cùng xã" if same_commune else "liên xã"
        return Deadline(add_working_days(j, n), f"J+{n} ({scope}), J = {ddmmyyyy(j)}")
    if appointment_date is not None:
        return Deadline(appointment_date, f"ngày hẹn trả kết quả {ddmmyyyy(appointment_date)}")
    return None


def alert_level(due: date, today: date) -> AlertLevel | None:
    """LATE after the due date; AT_RISK on the due date or the working day before; else None."""
    if today > due:
        return AlertLevel.LATE
    if next_working_day(today) >= due:
        return AlertLevel.AT_RISK
    return None
