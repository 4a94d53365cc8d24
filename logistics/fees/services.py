"""Postage and legal time limits: the tariff as data, money in whole VND, days in Vietnamese working days.

Postage (Circular 22/2017, VNPost's published prices) is the tariff row for the zone and the weight tier, per
item and per leg; exempt (100%) and 50% groups reduce the postage only (never the government fee collected on
the agency's behalf); remitting a collected government fee adds the remittance charge.

Time limits (Circular 17/2017): each leg must arrive within J+n working days, J the acceptance date (the
15:00 cut-off moves J to the next working day): n = 1 in-district, 2 inter-district, 3 inter-province,
doubled when an appointment slip must also be carried. The agency's processing deadline counts the
procedure's legal days from the signing of the hand-over record, and starts again when a supplemented
dossier arrives. The calendar is ``logistics.calendar`` (holidays, Tết, substituted days).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.calendar import DEFAULT_CUTOFF, DEFAULT_TZ, acceptance_date, add_working_days, holiday_name
from logistics.fees.models import FeeReduction, TariffRate, TariffSurcharge, Zone
from logistics.orders.errors import RoutingError

BASE_WEIGHT_G = 100  # the booking does not weigh the dossier; the courier re-weighs at pickup
REMITTANCE_CODE = "fee_remittance"
APPOINTMENT_SLIP_CODE = "appointment_slip"


class TariffError(RoutingError):
    """The tariff has no price for the request (zone or weight outside the table)."""


def _rate(session: Session, zone: Zone, weight_g: int) -> int:
    cache: dict[tuple[str, int], int | None] = session.info.setdefault("dossierpost_tariff", {})
    if (zone.value, weight_g) in cache:
        price = cache[zone.value, weight_g]
    else:
        price = cache[zone.value, weight_g] = _lookup_rate(session, zone, weight_g)
    if price is None:
        raise TariffError(f"Biểu cước chưa có giá cho vùng {zone.value}, {weight_g} g.")
    return int(price)


def _lookup_rate(session: Session, zone: Zone, weight_g: int) -> int | None:
    return session.scalar(
        select(TariffRate.price_vnd).where(TariffRate.zone == zone, TariffRate.max_weight_g >= weight_g)
        .order_by(TariffRate.max_weight_g).limit(1)
    )


def _surcharge(session: Session, code: str) -> int:
    cache: dict[str, int | None] = session.info.setdefault("dossierpost_surcharges", {})
    if code not in cache:
        cache[code] = session.scalar(select(TariffSurcharge.amount_vnd).where(TariffSurcharge.code == code))
    amount = cache[code]
    if amount is None:
        raise TariffError(f"Biểu cước chưa có khoản phụ phí {code}.")
    return int(amount)


def reduced(amount: int, percent: int) -> int:
    """``amount`` less ``percent`` %, rounded to the nearest whole VND (halves up)."""
    return (amount * (100 - percent) + 50) // 100


def postage(session: Session, zone: Zone, *, envelopes: int, both_ways: bool,
            reduction: FeeReduction | None, weight_g: int = BASE_WEIGHT_G) -> int:
    """Postage in whole VND: the tariff's price for the zone and weight tier, per item and per leg."""
    total = _rate(session, zone, weight_g) * envelopes * (2 if both_ways else 1)
    return reduced(total, reduction.percent) if reduction is not None else total


@dataclass(frozen=True)
class FeeQuote:
    """What the citizen pays, line by line (whole VND)."""

    zone: Zone
    weight_g: int
    rate_vnd: int  # one item, one way
    legs: int
    envelopes: int
    postage_gross_vnd: int
    reduction_code: str | None
    reduction_percent: int
    postage_vnd: int  # after the reduction
    appointment_slip_vnd: int
    gov_fee_vnd: int  # collected on the agency's behalf, handed over at the desk
    remittance_vnd: int  # the charge for collecting and remitting that fee
    lines: list[tuple[str, int]] = field(default_factory=list)

    @property
    def total_vnd(self) -> int:
        """Everything the citizen pays."""
        return self.postage_vnd + self.appointment_slip_vnd + self.gov_fee_vnd + self.remittance_vnd

    def to_json(self) -> dict[str, Any]:
        """The quote as stored with the dossier and returned by the API."""
        return {
            "zone": self.zone.value, "weight_g": self.weight_g, "rate_vnd": self.rate_vnd, "legs": self.legs,
            "envelopes": self.envelopes, "postage_gross_vnd": self.postage_gross_vnd,
            "reduction": self.reduction_code, "reduction_percent": self.reduction_percent,
            "postage_vnd": self.postage_vnd, "appointment_slip_vnd": self.appointment_slip_vnd,
            "gov_fee_vnd": self.gov_fee_vnd, "remittance_vnd": self.remittance_vnd, "total_vnd": self.total_vnd,
            "lines": [[text, amount] for text, amount in self.lines],
        }


def quote(
    session: Session,
    zone: Zone,
    *,
    envelopes: int = 1,
    both_ways: bool = False,
    reduction: FeeReduction | None = None,
    weight_g: int = BASE_WEIGHT_G,
    gov_fee_vnd: int = 0,
    collect_gov_fee: bool = True,
    appointment_slip: bool = False,
) -> FeeQuote:
    """Price a dossier, line by line.

    Postage (zone × weight tier × legs × envelopes, less any reduction), the appointment slip surcharge, and the
    government fee collected for the agency with its remittance charge.
    """
    if envelopes < 1 or weight_g < 1 or gov_fee_vnd < 0:
        raise ValueError("envelopes and weight must be positive, the government fee not negative")
    rate = _rate(session, zone, weight_g)
    legs = 2 if both_ways else 1
    gross = rate * envelopes * legs
    percent = reduction.percent if reduction is not None else 0
    net = reduced(gross, percent)
    slip = _surcharge(session, APPOINTMENT_SLIP_CODE) if appointment_slip else 0
    fee = gov_fee_vnd if collect_gov_fee else 0
    remittance = _surcharge(session, REMITTANCE_CODE) if fee > 0 else 0
    lines = [(f"Cước {legs} chiều × {envelopes} bưu gửi ({zone.value}, ≤{weight_g} g)", gross)]
    if percent:
        lines.append((f"Miễn giảm {percent}% ({reduction.name if reduction else ''})", net - gross))
    if slip:
        lines.append(("Phát kèm phiếu hẹn", slip))
    if fee:
        lines.append(("Phí, lệ phí thu hộ cơ quan giải quyết", fee))
        lines.append(("Cước thu hộ, chuyển trả phí/lệ phí", remittance))
    return FeeQuote(zone, weight_g, rate, legs, envelopes, gross, reduction.code if reduction else None, percent,
                    net, slip, fee, remittance, lines)


# --------------------------------------------------------------------------------------------------------
# Deadlines
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlinePolicy:
    """Circular 17's J+n per zone (configurable), doubled with an appointment slip."""

    days: dict[Zone, int] = field(default_factory=lambda: {
        Zone.IN_DISTRICT: 1, Zone.INTER_DISTRICT: 2, Zone.INTER_PROVINCE: 3})
    slip_multiplier: int = 2
    cutoff: time = DEFAULT_CUTOFF
    tz: str = DEFAULT_TZ


@dataclass(frozen=True)
class Deadline:
    """A legal time limit: the date, how it was counted, and why."""

    start: date  # J: the first counted day
    days: int
    due: date
    rule: str
    explanation: str

    def to_json(self) -> dict[str, Any]:
        """For the dossier's record and the API (dates ISO, explanation Vietnamese)."""
        return {"start": self.start.isoformat(), "days": self.days, "due": self.due.isoformat(), "rule": self.rule,
                "explanation": self.explanation}


def _fmt(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def _skipped(start: date, due: date) -> str:
    """Holidays between start and due, for the explanation."""
    names: list[str] = []
    day = start
    while day < due:
        day = date.fromordinal(day.toordinal() + 1)
        name = holiday_name(day)
        if name and name not in names:
            names.append(name)
    return f" (không tính ngày nghỉ: {', '.join(names)})" if names else ""


def transport_days(zone: Zone, *, appointment_slip: bool = False, policy: DeadlinePolicy | None = None) -> int:
    """N of J+n for one leg."""
    policy = policy or DeadlinePolicy()
    return policy.days[zone] * (policy.slip_multiplier if appointment_slip else 1)


def leg_deadline(accepted_at: datetime, zone: Zone, *, appointment_slip: bool = False,
                 policy: DeadlinePolicy | None = None) -> Deadline:
    """J+n for a leg accepted at ``accepted_at`` (aware): J moves past the 15:00 cut-off and days off."""
    policy = policy or DeadlinePolicy()
    j = acceptance_date(accepted_at, tz=policy.tz, cutoff=policy.cutoff)
    n = transport_days(zone, appointment_slip=appointment_slip, policy=policy)
    due = add_working_days(j, n)
    slip = ", gấp đôi vì kèm phiếu hẹn" if appointment_slip else ""
    return Deadline(j, n, due, f"transport_{zone.value}",
                    f"Chuyển phát J+{n} ({zone.value}{slip}): J = {_fmt(j)}, hạn {_fmt(due)}{_skipped(j, due)}.")


def processing_deadline(submitted_at: datetime, processing_days: int, *,
                        supplement_completed_at: datetime | None = None,
                        policy: DeadlinePolicy | None = None) -> Deadline:
    """The agency's deadline, in working days.

    ``processing_days`` after the legal submission (the signing of the hand-over record), counted again from
    the arrival of the complete dossier after a supplement request.
    """
    if processing_days < 0:
        raise ValueError("processing_days must be >= 0")
    policy = policy or DeadlinePolicy()
    restarted = supplement_completed_at is not None
    start_at = supplement_completed_at if supplement_completed_at is not None else submitted_at
    j = acceptance_date(start_at, tz=policy.tz, cutoff=policy.cutoff)
    due = add_working_days(j, processing_days)
    basis = "nhận đủ hồ sơ bổ sung" if restarted else "ký biên bản giao nhận"
    return Deadline(j, processing_days, due, "processing_restarted" if restarted else "processing",
                    f"Giải quyết {processing_days} ngày làm việc kể từ {basis} ({_fmt(j)}): hạn {_fmt(due)}"
                    f"{_skipped(j, due)}.")
