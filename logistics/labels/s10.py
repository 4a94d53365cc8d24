"""UPU S10 item codes, e.g. ``EC136431858VN``.

The S10 standard is what every post office scanner and the UPU tracking network understand: two letters
of service indicator, an eight-digit serial, one mod-11 check digit and the ISO country code of the
issuing post. The check digit catches every single-digit typo and most transpositions, which matters
because citizens and agency clerks type these codes by hand from a phone call or a photo of the label.

Parsing is deliberately forgiving about *presentation* (case, surrounding whitespace, the spaces and
hyphens people insert when reading a code aloud: ``"ec 136 431 858 vn"``) and strict about *content*:
anything else raises :class:`InvalidItemCode` with a message saying what is wrong, so a form can show
it to the user verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from logistics.labels.errors import InvalidItemCode

__all__ = [
    "MAX_SERIAL",
    "ItemCode",
    "check_digit",
    "make_item_code",
    "normalize_item_code",
    "parse_item_code",
]

WEIGHTS: Final = (8, 6, 4, 2, 3, 5, 9, 7)
MAX_SERIAL: Final = 99_999_999
CODE_LENGTH: Final = 13
DEFAULT_COUNTRY: Final = "VN"

# ASCII only on purpose: str.isalpha()/isdigit() accept "Đ" or Arabic-Indic digits, which no scanner
# or UPU partner would accept.
_LETTERS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS: Final = frozenset("0123456789")
# Separators people type or that survive a copy-paste from a PDF: spaces (incl. no-break), hyphens,
# en/em dashes.
_SEPARATORS: Final = re.compile(r"[\s\-\u2010-\u2015\u00a0]+")


@dataclass(frozen=True, slots=True)
class ItemCode:
    """A parsed, valid S10 item code; ``str()`` gives the canonical 13-character form."""

    indicator: str
    serial: int
    check: int
    country: str

    def __str__(self) -> str:
        return f"{self.indicator}{self.serial:08d}{self.check}{self.country}"

    @property
    def code(self) -> str:
        """Canonical form, as stored, signed and encoded in barcodes."""
        return str(self)

    @property
    def spaced(self) -> str:
        """Grouped for people (``EC 136 431 858 VN``): easier to read aloud and to copy by hand."""
        digits = f"{self.serial:08d}{self.check}"
        return f"{self.indicator} {digits[0:3]} {digits[3:6]} {digits[6:9]} {self.country}"


def check_digit(serial: int) -> int:
    """Return the S10 check digit of an eight-digit serial.

    Weighted sum with weights 8 6 4 2 3 5 9 7, then C = 11 - (S mod 11), where 10 maps to 0 and 11 to 5
    (UPU S10 §5.3). The two special cases are why this is not a plain ``% 10``.
    """
    _check_serial(serial)
    total = sum(int(d) * w for d, w in zip(f"{serial:08d}", WEIGHTS, strict=True))
    c = 11 - total % 11
    if c == 10:  # noqa: PLR2004 - the standard's own special values
        return 0
    if c == 11:  # noqa: PLR2004
        return 5
    return c


def make_item_code(indicator: str, serial: int, country: str = DEFAULT_COUNTRY) -> str:
    """Build the canonical item code for ``serial`` under ``indicator`` (e.g. ``"EC"``).

    Lowercase letters are accepted and upper-cased, since indicators often come from configuration.
    """
    ind = _two_letters(indicator, "service indicator")
    ctry = _two_letters(country, "country code")
    return str(ItemCode(ind, serial, check_digit(serial), ctry))


def parse_item_code(text: str) -> ItemCode:
    """Parse and validate an item code as a person might type it.

    Raises :class:`InvalidItemCode` explaining the first problem found: length, letters where digits
    belong (or the reverse), or a wrong check digit (with the expected one, which helps staff spot a
    mistyped digit).
    """
    if not isinstance(text, str):
        raise InvalidItemCode(f"item code must be text, not {type(text).__name__}")
    compact = _SEPARATORS.sub("", text).upper()
    if not compact:
        raise InvalidItemCode("item code is empty")
    if len(compact) != CODE_LENGTH:
        raise InvalidItemCode(
            f"item code must have 13 characters (2 letters, 9 digits, 2 letters, e.g. EC136431858VN), "
            f"got {len(compact)}: {compact!r}"
        )
    indicator, digits, country = compact[:2], compact[2:11], compact[11:]
    if not _is_letters(indicator):
        raise InvalidItemCode(f"item code must start with 2 letters A-Z (service indicator): {indicator!r}")
    if not all(ch in _DIGITS for ch in digits):
        raise InvalidItemCode(f"item code must have 9 digits after the 2 letters, got {digits!r}")
    if not _is_letters(country):
        raise InvalidItemCode(f"item code must end with a 2-letter country code, got {country!r}")
    serial, given = int(digits[:8]), int(digits[8])
    expected = check_digit(serial)
    if given != expected:
        raise InvalidItemCode(
            f"wrong check digit in {compact}: got {given}, expected {expected} for serial {digits[:8]}"
            " (a digit may be mistyped)"
        )
    return ItemCode(indicator, serial, given, country)


def normalize_item_code(text: str) -> str:
    """Return the canonical 13-character form of a typed item code, or raise :class:`InvalidItemCode`."""
    return str(parse_item_code(text))


def _check_serial(serial: int) -> None:
    # bool is an int subclass; True as a serial is always a bug upstream.
    if not isinstance(serial, int) or isinstance(serial, bool):
        raise InvalidItemCode(f"serial must be an integer, not {type(serial).__name__}")
    if not 0 <= serial <= MAX_SERIAL:
        raise InvalidItemCode(f"serial must be between 0 and {MAX_SERIAL}, got {serial}")


def _is_letters(text: str) -> bool:
    return len(text) == 2 and all(ch in _LETTERS for ch in text)  # noqa: PLR2004


def _two_letters(value: str, what: str) -> str:
    upper = value.upper() if isinstance(value, str) else ""
    if not _is_letters(upper):
        raise InvalidItemCode(f"{what} must be 2 letters A-Z, got {value!r}")
    return upper
