"""Signed tracking URLs, the payload of the label's QR code.

The QR must do two jobs (DESIGN.md §2): open the public tracking page when a citizen scans it with any
phone camera, and let the courier app tell a genuine label from a forged or hand-made one. A plain URL
does the first; a short MAC over the item code in its query string does the second::

    https://dvc.example.vn/t/EC136431858VN?s=3q2-7wAbCd_x

Signature choice
    HMAC-SHA256 over ``b"dossierpost/label/v1:" + code`` (the prefix keeps these MACs from ever being
    confused with MACs the same key might make elsewhere), truncated to the first 9 bytes and encoded as
    base64url without padding: exactly 12 characters. 72 bits means a forger who does not hold a key
    must make on the order of 2**71 online guesses per forged label; there is no offline attack without
    the key. That is ample for a label whose worst abuse is a fake parcel, and each extra byte would
    grow every QR code on every label.

    Verification needs the key, so it happens wherever the key is held (the server; a courier app only
    if it is trusted with a verification key). Offline verification by untrusted devices would need an
    asymmetric signature (Ed25519: 64 bytes, 86 characters), roughly doubling the QR's payload.

Key rotation
    :class:`LabelSigner` takes several keys: the first signs, all verify. Put a new key first and keep
    the old one in the list for as long as labels signed with it may still be in circulation.

Size
    The URL stays short on purpose (``/t/`` path, one-letter parameter) so the QR stays at a low version
    with large modules, easy to scan from a thermal print. Upper-casing the URL would not let the QR use
    its compact alphanumeric mode anyway: ``?`` and ``=`` are not in that character set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs, unquote, urlsplit

from logistics.labels.errors import InvalidItemCode, InvalidSignature
from logistics.labels.s10 import normalize_item_code

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SIGNATURE_LENGTH", "LabelSigner", "parse_tracking_url"]

SIGNATURE_BYTES: Final = 9
SIGNATURE_LENGTH: Final = 12  # base64url of 9 bytes, no padding needed
MIN_KEY_BYTES: Final = 16
_CONTEXT: Final = b"dossierpost/label/v1:"
_SIG_CHARS: Final = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
_TRACK_SEGMENT: Final = "t"


class LabelSigner:
    """Signs item codes with the first key and verifies with any of them (key rotation)."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Sequence[bytes]) -> None:
        keys = tuple(keys)
        if not keys:
            raise ValueError("LabelSigner needs at least one key")
        for key in keys:
            if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
                # A short or str key is a configuration mistake; failing at start-up beats weak labels.
                raise ValueError(f"label signing keys must be bytes of at least {MIN_KEY_BYTES} bytes")
        self._keys: tuple[bytes, ...] = keys

    def __repr__(self) -> str:
        # Never show key material in logs or tracebacks.
        return f"LabelSigner(<{len(self._keys)} key(s)>)"

    def sign(self, code: str) -> str:
        """Return the 12-character signature of ``code`` (normalised first) under the current key."""
        return _mac(self._keys[0], normalize_item_code(code))

    def verify(self, code: object, sig: object) -> bool:
        """Tell whether ``sig`` is a valid signature of ``code`` under any known key.

        Never raises: anything malformed (not text, not an item code, wrong length, odd characters) is
        simply not valid, because this runs on whatever a scanner or a URL hands us.
        """
        if not isinstance(code, str) or not isinstance(sig, str):
            return False
        if len(sig) != SIGNATURE_LENGTH or not _SIG_CHARS.fullmatch(sig):
            return False
        try:
            canonical = normalize_item_code(code)
        except InvalidItemCode:
            return False
        given = sig.encode("ascii")
        # compare_digest keeps the comparison constant-time; checking every key (no early exit) keeps the
        # timing independent of which key matched, too.
        matches = [hmac.compare_digest(_mac(key, canonical).encode("ascii"), given) for key in self._keys]
        return any(matches)

    def ensure_valid(self, code: str, sig: str | None) -> str:
        """Return the canonical code if ``sig`` is valid, else raise :class:`InvalidSignature`.

        For call sites (courier scans) where an unsigned or forged label must stop the flow.
        """
        if sig is None or not self.verify(code, sig):
            raise InvalidSignature(f"label signature is missing or invalid for item {code!r}")
        return normalize_item_code(code)

    def tracking_url(self, base_url: str, code: str) -> str:
        """Return the signed public tracking URL for ``code``, the QR payload of its label."""
        canonical = normalize_item_code(code)
        return f"{base_url.rstrip('/')}/{_TRACK_SEGMENT}/{canonical}?s={self.sign(canonical)}"


def parse_tracking_url(text: str) -> tuple[str, str | None]:
    """Extract ``(canonical item code, signature or None)`` from a scanned URL or a typed code.

    Accepts any scheme and host (staging, a future domain, a URL typed without ``https://``), a trailing
    slash, and a bare item code as people type it. The signature is returned unverified; check it with
    :meth:`LabelSigner.verify`. Raises :class:`InvalidItemCode` when no valid item code can be found.
    """
    if not isinstance(text, str):
        raise InvalidItemCode(f"tracking URL must be text, not {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise InvalidItemCode("tracking URL or item code is empty")
    if "/" not in stripped and "?" not in stripped:
        return normalize_item_code(stripped), None

    parts = urlsplit(stripped)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if _TRACK_SEGMENT in segments[:-1]:
        candidate = segments[segments.index(_TRACK_SEGMENT) + 1]
    elif segments:
        candidate = segments[-1]
    else:
        raise InvalidItemCode(f"no item code in tracking URL {stripped[:80]!r}")
    code = normalize_item_code(candidate)

    values = parse_qs(parts.query).get("s", [])
    sig = values[0].strip() if values else ""
    return code, (sig or None)


def _mac(key: bytes, canonical: str) -> str:
    digest = hmac.new(key, _CONTEXT + canonical.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:SIGNATURE_BYTES]).decode("ascii")
