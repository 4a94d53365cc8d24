# Copyright 2025 DossierPost contributors. MIT licence.

"""Generate ``agencies.json`` and ``post_offices.json`` from the ``vietnamadminunits`` package.

Why a generator: the 64 commune desks and the areas of the post offices follow the administrative units, which
the package maintains (names, GSO codes, centroids). Typing them by hand would copy the package and drift from
it; instead this script derives them, and the few facts the package cannot know (which legacy ward was a
district's seat, which post offices exist, their postcodes and street addresses) are the short tables below.
The loader (``logistics.agencies.refdata``) reads only the JSON, so managers may still edit it by hand; rerun
this script after a package upgrade and review the diff.

Usage, from the repository root::

    .venv/bin/python -m config.data.build_agencies          # rewrite both files
    .venv/bin/python -m config.data.build_agencies --check  # exit 1 if the files are not up to date

Post-office areas: every 2025 commune is served by exactly one office: the office located in the commune
when there is one, otherwise the nearest office by geodesic distance between the office and the commune's
centroid.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geopy.distance import geodesic

from logistics.agencies.models import Scheme, UnitLevel
from logistics.agencies.refdata import PackageUnits, UnitRecord, read_package_units

HERE = Path(__file__).resolve().parent

# National agency-code suffix (QCVN 102:2016/BTTTT, level-1 code of the province): H12 Cà Mau. H03 for the
# former Bạc Liêu follows the same alphabetical list but is not verified; see AGENCY_NOTE.
PROVINCE_AGENCY_SUFFIX = {"96": "H12", "95": "H03"}

AGENCY_NOTE = (
    "Bàn tiếp nhận một cửa tỉnh Cà Mau (sau sáp nhập 1/7/2025). Sinh bởi config/data/build_agencies.py từ gói "
    "vietnamadminunits (mã GSO, tọa độ trọng tâm đơn vị hành chính). Mã cơ quan theo dạng QCVN 102:2016 "
    "'NNN.NN.NN.Hxx' (H12 = Cà Mau; H03 = Bạc Liêu cũ, chưa đối chiếu), nhưng phần đầu do dự án tự quy ước, "
    "CHƯA đối chiếu danh mục mã định danh chính thức: Trung tâm PVHCC tỉnh = 000.00.01.H12; Bộ phận Một cửa "
    "cấp huyện cũ = 000.00.<2 số cuối mã GSO huyện>.Hxx; Trung tâm PVHCC xã/phường = <3 số đầu mã GSO "
    "xã>.<2 số cuối>.90.H12. Địa chỉ trụ sở mang tính mô tả (chưa xác minh số nhà); tọa độ bàn cấp huyện là "
    "trọng tâm thị trấn/phường nơi đặt trụ sở huyện cũ, bàn cấp xã là trọng tâm xã/phường mới. Số điện thoại "
    "để null khi chưa xác minh. Bàn cấp huyện và Trung tâm tỉnh Bạc Liêu cũ: active=false từ 1/7/2025, giữ để "
    "tra cứu địa chỉ cũ và lịch sử hồ sơ."
)

POST_OFFICE_NOTE = (
    "Bưu cục phục vụ dịch vụ bưu chính công ích (hồ sơ TTHC) tỉnh Cà Mau sau sáp nhập. Sinh bởi "
    "config/data/build_agencies.py. Mã bưu cục: mã bưu chính quốc gia 5 số (đầu số 98 = Cà Mau, 97 = Bạc Liêu "
    "cũ theo Quyết định 2475/QĐ-BTTTT); các số sau do dự án gán, CHƯA đối chiếu mã bưu cục của VNPost. Địa chỉ "
    "mang tính mô tả, chưa xác minh số nhà; điện thoại để null. 'serves': mỗi xã/phường mới do đúng một bưu "
    "cục phục vụ: bưu cục đặt tại xã đó, nếu không thì bưu cục gần trọng tâm xã nhất (khoảng cách trắc địa)."
)

# Where each legacy district's People's Committee sat: the package key of its seat ward/town (the package
# does not record seats). The district desk sits there; so does the district post office.
DISTRICT_SEATS = {
    "964": "phuong9",  # Thành phố Cà Mau
    "966": "thitranuminh",
    "967": "thitranthoibinh",
    "968": "thitrantranvanthoi",
    "969": "thitrancainuoc",
    "970": "thitrandamdoi",
    "971": "thitrannamcan",
    "972": "thitrancaidoivam",
    "973": "thitranrachgoc",
    "954": "phuong3",  # Thành phố Bạc Liêu
    "956": "thitranngandua",
    "957": "thitranphuoclong",
    "958": "thitranchauhung",
    "959": "phuong1",  # Thị xã Giá Rai
    "960": "thitranganhhao",
    "961": "thitranhoabinh",
}


@dataclass(frozen=True)
class Office:
    """A post office the package cannot know about: postcode, name, street address, and its site."""

    code: str
    name: str
    address: str
    site: str  # "<legacy district code>/<seat or ward key>" of the legacy ward it stands in


POST_OFFICES = (
    Office("98000", "Bưu điện tỉnh Cà Mau", "Đường Lưu Tấn Tài, phường Tân Thành (Phường 5 cũ)",
           "964/phuong5"),
    Office("98100", "Bưu điện phường An Xuyên", "Đường Ngô Quyền, phường An Xuyên (Phường 9 cũ)",
           "964/phuong9"),
    Office("98120", "Bưu điện phường Lý Văn Lâm", "Đường Lý Văn Lâm, phường Lý Văn Lâm (Phường 8 cũ)",
           "964/phuong8"),
    Office("98200", "Bưu điện U Minh", "Trung tâm xã Nguyễn Phích (thị trấn U Minh cũ)",
           "966/thitranuminh"),
    Office("98300", "Bưu điện Thới Bình", "Trung tâm xã Thới Bình (thị trấn Thới Bình cũ)",
           "967/thitranthoibinh"),
    Office("98400", "Bưu điện Trần Văn Thời", "Trung tâm xã Trần Văn Thời (thị trấn Trần Văn Thời cũ)",
           "968/thitrantranvanthoi"),
    Office("98410", "Bưu điện Sông Đốc", "Trung tâm xã Sông Đốc (thị trấn Sông Đốc cũ)",
           "968/thitransongdoc"),
    Office("98500", "Bưu điện Cái Nước", "Trung tâm xã Cái Nước (thị trấn Cái Nước cũ)",
           "969/thitrancainuoc"),
    Office("98600", "Bưu điện Đầm Dơi", "Trung tâm xã Đầm Dơi (thị trấn Đầm Dơi cũ)",
           "970/thitrandamdoi"),
    Office("98700", "Bưu điện Năm Căn", "Trung tâm xã Năm Căn (thị trấn Năm Căn cũ)",
           "971/thitrannamcan"),
    Office("98800", "Bưu điện Phú Tân", "Trung tâm xã Cái Đôi Vàm (thị trấn Cái Đôi Vàm cũ)",
           "972/thitrancaidoivam"),
    Office("98900", "Bưu điện Ngọc Hiển", "Trung tâm xã Phan Ngọc Hiển (thị trấn Rạch Gốc cũ)",
           "973/thitranrachgoc"),
    Office("97000", "Bưu điện Bạc Liêu", "Đường Trần Phú, phường Bạc Liêu (Phường 3 cũ)",
           "954/phuong3"),
    Office("97200", "Bưu điện Hồng Dân", "Trung tâm xã Hồng Dân (thị trấn Ngan Dừa cũ)",
           "956/thitranngandua"),
    Office("97300", "Bưu điện Phước Long", "Trung tâm xã Phước Long (thị trấn Phước Long cũ)",
           "957/thitranphuoclong"),
    Office("97400", "Bưu điện Vĩnh Lợi", "Trung tâm xã Châu Thới (thị trấn Châu Hưng cũ)",
           "958/thitranchauhung"),
    Office("97500", "Bưu điện Giá Rai", "Quốc lộ 1A, phường Giá Rai (Phường 1 cũ, thị xã Giá Rai)",
           "959/phuong1"),
    Office("97600", "Bưu điện Đông Hải", "Trung tâm xã Gành Hào (thị trấn Gành Hào cũ)",
           "960/thitranganhhao"),
    Office("97700", "Bưu điện Hòa Bình", "Quốc lộ 1A, xã Hòa Bình (thị trấn Hòa Bình cũ)",
           "961/thitranhoabinh"),
)


class Gazetteer:
    """Look-ups over the package's units for this script."""

    def __init__(self, package: PackageUnits) -> None:
        self.package = package
        self.by_code = {(u.scheme, u.code): u for u in package.units}
        self.legacy_by_key = {u.key: u for u in package.by_scheme_level(Scheme.LEGACY, UnitLevel.COMMUNE)}
        self.main_successor = {s.legacy_code: s.new_code for s in package.successors if s.is_main}

    def seat(self, district_code: str, ward_key: str) -> UnitRecord:
        """Return the legacy ward ``ward_key`` of a legacy district."""
        district = self.by_code[Scheme.LEGACY, district_code]
        return self.legacy_by_key[f"{district.key}_{ward_key}"]

    def new_commune_of(self, legacy: UnitRecord) -> UnitRecord:
        """Return the 2025 commune that took the main part of a legacy ward."""
        return self.by_code[Scheme.V2025, self.main_successor[legacy.code]]

    def province_name(self, scheme: Scheme, code: str) -> str:
        """Return the full name of a province ("Tỉnh Cà Mau")."""
        return self.by_code[scheme, code].name


def _lower_kind(unit: UnitRecord) -> str:
    """Write a unit's name as inside a sentence: "Phường Tân Thành" -> "phường Tân Thành".

    Numbered wards keep their capital ("Phường 5"), as they are written in addresses.
    """
    rest = unit.name[len(unit.kind) :]
    if not unit.name.startswith(unit.kind) or rest.strip().isdigit():
        return unit.name
    return unit.kind.lower() + rest


def build_agencies(gaz: Gazetteer) -> dict[str, Any]:
    """Build the provincial centre, the legacy district desks (inactive) and one desk per 2025 commune."""
    package = gaz.package
    province = package.by_scheme_level(Scheme.V2025, UnitLevel.PROVINCE)[0]
    agencies: list[dict[str, Any]] = []

    center_site = gaz.seat("964", "phuong5")
    center_commune = gaz.new_commune_of(center_site)
    agencies.append({
        "code": f"000.00.01.{PROVINCE_AGENCY_SUFFIX[province.code]}",
        "name": f"Trung tâm Phục vụ hành chính công {_lower_kind(province)}",
        "kind": "province_center",
        "address": f"Số 02 Hùng Vương, {_lower_kind(center_commune)} (Phường 5, thành phố Cà Mau cũ), "
        f"{_lower_kind(province)}",
        "phone": None,
        "unit": {"scheme": Scheme.V2025.value, "code": center_commune.code},
        "lat": center_site.lat, "lon": center_site.lon, "active": True,
    })
    for legacy_province in package.by_scheme_level(Scheme.LEGACY, UnitLevel.PROVINCE):
        if legacy_province.code == province.code:
            continue
        # A merged-away province's own centre: closed with the merger, kept for history and old addresses.
        seat = gaz.seat("954", DISTRICT_SEATS["954"])
        agencies.append({
            "code": f"000.00.01.{PROVINCE_AGENCY_SUFFIX[legacy_province.code]}",
            "name": f"Trung tâm Phục vụ hành chính công {_lower_kind(legacy_province)} (trước 1/7/2025)",
            "kind": "province_center",
            "address": f"{_lower_kind(seat).capitalize()}, thành phố Bạc Liêu, {_lower_kind(legacy_province)} "
            f"(nay là {_lower_kind(gaz.new_commune_of(seat))}, {_lower_kind(province)})",
            "phone": None,
            "unit": {"scheme": Scheme.LEGACY.value, "code": legacy_province.code},
            "lat": seat.lat, "lon": seat.lon, "active": False,
        })

    for district in package.by_scheme_level(Scheme.LEGACY, UnitLevel.DISTRICT):
        seat = gaz.seat(district.code, DISTRICT_SEATS[district.code])
        legacy_province = gaz.by_code[Scheme.LEGACY, district.parent_code or ""]
        agencies.append({
            "code": f"000.00.{district.code[-2:]}.{PROVINCE_AGENCY_SUFFIX[legacy_province.code]}",
            "name": f"Bộ phận Một cửa UBND {_lower_kind(district)}",
            "kind": "district_desk",
            "address": f"Trụ sở UBND {_lower_kind(district)}, {_lower_kind(seat)}, {_lower_kind(district)}, "
            f"{_lower_kind(legacy_province)} (nay là {_lower_kind(gaz.new_commune_of(seat))}, "
            f"{_lower_kind(province)})",
            "phone": None,
            "unit": {"scheme": Scheme.LEGACY.value, "code": district.code},
            "lat": seat.lat, "lon": seat.lon, "active": False,
        })

    agencies.extend(
        {
            "code": f"{commune.code[:3]}.{commune.code[3:]}.90.{PROVINCE_AGENCY_SUFFIX[province.code]}",
            "name": f"Trung tâm Phục vụ hành chính công {_lower_kind(commune)}",
            "kind": "commune_desk",
            "address": f"Trụ sở UBND {_lower_kind(commune)}, {_lower_kind(province)}",
            "phone": None,
            "unit": {"scheme": Scheme.V2025.value, "code": commune.code},
            "lat": commune.lat, "lon": commune.lon, "active": True,
        }
        for commune in package.by_scheme_level(Scheme.V2025, UnitLevel.COMMUNE)
    )
    return {"_note": AGENCY_NOTE, "agencies": agencies}


def build_post_offices(gaz: Gazetteer) -> dict[str, Any]:
    """Site the offices above in their legacy wards and give each the 2025 communes it serves."""
    province = gaz.package.by_scheme_level(Scheme.V2025, UnitLevel.PROVINCE)[0]
    sited: list[tuple[Office, UnitRecord, UnitRecord]] = []
    for office in POST_OFFICES:
        district_code, ward_key = office.site.split("/")
        ward = gaz.seat(district_code, ward_key)
        sited.append((office, ward, gaz.new_commune_of(ward)))

    serves: dict[str, list[str]] = {office.code: [] for office, _ward, _commune in sited}
    host = {commune.code: office.code for office, _ward, commune in sited}
    for commune in gaz.package.by_scheme_level(Scheme.V2025, UnitLevel.COMMUNE):
        if commune.code in host:
            serves[host[commune.code]].append(commune.code)
            continue
        point = (commune.lat, commune.lon)
        nearest = min(sited, key=lambda s: geodesic(point, (s[1].lat, s[1].lon)).km)
        serves[nearest[0].code].append(commune.code)

    offices = [
        {
            "code": office.code,
            "name": office.name,
            "address": f"{office.address}, {_lower_kind(province)}",
            "phone": None,
            "unit": {"scheme": Scheme.V2025.value, "code": commune.code},
            "lat": ward.lat, "lon": ward.lon,
            "active": True,
            "serves": serves[office.code],
        }
        for office, ward, commune in sited
    ]
    return {"_note": POST_OFFICE_NOTE, "post_offices": offices}


def _render(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) ``agencies.json`` and ``post_offices.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report whether the files are up to date")
    args = parser.parse_args(argv)
    gaz = Gazetteer(read_package_units())
    outputs = {HERE / "agencies.json": build_agencies(gaz), HERE / "post_offices.json": build_post_offices(gaz)}
    stale = False
    for path, data in outputs.items():
        text = _render(data)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                sys.stderr.write(f"{path} is out of date\n")
                stale = True
        else:
            path.write_text(text, encoding="utf-8")
            sys.stdout.write(f"wrote {path}\n")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
