"""Errors of tracking; each carries a machine-readable ``code`` and a message people can act on."""

from __future__ import annotations

from typing import Any


class TrackingError(Exception):
    """Base of tracking errors: ``code`` for programs, the message (Vietnamese / English) for people."""

    code = "tracking_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details or {}


class ScanRefused(TrackingError):  # noqa: N818 - reads as the fact it reports
    """A scan that cannot be recorded; it is logged in ``refused_scans`` and changes nothing."""

    code = "scan_refused"


class NotPermitted(TrackingError):  # noqa: N818 - reads as the fact it reports
    """The actor may not do this (wrong role, or an agency/post office outside their scope)."""

    code = "not_permitted"


class NotFound(TrackingError):  # noqa: N818 - reads as the fact it reports
    """No such item, hand-over record or item in the record."""

    code = "not_found"


class AgencyActionRefused(TrackingError):  # noqa: N818 - reads as the fact it reports
    """An agency action that does not fit the dossier (wrong state, missing reason...)."""

    code = "agency_action_refused"
