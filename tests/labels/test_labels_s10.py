"""UPU S10 item codes: check digits, parsing of typed codes, and clear errors."""

from __future__ import annotations

import pytest

from logistics.labels.errors import InvalidItemCode, LabelError
from logistics.labels.s10 import (
    ItemCode,
    check_digit,
    make_item_code,
    normalize_item_code,
    parse_item_code,
)


def reference_check_digit(serial: int) -> int:
    """Independent transcription of UPU S10 §5.3, to cross-check the implementation."""
    weights = [8, 6, 4, 2, 3, 5, 9, 7]
    s = sum(int(d) * w for d, w in zip(f"{serial:08d}", weights, strict=True))
    c = 11 - (s % 11)
    return {10: 0, 11: 5}.get(c, c)


@pytest.mark.parametrize(
    ("code", "indicator", "serial", "check", "country"),
    [
        ("RR473124829GB", "RR", 47312482, 9, "GB"),
        ("EC136431858VN", "EC", 13643185, 8, "VN"),
    ],
)
def test_known_valid_codes_parse(code, indicator, serial, check, country):
    parsed = parse_item_code(code)
    assert parsed == ItemCode(indicator, serial, check, country)
    assert str(parsed) == code
    assert parsed.code == code


def test_make_item_code_reproduces_known_examples():
    assert make_item_code("RR", 47312482, "GB") == "RR473124829GB"
    assert make_item_code("EC", 13643185) == "EC136431858VN"


def test_remainder_zero_gives_check_digit_five():
    # S = 0 -> C = 11 -> 5
    assert check_digit(0) == 5
    assert make_item_code("EE", 0) == "EE000000005VN"


def test_remainder_one_gives_check_digit_zero():
    # S = 8 * 7 = 56 = 5 * 11 + 1 -> C = 10 -> 0
    assert check_digit(8) == 0
    assert parse_item_code("RR000000080VN").check == 0


def test_plain_check_digit():
    # S = 7 -> C = 4
    assert check_digit(1) == 4


def test_check_digit_matches_reference_over_a_spread_of_serials():
    serials = [*range(2000), *range(0, 99_999_999, 9_973), 99_999_999]
    for serial in serials:
        assert check_digit(serial) == reference_check_digit(serial), serial


def test_every_serial_round_trips_through_make_and_parse():
    for serial in [*range(0, 99_999_999, 104_729), 99_999_999]:
        code = make_item_code("CP", serial)
        parsed = parse_item_code(code)
        assert (parsed.indicator, parsed.serial, parsed.country) == ("CP", serial, "VN")


def test_every_wrong_check_digit_is_rejected_with_the_expected_one():
    for serial in (0, 8, 13643185, 99_999_999):
        good = check_digit(serial)
        for wrong in set(range(10)) - {good}:
            with pytest.raises(InvalidItemCode, match=f"got {wrong}, expected {good}"):
                parse_item_code(f"EC{serial:08d}{wrong}VN")


@pytest.mark.parametrize(
    "typed",
    [
        "EC136431858VN",
        "ec136431858vn",
        "  EC136431858VN\n",
        "EC 136 431 858 VN",
        "ec 136 431 858 vn",
        "EC-136-431-858-VN",
        "EC\u00a0136\u00a0431\u00a0858\u00a0VN",
        "EC – 136431858 – VN",
        "\tEc136431858Vn ",
    ],
)
def test_typed_forms_are_accepted(typed):
    assert normalize_item_code(typed) == "EC136431858VN"


def test_spaced_form_groups_digits_for_reading_aloud():
    assert parse_item_code("EC136431858VN").spaced == "EC 136 431 858 VN"
    assert normalize_item_code(parse_item_code("EC136431858VN").spaced) == "EC136431858VN"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("- -", "empty"),
        ("EC13643185VN", "13 characters.*got 12"),
        ("EC1364318588VN", "13 characters.*got 14"),
        ("E", "got 1"),
        ("1C136431858VN", "start with 2 letters"),
        ("ĐC136431858VN", "start with 2 letters"),
        ("EC13643I858VN", "9 digits"),
        ("EC١٣٦٤٣١٨٥٨VN", "9 digits"),
        ("EC136431858V1", "2-letter country code"),
        ("EC13643185812", "2-letter country code"),
        ("EC136431857VN", "wrong check digit.*got 7, expected 8"),
        ("RR473124828GB", "wrong check digit.*expected 9"),
        ("EC.136.431.858.VN", "13 characters"),
    ],
)
def test_invalid_forms_say_what_is_wrong(text, message):
    with pytest.raises(InvalidItemCode, match=message):
        parse_item_code(text)


@pytest.mark.parametrize("value", [None, 136431858, b"EC136431858VN"])
def test_non_text_is_an_invalid_item_code(value):
    with pytest.raises(InvalidItemCode, match="must be text"):
        parse_item_code(value)


def test_invalid_item_code_is_a_value_error_and_a_label_error():
    with pytest.raises(ValueError, match="check digit"):
        parse_item_code("EC136431850VN")
    with pytest.raises(LabelError):
        normalize_item_code("nope")


def test_make_item_code_upper_cases_indicator_and_country():
    assert make_item_code("ec", 13643185, "vn") == "EC136431858VN"


@pytest.mark.parametrize(
    ("indicator", "serial", "country", "message"),
    [
        ("E", 1, "VN", "service indicator"),
        ("ECX", 1, "VN", "service indicator"),
        ("E1", 1, "VN", "service indicator"),
        ("ÉC", 1, "VN", "service indicator"),
        ("", 1, "VN", "service indicator"),
        ("EC", -1, "VN", "between 0 and 99999999"),
        ("EC", 100_000_000, "VN", "between 0 and 99999999"),
        ("EC", True, "VN", "integer"),
        ("EC", "123", "VN", "integer"),
        ("EC", 1, "VNM", "country code"),
        ("EC", 1, "V", "country code"),
    ],
)
def test_make_item_code_validates_its_arguments(indicator, serial, country, message):
    with pytest.raises(InvalidItemCode, match=message):
        make_item_code(indicator, serial, country)


@pytest.mark.parametrize("serial", [-1, 100_000_000])
def test_check_digit_rejects_out_of_range_serials(serial):
    with pytest.raises(InvalidItemCode):
        check_digit(serial)


def test_item_code_is_immutable():
    parsed = parse_item_code("EC136431858VN")
    with pytest.raises(AttributeError):
        parsed.serial = 1  # type: ignore[misc]
