import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from config.queue import OutboxMessage
from logistics.agencies.models import AdminUnit, AgencyKind, ProcedureLevel, Scheme, UnitLevel
from logistics.labels.s10 import parse_item_code
from logistics.orders.errors import ValidationError
from logistics.orders.models import Channel, Dossier, Leg, Order, OrderState
from tests.orders.helpers import commune, procedure, valid_request
from tracking.models import EventKind, TrackingEvent
from tracking.services import book_pickup, verify_chain


def _book(session, **overrides):
    return book_pickup(session, valid_request(session, **overrides), indicator="RA", channel=Channel.API)


def _counts(session):
    return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Dossier, Order, TrackingEvent,
                                                                             OutboxMessage))


def test_booking_creates_dossier_order_event_and_label_job(db_session):
    order, created = _book(db_session)
    assert created
    assert order.leg == Leg.PICKUP
    assert order.state == OrderState.CREATED
    code = parse_item_code(order.item_code)
    assert code.indicator == "RA"
    assert code.country == "VN"
    assert order.dossier.applicant_phone == "0912345678"
    assert order.dossier.applicant_name == "Nguyễn Thị Hồng Nhung"
    events = db_session.scalars(select(TrackingEvent).where(TrackingEvent.order_id == order.id)).all()
    assert [e.kind for e in events] == [EventKind.CREATED]
    assert verify_chain(db_session, order.id) == []
    jobs = db_session.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key == f"label:{order.id}")).all()
    assert len(jobs) == 1
    assert jobs[0].args == {"order_id": order.id}
    assert order.post_office is not None
    assert order.postage_vnd > 0


def test_commune_procedure_goes_to_the_applicants_commune_desk(db_session):
    order, _ = _book(db_session, procedure_code=procedure(db_session, level=ProcedureLevel.COMMUNE).code)
    agency = order.dossier.agency
    assert agency.kind == AgencyKind.COMMUNE_DESK
    assert agency.admin_unit_id == commune(db_session).id
    assert order.dossier.routing["rule"] == "commune_desk_of_applicant"
    assert order.dossier.routing["explanation"]


def test_province_procedure_goes_to_the_province_center(db_session):
    order, _ = _book(db_session, procedure_code=procedure(db_session, level=ProcedureLevel.PROVINCE).code)
    assert order.dossier.agency.kind == AgencyKind.PROVINCE_CENTER
    assert order.dossier.routing["rule"] == "province_level_to_province_center"


def test_a_legacy_commune_code_resolves_to_its_2025_successor(db_session):
    city = aliased(AdminUnit)
    old_ward5 = db_session.scalars(
        select(AdminUnit).join(city, AdminUnit.parent_id == city.id).where(
            AdminUnit.scheme == Scheme.LEGACY, AdminUnit.level == UnitLevel.COMMUNE, AdminUnit.name == "Phường 5",
            city.name == "Thành phố Cà Mau")
    ).one()
    order, _ = _book(db_session, commune_code=old_ward5.code)
    assert order.dossier.admin_unit.name == "Phường Tân Thành"


def test_every_bad_field_is_reported_at_once_and_nothing_is_written(db_session):
    before = _counts(db_session)
    with pytest.raises(ValidationError) as err:
        _book(db_session, applicant_name="  ", phone="12345", address="", commune_code="99999",
              procedure_code="NO-SUCH", service_form="teleport", envelopes=0)
    assert set(err.value.errors) == {"applicant_name", "phone", "address", "commune_code", "procedure_code",
                                     "service_form", "envelopes"}
    assert "điện thoại" in err.value.errors["phone"]
    assert _counts(db_session) == before


def test_in_person_procedures_are_refused_with_the_reason(db_session):
    in_person = procedure(db_session, by_post=False)
    before = _counts(db_session)
    with pytest.raises(ValidationError) as err:
        _book(db_session, procedure_code=in_person.code)
    assert "không nhận qua bưu chính" in err.value.errors["procedure_code"]
    assert _counts(db_session) == before


@pytest.mark.parametrize("envelopes", ["abc", 2.5, True, 21, -1, None])
def test_envelopes_must_be_a_small_whole_number(db_session, envelopes):
    with pytest.raises(ValidationError) as err:
        _book(db_session, envelopes=envelopes)
    assert "envelopes" in err.value.errors


def test_overlong_and_non_string_fields_are_refused(db_session):
    with pytest.raises(ValidationError) as err:
        _book(db_session, applicant_name="A" * 201, address=["not", "text"], notes="x" * 1001)
    assert set(err.value.errors) == {"applicant_name", "address", "notes"}


def test_external_ref_makes_creation_idempotent(db_session):
    first, created1 = _book(db_session, external_ref="MC-2026-0001")
    second, created2 = _book(db_session, external_ref="MC-2026-0001")
    assert (created1, created2) == (True, False)
    assert first.id == second.id
    assert db_session.scalar(select(func.count(Dossier.id)).where(Dossier.external_ref == "MC-2026-0001")) == 1


def test_item_codes_are_distinct_and_valid(db_session):
    codes = {_book(db_session)[0].item_code for _ in range(20)}
    assert len(codes) == 20
    for code in codes:
        parse_item_code(code)


def test_postage_doubles_for_both_ways_and_reduction_applies(db_session):
    one_way, _ = _book(db_session, service_form="send_only")
    both, _ = _book(db_session, service_form="both")
    assert both.postage_vnd == 2 * one_way.postage_vnd
    from logistics.fees.models import FeeReduction

    half = db_session.scalars(select(FeeReduction).where(FeeReduction.percent == 50)).first()
    reduced, _ = _book(db_session, service_form="send_only", reduction_code=half.code)
    assert reduced.postage_vnd == one_way.postage_vnd // 2
