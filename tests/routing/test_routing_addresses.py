"""Free-text Cà Mau addresses, old and new structure, with and without diacritics, abbreviated or not."""

import pytest

from logistics.routing.addresses import AMBIGUOUS, RESOLVED, UNKNOWN, resolve_address, tokenize
from logistics.routing.gazetteer import load_gazetteer

# (address as people write it, the 2025 commune it must resolve to)
RESOLVES = [
    # the issue's example, every way of writing it
    ("Số 3 Lưu Tấn Tài, Phường 5, TP Cà Mau", "Phường Tân Thành"),
    ("so 3 luu tan tai p5 tp ca mau", "Phường Tân Thành"),
    ("Số 3 Lưu Tấn Tài, P.5, TP. Cà Mau", "Phường Tân Thành"),
    ("SỐ 3 LƯU TẤN TÀI, PHƯỜNG 5, THÀNH PHỐ CÀ MAU", "Phường Tân Thành"),
    ("số 3   lưu tấn tài ,phường 05,  tp.cà mau", "Phường Tân Thành"),
    ("3 Luu Tan Tai, F5, Ca Mau", "Phường Tân Thành"),
    ("P5 Ca Mau", "Phường Tân Thành"),
    ("Số 3 Lưu Tấn Tài, phường Tân Thành, tỉnh Cà Mau", "Phường Tân Thành"),
    ("so 3 luu tan tai phuong tan thanh ca mau", "Phường Tân Thành"),
    ("Phường Tân Thành (Phường 5 cũ), Cà Mau", "Phường Tân Thành"),
    # other wards of the former Cà Mau city
    ("12 Phan Ngọc Hiển, Phường 2, TP Cà Mau", "Phường An Xuyên"),
    ("123 Phan Ngọc Hiển, P.2, TP. Cà Mau", "Phường An Xuyên"),
    ("45 Trần Hưng Đạo, Phường 1, Thành phố Cà Mau, Cà Mau", "Phường An Xuyên"),
    ("Khóm 4, Phường 9, TP Cà Mau", "Phường An Xuyên"),
    ("khom 3 phuong 8 thanh pho ca mau", "Phường Lý Văn Lâm"),
    ("Khóm 1, P.8, TP.CM", None),  # "TP.CM" is no known abbreviation: the ward alone is ambiguous
    ("22 Ngô Quyền, Phường 7, TP Cà Mau", "Phường Hòa Thành"),
    ("F7 ca mau", "Phường Hòa Thành"),
    ("Ấp Bà Điều, xã Lý Văn Lâm, TP Cà Mau", "Phường Lý Văn Lâm"),
    ("Ấp 3, xã Tắc Vân, thành phố Cà Mau", "Phường Tân Thành"),
    ("Ấp 3, Tân Thành, TP Cà Mau", "Phường Tân Thành"),
    ("Xã Tân Thành, TP Cà Mau", "Phường Tân Thành"),
    ("Ấp Cây Trâm, xã Định Bình, TP Cà Mau", "Phường Tân Thành"),
    ("Ấp 1, Xã Hòa Tân, TP Cà Mau", "Phường Hòa Thành"),
    ("Phường Tân Xuyên, TP Cà Mau", "Phường An Xuyên"),
    ("xa an xuyen tp ca mau", "Phường An Xuyên"),
    ("Phường An Xuyên", "Phường An Xuyên"),
    ("phuong ly van lam", "Phường Lý Văn Lâm"),
    ("Phường Hòa Thành, tỉnh Cà Mau", "Phường Hòa Thành"),
    # former districts of Cà Mau
    ("Khóm 2, TT Sông Đốc, H. Trần Văn Thời", "Xã Sông Đốc"),
    ("khom 2 tt song doc h tran van thoi", "Xã Sông Đốc"),
    ("Ấp Tân Phong, xã Khánh Bình, Trần Văn Thời, Cà Mau", "Xã Khánh Bình"),
    ("Ấp Kinh Tắc, X. Khánh Bình Tây, H. Trần Văn Thời", "Xã Đá Bạc"),
    ("Số 10 đường Trần Văn Thời, xã Khánh Bình", "Xã Khánh Bình"),
    ("Khóm 1, Thị trấn Trần Văn Thời, huyện Trần Văn Thời", "Xã Trần Văn Thời"),
    ("Ap Kinh Tac, xa Khanh Lam, U Minh", "Xã Khánh Lâm"),
    ("Ấp 5, xã Khánh Hòa, huyện U Minh, tỉnh Cà Mau", "Xã U Minh"),
    ("Khóm 3, TT U Minh, H. U Minh", "Xã Nguyễn Phích"),
    ("Ấp 7, xã Nguyễn Phích, U Minh", "Xã Nguyễn Phích"),
    ("Ấp Cái Rô, Xã Tân Hưng, Huyện Cái Nước", "Xã Tân Hưng"),
    ("Khóm 2, TT Cái Nước, Cái Nước, Cà Mau", "Xã Cái Nước"),
    ("ap 3 xa hung my huyen cai nuoc", "Xã Hưng Mỹ"),
    ("Ấp Bào Sen, xã Hòa Mỹ, H. Cái Nước", "Xã Hưng Mỹ"),
    ("Xã Lương Thế Trân", "Xã Lương Thế Trân"),
    ("Ấp Tân Long, xã Tạ An Khương, huyện Đầm Dơi", "Xã Tạ An Khương"),
    ("Khóm 4, thị trấn Đầm Dơi, huyện Đầm Dơi, tỉnh Cà Mau", "Xã Đầm Dơi"),
    ("xa tran phan huyen dam doi", "Xã Trần Phán"),
    ("Ấp 2, xã Thới Bình, Thới Bình", "Xã Thới Bình"),
    ("Khóm 1, TT Thới Bình, H. Thới Bình", "Xã Thới Bình"),
    ("Ấp 9, xã Tân Lộc Bắc, huyện Thới Bình", "Xã Tân Lộc"),
    ("Ấp Cơi Năm, Xã Hồ Thị Kỷ", "Xã Hồ Thị Kỷ"),
    ("xa bien bach dong, thoi binh", "Xã Biển Bạch"),
    ("Khóm Cái Nai, TT Năm Căn, H. Năm Căn", "Xã Năm Căn"),
    ("Ấp Mũi, xã Đất Mũi, huyện Ngọc Hiển", "Xã Đất Mũi"),
    ("xa dat mui", "Xã Đất Mũi"),
    ("Ấp Cái Đôi Vàm, thị trấn Cái Đôi Vàm, Phú Tân", "Xã Cái Đôi Vàm"),
    ("Ấp Cống Đá, xã Nguyễn Việt Khái", "Xã Nguyễn Việt Khái"),
    # the former Bạc Liêu province, merged into Cà Mau
    ("Phường 1, Bạc Liêu", "Phường Bạc Liêu"),
    ("Số 5 Hai Bà Trưng, Phường 3, TP Bạc Liêu, tỉnh Bạc Liêu", "Phường Bạc Liêu"),
    ("p3 tp bac lieu", "Phường Bạc Liêu"),
    ("Phường Nhà Mát, TP Bạc Liêu", "Phường Hiệp Thành"),
    ("Ấp Giồng Nhãn, xã Vĩnh Trạch Đông, TP Bạc Liêu", "Phường Hiệp Thành"),
    ("Khóm 1, Phường 1, TX Giá Rai, Bạc Liêu", "Phường Giá Rai"),
    ("Phường Hộ Phòng, Thị xã Giá Rai", "Phường Giá Rai"),
    ("Ấp 4, xã Tân Thạnh, thị xã Giá Rai, tỉnh Bạc Liêu", "Xã Phong Thạnh"),
    ("Thị trấn Ngan Dừa, huyện Hồng Dân", "Xã Hồng Dân"),
    ("Ấp Nội Ô, TT Gành Hào, H. Đông Hải", "Xã Gành Hào"),
    ("ap 3 xa long dien dong huyen dong hai", "Xã Đông Hải"),
    ("Xã Vĩnh Lộc A, Hồng Dân, Bạc Liêu", "Xã Vĩnh Lộc"),
    ("Phường Láng Tròn, Cà Mau", "Phường Láng Tròn"),
]

AMBIGUOUS_ADDRESSES = [
    "Phường 5",  # Cà Mau city or Bạc Liêu city
    "Phường 1",  # three former cities/towns had one
    "xa tan thanh",  # Tân Thành (Cà Mau) or Tân Thạnh (Giá Rai) without diacritics
    "Huyện U Minh, Cà Mau",  # a former district, no commune
    "Ấp Cái Rô, Xã Tân Ân, Ngọc Hiển",  # the old Tân Ân is now Phan Ngọc Hiển; a new Xã Tân Ân exists too
]

UNKNOWN_ADDRESSES = [
    "12 Nguyễn Trãi, Quận 1, TP Hồ Chí Minh",
    "không rõ địa chỉ",
    "Ấp 3",
]


@pytest.fixture
def gaz(db_session):
    return load_gazetteer(db_session)


@pytest.mark.parametrize(("text", "expected"), RESOLVES)
def test_address_resolves_to_its_2025_commune(gaz, text, expected):
    match = resolve_address(gaz, text)
    if expected is None:
        assert match.status == AMBIGUOUS
        assert match.unit is None
    else:
        assert match.status == RESOLVED, match.candidates[:3]
        assert match.unit.name == expected


def test_there_are_at_least_sixty_real_looking_addresses():
    assert len(RESOLVES) + len(AMBIGUOUS_ADDRESSES) + len(UNKNOWN_ADDRESSES) >= 60


def test_the_issues_two_spellings_resolve_to_the_same_old_and_new_ward(gaz):
    a = resolve_address(gaz, "Số 3 Lưu Tấn Tài, Phường 5, TP Cà Mau")
    b = resolve_address(gaz, "so 3 luu tan tai p5 tp ca mau")
    assert a.legacy is not None and a.legacy.name == "Phường 5"
    assert (a.legacy.code, a.unit.code) == (b.legacy.code, b.unit.code)
    assert a.parsed.street == "Số 3 Lưu Tấn Tài"
    assert a.parsed.commune == "Phường 5"
    assert a.parsed.district == "TP Cà Mau"
    assert b.parsed.street == "so 3 luu tan tai"


@pytest.mark.parametrize("text", AMBIGUOUS_ADDRESSES)
def test_ambiguous_addresses_are_not_guessed(gaz, text):
    match = resolve_address(gaz, text)
    assert match.status == AMBIGUOUS
    assert match.unit is None
    assert len({c.unit.code for c in match.candidates}) >= 2
    assert "điều phối" in match.explanation


@pytest.mark.parametrize("text", UNKNOWN_ADDRESSES)
def test_unknown_addresses_have_no_candidates(gaz, text):
    match = resolve_address(gaz, text)
    assert match.status == UNKNOWN
    assert match.candidates == []


def test_diacritics_break_the_tie_between_thanh_and_thanh(gaz):
    assert resolve_address(gaz, "xã Tân Thành, Cà Mau").unit.name == "Phường Tân Thành"
    assert resolve_address(gaz, "xã Tân Thạnh, Giá Rai").unit.name == "Xã Phong Thạnh"


def test_a_street_named_after_a_commune_is_not_the_commune(gaz):
    match = resolve_address(gaz, "Số 10 Phan Ngọc Hiển, Phường 7, TP Cà Mau")
    assert match.unit.name == "Phường Hòa Thành"
    assert match.parsed.street == "Số 10 Phan Ngọc Hiển"


def test_a_split_legacy_ward_goes_to_its_main_successor_and_says_so(gaz):
    match = resolve_address(gaz, "Phường 6, TP Cà Mau")
    assert match.unit.name == "Phường Tân Thành"
    assert "Phường Hòa Thành" in match.split
    assert "đã chia" in match.explanation


@pytest.mark.parametrize(("raw", "words"), [
    ("P.5", ["phuong", "5"]), ("P5", ["phuong", "5"]), ("p 05", ["phuong", "5"]), ("F5", ["phuong", "5"]),
    ("TP.", ["thanh", "pho"]), ("TX Giá Rai", ["thi", "xa", "gia", "rai"]),
    ("TT. Sông Đốc", ["thi", "tran", "song", "doc"]),
    ("H. U Minh", ["huyen", "u", "minh"]), ("X. Đất Mũi", ["xa", "dat", "mui"]), ("Q.1", ["quan", "1"]),
])
def test_abbreviations_expand(raw, words):
    assert [t.folded for t in tokenize(raw)] == words
