"""The webhook signature: HMAC-SHA256 over ``<timestamp>.<body>``, sent as ``t=<timestamp>,v1=<hex>``.

A receiver recomputes the HMAC with the subscription's secret over the header's timestamp, a dot and the raw
request body, compares it in constant time, and refuses timestamps more than five minutes away from its clock
(a replayed old request). Deliveries are at least once: a receiver drops a repeat by ``X-DossierPost-Event-Id``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "X-DossierPost-Signature"
EVENT_ID_HEADER: Final = "X-DossierPost-Event-Id"
DELIVERY_ID_HEADER: Final = "X-DossierPost-Delivery-Id"
EVENT_TYPE_HEADER: Final = "X-DossierPost-Event"
TOLERANCE_S: Final = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the signature header."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = TOLERANCE_S) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance`` seconds of ``now``."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), signature(secret, timestamp, body))
