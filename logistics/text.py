"""Vietnamese text helpers: folding for search, phone numbers, masking."""

from __future__ import annotations

import logging
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


# Free text from the outside world (a gateway's or a mail server's error) may quote a phone number, an ID
# number or an e-mail address. Item codes (RA123456785VN) and dossier codes stay readable: a run of digits
# glued to letters is not a number on its own.
_DIGIT_RUN = re.compile(r"(?<![A-Za-z0-9])\d{9,12}(?![A-Za-z0-9])")  # CMND 9, phones 10-11, CCCD 12 digits
# "0912 345 678", "+84 912.345.678", "0290-3831-234": a mobile or landline prefix, then 7-8 digits in groups.
_GROUPED_PHONE = re.compile(r"(?<![A-Za-z0-9+])(?:\+?84[ .-]?|0)[235789]\d(?:[ .-]?\d){7,8}(?![A-Za-z0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@(?=[A-Za-z0-9-]+\.)")


def mask_pii(text: str) -> str:
    """Mask phone numbers, ID numbers and e-mail addresses in free text before it is logged.

    Numbers keep their last three digits ("+84912345678" -> "+********678"), e-mail addresses their first
    letter and domain ("nhung@example.vn" -> "n***@example.vn").
    """

    def digits(match: re.Match[str]) -> str:
        return mask_phone(re.sub(r"\D", "", match.group(0)))

    text = _DIGIT_RUN.sub(digits, text)
    text = _GROUPED_PHONE.sub(digits, text)
    return _EMAIL.sub(lambda m: m.group(0)[0] + "***@", text)


class PiiMaskingFilter(logging.Filter):
    """A handler filter masking phone numbers, ID numbers and e-mail addresses in every record it passes.

    The message and the formatted traceback are both masked: an exception's text (a provider's refusal, a
    database error) is where personal data slips into logs unnoticed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops it."""
        message = record.getMessage()
        masked = mask_pii(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)
        return True


def install_log_masking(logger: logging.Logger | None = None) -> None:
    """Put ``PiiMaskingFilter`` on every handler of ``logger`` (the root logger by default), once each."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, PiiMaskingFilter) for f in handler.filters):
            handler.addFilter(PiiMaskingFilter())
