import pytest

from logistics.text import InvalidPhone, collation_key, fold, mask_name, mask_phone, normalize_phone


@pytest.mark.parametrize(("raw", "expected"), [
    ("0912345678", "0912345678"), ("0912 345 678", "0912345678"), ("+84 912 345 678", "0912345678"),
    ("84912345678", "0912345678"), ("091.234.5678", "0912345678"), ("(0290) 3831 234", "02903831234"),
    ("0326-123-456", "0326123456"),
])
def test_vietnamese_phone_forms_normalise(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["12345", "0112345678", "091234567", "09123456789", "abc", "", "+1 202 555 0100"])
def test_malformed_phones_are_refused(raw):
    with pytest.raises(InvalidPhone):
        normalize_phone(raw)


def test_fold_removes_diacritics_and_d_stroke():
    assert fold("Phường 5, TP Cà Mau") == "phuong5tpcamau"
    assert fold("Đầm Dơi") == "damdoi"


def test_vietnamese_sort_puts_base_letters_first():
    names = ["Đầm Dơi", "Cái Nước", "Ái Quốc", "Dương Đông", "An Xuyên"]
    assert sorted(names, key=collation_key) == ["Ái Quốc", "An Xuyên", "Cái Nước", "Đầm Dơi", "Dương Đông"]


def test_masking():
    assert mask_name("Nguyễn Văn An") == "Nguyễn V** A*"
    assert mask_phone("0912345678") == "*******678"
