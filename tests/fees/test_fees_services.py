"""Postage from the tariff (every zone, weight tier, group), government fee and remittance; legal deadlines."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from logistics.fees.models import FeeReduction, TariffRate, Zone
from logistics.fees.services import (
    DeadlinePolicy,
    TariffError,
    leg_deadline,
    postage,
    processing_deadline,
    quote,
    reduced,
    transport_days,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
PUBLISHED = {Zone.IN_DISTRICT: 26_000, Zone.INTER_DISTRICT: 30_000, Zone.INTER_PROVINCE: 31_000}


def at(y, m, d, hh=9, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=VN)


@pytest.mark.parametrize("zone", list(Zone))
def test_base_postage_is_the_published_price_of_each_zone(db_session, zone):
    q = quote(db_session, zone)
    assert q.rate_vnd == PUBLISHED[zone]
    assert q.postage_vnd == PUBLISHED[zone]
    assert q.total_vnd == PUBLISHED[zone]
    assert isinstance(q.total_vnd, int)


@pytest.mark.parametrize("zone", list(Zone))
def test_both_ways_and_envelopes_multiply(db_session, zone):
    q = quote(db_session, zone, envelopes=3, both_ways=True)
    assert (q.legs, q.postage_vnd) == (2, PUBLISHED[zone] * 6)


@pytest.mark.parametrize("zone", list(Zone))
def test_every_weight_tier_is_priced_from_the_table(db_session, zone):
    stmt = select(TariffRate).where(TariffRate.zone == zone).order_by(TariffRate.max_weight_g)
    rates = db_session.scalars(stmt).all()
    assert len(rates) >= 6
    previous = 0
    for rate in rates:
        assert quote(db_session, zone, weight_g=rate.max_weight_g).rate_vnd == rate.price_vnd
        assert quote(db_session, zone, weight_g=previous + 1).rate_vnd == rate.price_vnd
        previous = rate.max_weight_g
    with pytest.raises(TariffError):
        quote(db_session, zone, weight_g=previous + 1)


def _groups(db_session):
    return db_session.scalars(select(FeeReduction).order_by(FeeReduction.code)).all()


@pytest.mark.parametrize("zone", list(Zone))
def test_every_group_gets_its_reduction_on_postage_only(db_session, zone):
    groups = _groups(db_session)
    assert {g.percent for g in groups} == {50, 100}
    for group in groups:
        q = quote(db_session, zone, both_ways=True, reduction=group, gov_fee_vnd=100_000)
        gross = PUBLISHED[zone] * 2
        assert q.postage_gross_vnd == gross
        assert q.postage_vnd == (0 if group.percent == 100 else gross // 2)
        assert q.gov_fee_vnd == 100_000  # the government fee is never reduced
        assert q.remittance_vnd == 8_000
        assert q.total_vnd == q.postage_vnd + 100_000 + 8_000
        assert postage(db_session, zone, envelopes=1, both_ways=True, reduction=group) == q.postage_vnd


def test_remittance_charge_only_when_a_fee_is_collected(db_session):
    assert quote(db_session, Zone.IN_DISTRICT, gov_fee_vnd=0).remittance_vnd == 0
    with_fee = quote(db_session, Zone.IN_DISTRICT, gov_fee_vnd=50_000)
    assert (with_fee.gov_fee_vnd, with_fee.remittance_vnd, with_fee.total_vnd) == (50_000, 8_000, 84_000)
    not_collected = quote(db_session, Zone.IN_DISTRICT, gov_fee_vnd=50_000, collect_gov_fee=False)
    assert (not_collected.gov_fee_vnd, not_collected.remittance_vnd) == (0, 0)


def test_appointment_slip_surcharge(db_session):
    assert quote(db_session, Zone.INTER_DISTRICT, appointment_slip=True).appointment_slip_vnd == 5_000


def test_reduction_rounds_to_whole_vnd():
    assert reduced(30_500, 50) == 15_250
    assert reduced(30_501, 50) == 15_251  # halves up
    assert reduced(31_000, 100) == 0


def test_bad_quotes_are_refused(db_session):
    with pytest.raises(ValueError, match="positive"):
        quote(db_session, Zone.IN_DISTRICT, envelopes=0)


# --- deadlines ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("zone", "n"), [(Zone.IN_DISTRICT, 1), (Zone.INTER_DISTRICT, 2), (Zone.INTER_PROVINCE, 3)])
def test_transport_days_by_zone_doubled_with_a_slip(zone, n):
    assert transport_days(zone) == n
    assert transport_days(zone, appointment_slip=True) == 2 * n


def test_transport_days_are_configurable():
    policy = DeadlinePolicy(days={Zone.IN_DISTRICT: 1, Zone.INTER_DISTRICT: 2, Zone.INTER_PROVINCE: 4})
    assert transport_days(Zone.INTER_PROVINCE, policy=policy) == 4


def test_leg_deadline_on_an_ordinary_week():
    d = leg_deadline(at(2026, 3, 2, 10), Zone.INTER_DISTRICT)  # Monday morning
    assert (d.start, d.due) == (date(2026, 3, 2), date(2026, 3, 4))


def test_the_15h_cutoff_moves_j_to_the_next_working_day():
    d = leg_deadline(at(2026, 3, 6, 15, 30), Zone.IN_DISTRICT)  # Friday after 15:00
    assert (d.start, d.due) == (date(2026, 3, 9), date(2026, 3, 10))


def test_leg_deadline_across_tet():
    d = leg_deadline(at(2026, 2, 13, 14), Zone.INTER_DISTRICT)  # last working day before Tết 2026
    assert d.start == date(2026, 2, 13)
    assert d.due == date(2026, 2, 24)  # Tết 16-20/02 and the weekends are skipped
    assert "Lunar New Year" in d.explanation or "Tết" in d.explanation


def test_leg_deadline_with_slip_across_tet():
    d = leg_deadline(at(2026, 2, 12, 9), Zone.INTER_DISTRICT, appointment_slip=True)
    assert d.days == 4
    assert d.due == date(2026, 2, 25)


def test_a_substituted_saturday_is_a_working_day_and_its_monday_is_not():
    # 22/08/2026 (Saturday) is worked so that 31/08 can be taken off before National Day.
    d = leg_deadline(at(2026, 8, 21, 16), Zone.IN_DISTRICT)  # Friday after the cut-off: J = Saturday 22/08
    assert d.start == date(2026, 8, 22)
    assert d.due == date(2026, 8, 24)
    d = leg_deadline(at(2026, 8, 28, 9), Zone.INTER_DISTRICT)  # Friday before 31/08, 01-02/09
    assert d.due == date(2026, 9, 4)


def test_processing_deadline_counts_from_the_handover():
    d = processing_deadline(at(2026, 2, 11, 10), 3)
    assert (d.start, d.due) == (date(2026, 2, 11), date(2026, 2, 23))
    assert d.rule == "processing"


def test_processing_deadline_restarts_after_a_supplement():
    first = processing_deadline(at(2026, 3, 2, 10), 5)
    again = processing_deadline(at(2026, 3, 2, 10), 5, supplement_completed_at=at(2026, 3, 5, 16))
    assert first.due == date(2026, 3, 9)
    assert again.rule == "processing_restarted"
    assert again.start == date(2026, 3, 6)  # after 15:00 on Thursday
    assert again.due == date(2026, 3, 13)
    assert "bổ sung" in again.explanation


def test_zero_day_procedures_are_due_on_j():
    assert processing_deadline(at(2026, 3, 7, 10), 0).due == date(2026, 3, 9)  # Saturday -> Monday
