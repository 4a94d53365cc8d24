"""Reference data: the package-derived hierarchy, the JSON catalogues, idempotency and validation errors."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from logistics.agencies.models import (
    AdminUnit,
    AdminUnitSuccessor,
    Agency,
    AgencyKind,
    PostOffice,
    PostOfficeArea,
    Procedure,
    ProcedureDocument,
    Scheme,
    UnitLevel,
)
from logistics.agencies.refdata import (
    DEFAULT_DATA_DIR,
    ReferenceDataError,
    load_reference_data,
    read_package_units,
)
from logistics.fees.models import FeeReduction, TariffRate, TariffSurcharge, Zone

TABLES: dict[str, Any] = {
    "admin_units": AdminUnit,
    "agencies": Agency,
    "procedures": Procedure,
    "post_offices": PostOffice,
    "tariff_rates": TariffRate,
    "tariff_surcharges": TariffSurcharge,
    "fee_reductions": FeeReduction,
}


@pytest.fixture
def loaded(db_session: Session) -> dict[str, int]:
    """Load (again: the conftest loads once per backend) and hand back the counts."""
    return load_reference_data(db_session)


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A private copy of config/data that a test may break."""
    target = tmp_path / "data"
    target.mkdir()
    for path in DEFAULT_DATA_DIR.glob("*.json"):
        shutil.copy(path, target / path.name)
    return target


def _edit(path: Path, change: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _unit(session: Session, scheme: Scheme, level: UnitLevel, name: str, parent: AdminUnit | None = None) -> AdminUnit:
    stmt = select(AdminUnit).where(AdminUnit.scheme == scheme, AdminUnit.level == level, AdminUnit.name == name)
    if parent is not None:
        stmt = stmt.where(AdminUnit.parent_id == parent.id)
    return db_one(session, stmt)


def db_one(session: Session, stmt: Any) -> Any:
    return session.scalars(stmt).unique().one()


def _count(session: Session, stmt: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


# ------------------------------------------------------------------------------------------ the package


def test_package_reader_reads_the_merged_province() -> None:
    package = read_package_units()
    assert len(package.by_scheme_level(Scheme.V2025, UnitLevel.PROVINCE)) == 1
    assert len(package.by_scheme_level(Scheme.V2025, UnitLevel.COMMUNE)) == 64
    legacy_provinces = {u.name for u in package.by_scheme_level(Scheme.LEGACY, UnitLevel.PROVINCE)}
    assert legacy_provinces == {"Tỉnh Cà Mau", "Tỉnh Bạc Liêu"}
    legacy_communes = package.by_scheme_level(Scheme.LEGACY, UnitLevel.COMMUNE)
    # Every legacy commune has exactly one main successor, so an old address always resolves.
    mains = [s.legacy_code for s in package.successors if s.is_main]
    assert sorted(mains) == sorted(u.code for u in legacy_communes)
    # Some communes were split: they have more than one successor.
    assert len(package.successors) > len(legacy_communes)


# ------------------------------------------------------------------------------------------ counts


def test_counts(db_session: Session, loaded: dict[str, int]) -> None:
    province = _unit(db_session, Scheme.V2025, UnitLevel.PROVINCE, "Tỉnh Cà Mau")
    assert province.code == "96"
    communes = select(AdminUnit).where(AdminUnit.scheme == Scheme.V2025, AdminUnit.level == UnitLevel.COMMUNE,
                                       AdminUnit.parent_id == province.id)
    assert _count(db_session, communes) == 64

    legacy_ca_mau = _unit(db_session, Scheme.LEGACY, UnitLevel.PROVINCE, "Tỉnh Cà Mau")
    legacy_bac_lieu = _unit(db_session, Scheme.LEGACY, UnitLevel.PROVINCE, "Tỉnh Bạc Liêu")
    districts = select(AdminUnit).where(AdminUnit.level == UnitLevel.DISTRICT)
    assert _count(db_session, districts.where(AdminUnit.parent_id == legacy_ca_mau.id)) == 9
    assert _count(db_session, districts.where(AdminUnit.parent_id == legacy_bac_lieu.id)) == 7
    district = aliased(AdminUnit)
    legacy_ca_mau_communes = (
        select(AdminUnit)
        .join(district, AdminUnit.parent_id == district.id)
        .where(AdminUnit.level == UnitLevel.COMMUNE, district.parent_id == legacy_ca_mau.id)
    )
    assert _count(db_session, legacy_ca_mau_communes) == 100

    assert _count(db_session, select(Procedure)) >= 80
    assert _count(db_session, select(Procedure).where(Procedure.by_post.is_(False))) >= 8
    assert _count(db_session, select(PostOffice)) >= 12
    assert loaded["admin_units"] == 1 + 64 + 2 + 16 + 164
    for table, model in TABLES.items():
        assert _count(db_session, select(model)) == loaded[table], table


def test_every_level_and_in_person_reason(db_session: Session, loaded: dict[str, int]) -> None:
    assert loaded["procedures"] >= 80
    procedures = db_session.scalars(select(Procedure)).all()
    assert {p.level.value for p in procedures} == {"province", "district", "commune"}
    for p in procedures:
        assert p.by_post or p.in_person_reason, p.code
        assert p.gov_fee_vnd >= 0


# ------------------------------------------------------------------------------------------ idempotency


def _snapshot(session: Session) -> dict[str, set[tuple[Any, ...]]]:
    snap: dict[str, set[tuple[Any, ...]]] = {
        name: {tuple(row) for row in session.execute(select(model.id, *_natural_key(model)))}
        for name, model in TABLES.items()
    }
    snap["procedure_documents"] = {tuple(r) for r in session.execute(select(ProcedureDocument.id))}
    snap["admin_unit_successors"] = {
        tuple(r) for r in session.execute(
            select(AdminUnitSuccessor.legacy_unit_id, AdminUnitSuccessor.unit_id, AdminUnitSuccessor.is_main)
        )
    }
    snap["post_office_areas"] = {
        tuple(r) for r in session.execute(select(PostOfficeArea.post_office_id, PostOfficeArea.admin_unit_id))
    }
    return snap


def _natural_key(model: Any) -> tuple[Any, ...]:
    if model is AdminUnit:
        return (AdminUnit.scheme, AdminUnit.level, AdminUnit.code)
    if model is TariffRate:
        return (TariffRate.zone, TariffRate.max_weight_g)
    return (model.code,)


def test_rerun_is_idempotent(db_session: Session, loaded: dict[str, int]) -> None:
    before = _snapshot(db_session)
    again = load_reference_data(db_session)
    assert again == loaded
    after = _snapshot(db_session)
    assert after == before  # same rows, same ids: nothing inserted, nothing replaced
    for table, rows in after.items():
        assert len(rows) == loaded[table], table


def test_changed_entry_is_updated_in_place(db_session: Session, loaded: dict[str, int], data_copy: Path) -> None:
    assert loaded["agencies"] > 0
    center = db_one(db_session, select(Agency).where(Agency.code == "000.00.01.H12"))
    center_id = center.id
    birth = db_one(db_session, select(Procedure).where(Procedure.code == "1.001193"))
    birth_id, birth_docs = birth.id, len(birth.documents)

    def rename(data: dict[str, Any]) -> None:
        data["agencies"][0]["name"] = "Trung tâm Phục vụ hành chính công tỉnh Cà Mau (đã đổi)"

    def shorten(data: dict[str, Any]) -> None:
        entry = next(p for p in data["procedures"] if p["code"] == "1.001193")
        entry["documents"] = entry["documents"][:1]

    _edit(data_copy / "agencies.json", rename)
    _edit(data_copy / "procedures.json", shorten)
    load_reference_data(db_session, data_copy)

    center = db_one(db_session, select(Agency).where(Agency.code == "000.00.01.H12"))
    assert (center.id, center.name) == (center_id, "Trung tâm Phục vụ hành chính công tỉnh Cà Mau (đã đổi)")
    birth = db_one(db_session, select(Procedure).where(Procedure.code == "1.001193"))
    assert birth.id == birth_id
    assert len(birth.documents) == 1 < birth_docs


def test_commune_moved_to_another_post_office(db_session: Session, loaded: dict[str, int], data_copy: Path) -> None:
    assert loaded["post_office_areas"] == 64
    offices = json.loads((data_copy / "post_offices.json").read_text(encoding="utf-8"))["post_offices"]
    moved = offices[0]["serves"][-1]

    def move(data: dict[str, Any]) -> None:
        data["post_offices"][0]["serves"].remove(moved)
        data["post_offices"][1]["serves"].append(moved)

    _edit(data_copy / "post_offices.json", move)
    counts = load_reference_data(db_session, data_copy)
    assert counts["post_office_areas"] == 64
    serving = db_session.scalars(
        select(PostOffice.code)
        .join(PostOfficeArea, PostOfficeArea.post_office_id == PostOffice.id)
        .join(AdminUnit, AdminUnit.id == PostOfficeArea.admin_unit_id)
        .where(AdminUnit.scheme == Scheme.V2025, AdminUnit.code == moved)
    ).all()
    assert serving == [offices[1]["code"]]


# ------------------------------------------------------------------------------------------ old -> new


def test_phuong_5_of_ca_mau_city_maps_to_tan_thanh(db_session: Session, loaded: dict[str, int]) -> None:
    assert loaded["admin_unit_successors"] > 0
    city = _unit(db_session, Scheme.LEGACY, UnitLevel.DISTRICT, "Thành phố Cà Mau")
    ward5 = _unit(db_session, Scheme.LEGACY, UnitLevel.COMMUNE, "Phường 5", parent=city)
    assert ward5.full_name == "Phường 5, Thành phố Cà Mau, Tỉnh Cà Mau"
    successors = db_session.execute(
        select(AdminUnit.name, AdminUnit.scheme, AdminUnitSuccessor.is_main)
        .join(AdminUnitSuccessor, AdminUnitSuccessor.unit_id == AdminUnit.id)
        .where(AdminUnitSuccessor.legacy_unit_id == ward5.id)
    ).all()
    assert [(name, scheme, main) for name, scheme, main in successors] == [("Phường Tân Thành", Scheme.V2025, True)]


def test_every_legacy_commune_has_one_main_successor(db_session: Session, loaded: dict[str, int]) -> None:
    assert loaded["admin_unit_successors"] >= 164
    legacy = select(AdminUnit.id).where(AdminUnit.scheme == Scheme.LEGACY, AdminUnit.level == UnitLevel.COMMUNE)
    mains = db_session.execute(
        select(AdminUnitSuccessor.legacy_unit_id, func.count())
        .where(AdminUnitSuccessor.is_main.is_(True))
        .group_by(AdminUnitSuccessor.legacy_unit_id)
    ).all()
    assert {lid for lid, n in mains if n == 1} == set(db_session.scalars(legacy))


# ------------------------------------------------------------------------------------------ desks and offices


def test_every_new_commune_has_a_desk_and_one_post_office(db_session: Session, loaded: dict[str, int]) -> None:
    assert loaded["post_office_areas"] == 64
    communes = db_session.scalars(
        select(AdminUnit).where(AdminUnit.scheme == Scheme.V2025, AdminUnit.level == UnitLevel.COMMUNE)
    ).unique().all()
    assert len(communes) == 64
    desks = {
        a.admin_unit_id: a
        for a in db_session.scalars(select(Agency).where(Agency.kind == AgencyKind.COMMUNE_DESK)).unique()
    }
    served = dict(
        db_session.execute(
            select(PostOfficeArea.admin_unit_id, func.count()).group_by(PostOfficeArea.admin_unit_id)
        ).all()
    )
    for commune in communes:
        desk = desks.get(commune.id)
        assert desk is not None, commune.name
        assert desk.active
        assert commune.name.split(" ", 1)[1] in desk.name
        assert served.get(commune.id) == 1, commune.name


def test_legacy_district_desks_are_kept_inactive(db_session: Session, loaded: dict[str, int]) -> None:
    assert loaded["agencies"] >= 1 + 16 + 64
    district_desks = db_session.scalars(select(Agency).where(Agency.kind == AgencyKind.DISTRICT_DESK)).unique().all()
    assert len(district_desks) == 16
    assert all(not d.active and d.admin_unit.level == UnitLevel.DISTRICT for d in district_desks)
    active_centres = db_session.scalars(
        select(Agency).where(Agency.kind == AgencyKind.PROVINCE_CENTER, Agency.active.is_(True))
    ).unique().all()
    assert [a.code for a in active_centres] == ["000.00.01.H12"]
    assert active_centres[0].admin_unit.name == "Phường Tân Thành"


def test_every_procedure_has_a_checklist(db_session: Session, loaded: dict[str, int]) -> None:
    assert loaded["procedure_documents"] >= loaded["procedures"]
    without = select(Procedure).where(~Procedure.documents.any())
    assert _count(db_session, without) == 0
    marriage = db_one(db_session, select(Procedure).where(Procedure.code == "1.000894"))
    assert marriage.by_post is False
    assert marriage.in_person_reason
    assert "có mặt" in marriage.in_person_reason


def test_tariff(db_session: Session, loaded: dict[str, int]) -> None:
    assert loaded["tariff_rates"] == 18
    first_tier = dict(
        db_session.execute(select(TariffRate.zone, TariffRate.price_vnd).where(TariffRate.max_weight_g == 100)).all()
    )
    assert first_tier == {Zone.IN_DISTRICT: 26000, Zone.INTER_DISTRICT: 30000, Zone.INTER_PROVINCE: 31000}
    remit = db_one(db_session, select(TariffSurcharge).where(TariffSurcharge.code == "fee_remittance"))
    assert remit.amount_vnd == 8000
    mother = db_one(db_session, select(FeeReduction).where(FeeReduction.code == "heroic_mother"))
    assert mother.percent == 100
    assert mother.legal_basis


# ------------------------------------------------------------------------------------------ text


def test_diacritics_round_trip(db_session: Session, loaded: dict[str, int]) -> None:
    assert loaded["admin_units"] > 0
    db_session.expunge_all()
    unit = _unit(db_session, Scheme.V2025, UnitLevel.COMMUNE, "Phường Tân Thành")
    assert unit.name == "Phường Tân Thành"
    assert unicodedata.is_normalized("NFC", unit.name)
    assert unit.short_name == "Tân Thành"
    assert unit.kind == "Phường"
    assert unit.search_key == "phuongtanthanh"
    assert unit.lat is not None
    assert unit.lon is not None
    assert 8.5 < unit.lat < 9.7
    assert 104.5 < unit.lon < 106.0
    by_key = db_session.scalars(
        select(AdminUnit.name).where(AdminUnit.search_key == "xadatmui", AdminUnit.scheme == Scheme.V2025)
    ).all()
    assert by_key == ["Xã Đất Mũi"]
    tran = db_one(db_session, select(Procedure).where(Procedure.code == "2.000635"))
    assert tran.name == "Cấp bản sao trích lục hộ tịch"


# ------------------------------------------------------------------------------------------ validation


def test_malformed_entry_names_file_and_entry(db_session: Session, data_copy: Path) -> None:
    before = _count(db_session, select(Procedure))

    def break_form(data: dict[str, Any]) -> None:
        data["procedures"][3]["documents"][0]["form"] = "photocopy"

    _edit(data_copy / "procedures.json", break_form)
    with pytest.raises(ReferenceDataError) as excinfo:
        load_reference_data(db_session, data_copy)
    message = str(excinfo.value)
    assert "procedures.json" in message
    assert "procedures[3]" in message
    assert "documents[0]" in message
    assert "'form'" in message
    assert "photocopy" in message
    assert _count(db_session, select(Procedure)) == before  # validated before anything was written


@pytest.mark.parametrize(
    ("file", "change", "expected"),
    [
        ("agencies.json", lambda d: d["agencies"][5].pop("name"),
         r"agencies\.json: agencies\[5\].*missing field 'name'"),
        ("agencies.json", lambda d: d["agencies"][2]["unit"].update(code="99999"),
         r"agencies\[2\].*unit.*no administrative unit '99999'"),
        ("procedures.json", lambda d: d["procedures"][0].update(processing_days="ba"),
         r"procedures\[0\] \(code '1\.001193'\).*processing_days"),
        ("procedures.json", lambda d: d["procedures"][1].update(by_post=False, in_person_reason=None),
         r"procedures\[1\].*in_person_reason"),
        ("procedures.json", lambda d: d["procedures"].append(dict(d["procedures"][0])), r"duplicate procedure code"),
        ("post_offices.json", lambda d: d["post_offices"][1]["serves"].append(d["post_offices"][0]["serves"][0]),
         r"post_offices\[1\].*already served"),
        ("post_offices.json", lambda d: d["post_offices"][0]["serves"].pop(), r"served by no post office"),
        ("tariff.json", lambda d: d["rates"][0].update(zone="moon"), r"tariff\.json: rates\[0\].*'moon'"),
    ],
)
def test_validation_errors(db_session: Session, data_copy: Path, file: str, change: Any, expected: str) -> None:
    _edit(data_copy / file, change)
    with pytest.raises(ReferenceDataError, match=expected):
        load_reference_data(db_session, data_copy)


def test_invalid_json_names_the_line(db_session: Session, data_copy: Path) -> None:
    path = data_copy / "tariff.json"
    path.write_text('{\n  "rates": [\n    {"zone": "in_district",,}\n  ]\n}\n', encoding="utf-8")
    with pytest.raises(ReferenceDataError, match=r"tariff\.json: line 3 column"):
        load_reference_data(db_session, data_copy)
