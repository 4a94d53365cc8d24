"""Which agency (every procedure level, old and new structure, Decree 118), which post office, which zone."""

from datetime import date

import pytest
from geopy.distance import geodesic
from geopy.location import Location

from logistics.agencies.models import AgencyKind, ProcedureLevel, Scheme
from logistics.fees.models import Zone
from logistics.orders.errors import RoutingError
from logistics.routing.gazetteer import load_gazetteer
from logistics.routing.geocoding import OfflineGeocoder, make_geocoder
from logistics.routing.services import RoutingPolicy, resolve_agency, serving_post_office, zone_between


@pytest.fixture
def gaz(db_session):
    return load_gazetteer(db_session)


def commune(gaz, name):
    return next(u for u in gaz.communes_2025() if u.name == name)


def legacy(gaz, name, district):
    return next(u for u in gaz.units.values() if u.scheme == Scheme.LEGACY and u.name == name
                and u.parent_id and gaz.units[u.parent_id].name == district)


def route(gaz, level, unit, **kw):
    kind = {ProcedureLevel.PROVINCE: AgencyKind.PROVINCE_CENTER, ProcedureLevel.DISTRICT: AgencyKind.DISTRICT_DESK,
            ProcedureLevel.COMMUNE: AgencyKind.COMMUNE_DESK}[level]
    return resolve_agency(gaz, procedure_code="1.000000", level=level, agency_kind=kind, unit=unit, **kw)


def test_commune_level_goes_to_the_applicants_commune_desk(gaz):
    unit = commune(gaz, "Xã Khánh Bình")
    desk, decision = route(gaz, ProcedureLevel.COMMUNE, unit)
    assert desk.kind == AgencyKind.COMMUNE_DESK.value and desk.unit_id == unit.id
    assert decision.rule == "commune_desk_of_applicant"
    assert "Xã Khánh Bình" in decision.explanation
    assert decision.inputs["commune"] == unit.code


def test_province_level_goes_to_the_provincial_center(gaz):
    desk, decision = route(gaz, ProcedureLevel.PROVINCE, commune(gaz, "Phường Bạc Liêu"))
    assert desk.kind == AgencyKind.PROVINCE_CENTER.value and desk.active
    assert desk.code == "000.00.01.H12"  # not the former Bạc Liêu center, closed since 1/7/2025
    assert decision.rule == "province_level_to_province_center"


def test_former_district_level_goes_to_the_commune_desk_by_default(gaz):
    unit = commune(gaz, "Xã Đầm Dơi")
    desk, decision = route(gaz, ProcedureLevel.DISTRICT, unit)
    assert desk.unit_id == unit.id
    assert decision.rule == "former_district_level_to_commune_desk"
    assert "huyện" in decision.explanation


def test_former_district_level_can_be_sent_to_the_province(gaz):
    policy = RoutingPolicy(former_district_to=AgencyKind.PROVINCE_CENTER)
    desk, decision = route(gaz, ProcedureLevel.DISTRICT, commune(gaz, "Xã Đầm Dơi"), policy=policy)
    assert desk.kind == AgencyKind.PROVINCE_CENTER.value
    assert decision.rule == "former_district_level_to_province_center"


def test_a_procedure_override_wins(gaz):
    policy = RoutingPolicy(procedure_overrides={"1.000000": AgencyKind.PROVINCE_CENTER})
    desk, decision = route(gaz, ProcedureLevel.COMMUNE, commune(gaz, "Xã Đầm Dơi"), policy=policy)
    assert desk.kind == AgencyKind.PROVINCE_CENTER.value
    assert decision.rule == "procedure_override"


def test_an_old_address_is_explained_with_its_new_unit(gaz):
    old = legacy(gaz, "Phường 5", "Thành phố Cà Mau")
    new = gaz.main_successor(old.id)
    desk, decision = route(gaz, ProcedureLevel.COMMUNE, new, legacy=old)
    assert desk.unit_id == new.id
    assert "Phường 5" in decision.explanation and "Phường Tân Thành" in decision.explanation
    assert decision.inputs["legacy_commune"] == old.code


@pytest.mark.parametrize(("level", "rule", "kind"), [
    (ProcedureLevel.PROVINCE, "legacy_province_center", AgencyKind.PROVINCE_CENTER),
    (ProcedureLevel.DISTRICT, "legacy_district_desk", AgencyKind.DISTRICT_DESK),
    (ProcedureLevel.COMMUNE, "legacy_commune_to_successor_desk", AgencyKind.COMMUNE_DESK),
])
def test_before_july_2025_the_old_structure_applies(gaz, level, rule, kind):
    old = legacy(gaz, "Xã Vĩnh Trạch Đông", "Thành phố Bạc Liêu")
    desk, decision = route(gaz, level, gaz.main_successor(old.id), legacy=old, on=date(2025, 3, 3))
    assert decision.rule == rule
    assert desk.kind == kind.value
    if level == ProcedureLevel.PROVINCE:
        assert desk.code.endswith("H03")  # Bạc Liêu's own center then
    if level == ProcedureLevel.DISTRICT:
        assert gaz.units[desk.unit_id].name == "Thành phố Bạc Liêu"


def test_decree_118_sends_to_the_nearest_competent_desk(gaz):
    home = commune(gaz, "Phường Tân Thành")
    neighbour = commune(gaz, "Phường An Xuyên")
    policy = RoutingPolicy(any_desk_in_province=True)
    # Standing at the neighbouring ward's desk, the nearest competent desk is that ward's.
    desk_ref = next(a for a in gaz.active_agencies(AgencyKind.COMMUNE_DESK) if a.unit_id == neighbour.id)
    desk, decision = route(gaz, ProcedureLevel.COMMUNE, home, policy=policy, origin=desk_ref.point)
    assert desk.unit_id == neighbour.id
    assert decision.rule == "nearest_competent_desk_decree_118"
    assert "118/2025" in decision.explanation
    # Without the option the applicant's own ward receives it.
    own, _ = route(gaz, ProcedureLevel.COMMUNE, home, origin=desk_ref.point)
    assert own.unit_id == home.id


def test_nearest_desk_is_really_the_nearest(gaz):
    point = (9.0, 105.1)
    desk, _ = route(gaz, ProcedureLevel.COMMUNE, commune(gaz, "Phường Tân Thành"),
                    policy=RoutingPolicy(any_desk_in_province=True), origin=point)
    best = min(geodesic(point, d.point).meters for d in gaz.active_agencies(AgencyKind.COMMUNE_DESK))
    assert geodesic(point, desk.point).meters == pytest.approx(best)


def test_every_commune_has_a_desk_and_a_post_office(gaz):
    for unit in gaz.communes_2025():
        for level in ProcedureLevel:
            route(gaz, level, unit)
        office, decision = serving_post_office(gaz, unit)
        assert office.active
        assert decision.rule == "service_area"


def test_post_office_falls_back_to_the_nearest(gaz):
    unit = commune(gaz, "Xã Đất Mũi")
    saved = gaz.office_by_unit.pop(unit.id)
    try:
        office, decision = serving_post_office(gaz, unit)
    finally:
        gaz.office_by_unit[unit.id] = saved
    assert decision.rule == "nearest_post_office"
    nearest = min((o for o in gaz.post_offices.values() if o.active),
                  key=lambda o: geodesic(unit.point, o.point).meters)
    assert office.id == nearest.id


def test_zones(gaz):
    unit = commune(gaz, "Xã Khánh Bình")
    own, _ = route(gaz, ProcedureLevel.COMMUNE, unit)
    center, _ = route(gaz, ProcedureLevel.PROVINCE, unit)
    assert zone_between(gaz, unit, own)[0] == Zone.IN_DISTRICT
    assert zone_between(gaz, unit, center)[0] == Zone.INTER_DISTRICT
    # Counted on the former districts instead: Khánh Bình and Sông Đốc were both in Trần Văn Thời.
    song_doc_desk = next(a for a in gaz.active_agencies(AgencyKind.COMMUNE_DESK)
                         if a.unit_id == commune(gaz, "Xã Sông Đốc").id)
    policy = RoutingPolicy(in_district_basis="former_district")
    assert zone_between(gaz, unit, song_doc_desk)[0] == Zone.INTER_DISTRICT
    assert zone_between(gaz, unit, song_doc_desk, policy=policy)[0] == Zone.IN_DISTRICT


def test_no_desk_is_a_routing_error(gaz):
    unit = commune(gaz, "Xã Khánh Bình")
    saved = dict(gaz.agencies)
    try:
        for key, desk in saved.items():
            if desk.unit_id == unit.id:
                del gaz.agencies[key]
        with pytest.raises(RoutingError):
            route(gaz, ProcedureLevel.COMMUNE, unit)
    finally:
        gaz.agencies.update(saved)


# --- geocoding ------------------------------------------------------------------------------------------


def test_offline_geocoder_returns_geopy_locations_with_the_unit_code(gaz):
    geo = OfflineGeocoder(gaz)
    loc = geo.geocode("so 3 luu tan tai p5 tp ca mau")
    assert isinstance(loc, Location)
    assert loc.raw["code"] == commune(gaz, "Phường Tân Thành").code
    assert loc.raw["legacy_code"] == legacy(gaz, "Phường 5", "Thành phố Cà Mau").code
    assert "Phường Tân Thành" in loc.address
    assert geo.geocode("Phường 5") is None  # ambiguous: no single answer
    many = geo.geocode("Phường 5", exactly_one=False)
    assert len({loc.raw["code"] for loc in many}) >= 2


def test_offline_geocoder_knows_agencies_and_post_offices(gaz):
    loc = OfflineGeocoder(gaz).geocode("Bưu điện tỉnh Cà Mau")
    assert loc.raw["type"] == "post_office"
    assert loc.raw["code"] == "98000"


def test_offline_reverse_finds_the_commune(gaz):
    unit = commune(gaz, "Xã Đất Mũi")
    loc = OfflineGeocoder(gaz).reverse(unit.point)
    assert loc.raw["code"] == unit.code


def test_nominatim_unreachable_falls_back_to_offline(gaz):
    geo = make_geocoder(gaz, "nominatim", nominatim_domain="http://127.0.0.1:9", min_delay_seconds=0)
    loc = geo.geocode("Phường Tân Thành, Cà Mau")
    assert loc.raw["source"] == "gazetteer"
    assert loc.raw["code"] == commune(gaz, "Phường Tân Thành").code
    assert geo.fallbacks == 1


def test_nominatim_answer_is_snapped_to_a_commune_and_cached(gaz):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    unit = commune(gaz, "Xã Sông Đốc")
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = json.dumps([{"lat": str(unit.lat + 0.001), "lon": str(unit.lon), "display_name": "Sông Đốc, Cà Mau",
                                "place_id": 1}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        geo = make_geocoder(gaz, "nominatim", nominatim_domain=f"http://127.0.0.1:{server.server_port}",
                            min_delay_seconds=0)
        first = geo.geocode("Thị trấn Sông Đốc")
        second = geo.geocode("Thị trấn Sông Đốc")
    finally:
        server.shutdown()
        server.server_close()
    assert first.raw["source"] == "nominatim"
    assert first.raw["code"] == unit.code
    assert second.raw["code"] == unit.code
    assert len(hits) == 1


def test_unknown_geocoder_setting_is_refused(gaz):
    with pytest.raises(ValueError, match="unknown geocoder"):
        make_geocoder(gaz, "google")
