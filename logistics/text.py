"""Vietnamese text helpers: folding for search, phone numbers, masking."""

from __future__ import annotations

import re
import unicodedata

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# C0 controls other than tab/newline/CR, DEL, and lone surrogates: never part of a name or an address, and
# PostgreSQL refuses NUL outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def has_control_chars(text: str) -> bool:
    """Whether ``text`` holds characters no human-entered field should (NUL, other controls, surrogates)."""
    return _CONTROL.search(text) is not None


def strip_diacritics(text: str) -> str:
    """Remove Vietnamese diacritics ("Cà Mau" -> "Ca Mau"); đ/Đ become d/D, which NFD alone misses."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def fold(text: str) -> str:
    """A search key: no diacritics, lowercase, letters and digits only ("Phường 5" -> "phuong5")."""
    return _NON_ALNUM.sub("", strip_diacritics(text).lower())


def fold_words(text: str) -> str:
    """Like ``fold`` but keeps single spaces between words, for word-level matching."""
    return " ".join(_NON_ALNUM.sub(" ", strip_diacritics(text).lower()).split())


def collation_key(text: str) -> tuple[str, str]:
    """Sort key that orders Vietnamese names the way readers expect (base letters first, then tones)."""
    return (fold_words(text), unicodedata.normalize("NFC", text.lower()))


class InvalidPhone(ValueError):  # noqa: N818 - reads better at call sites than InvalidPhoneError
    """Not a Vietnamese phone number."""


# Mobile prefixes in use since the 2018 renumbering (03x, 05x, 07x, 08x, 09x) and landlines (02xx).
_MOBILE = re.compile(r"^0(3[2-9]|5[25689]|7[06-9]|8[1-9]|9\d)\d{7}$")
_LANDLINE = re.compile(r"^02\d{9}$")


def normalize_phone(text: str) -> str:
    """Normalise a Vietnamese phone number to national form ``0xxxxxxxxx``.

    Accepts spaces, dots, dashes, parentheses and the +84 / 84 prefixes. Raises ``InvalidPhone`` with a
    message a citizen can act on.
    """
    digits = re.sub(r"[\s.\-()]", "", text.strip())
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    if not digits.isdigit():
        raise InvalidPhone("Số điện thoại chỉ gồm chữ số (có thể bắt đầu bằng +84).")
    if _MOBILE.match(digits) or _LANDLINE.match(digits):
        return digits
    raise InvalidPhone("Số điện thoại không hợp lệ: cần 10 số di động (vd. 0912 345 678) hoặc số bàn 11 số.")


def mask_name(name: str) -> str:
    """Mask a person's name for public pages: "Nguyễn Văn An" -> "Nguyễn V** A*"."""
    words = name.split()
    if not words:
        return ""
    return " ".join([words[0], *(w[0] + "*" * (len(w) - 1) for w in words[1:])])


def mask_phone(phone: str) -> str:
    """Show only the last three digits of a phone number."""
    return "*" * max(0, len(phone) - 3) + phone[-3:]
