"""Errors of order intake; each carries what a user needs to fix the input."""

from __future__ import annotations


class OrderError(Exception):
    """Base of order errors."""


class ValidationError(OrderError):
    """The request is invalid; ``errors`` maps each bad field to a message (Vietnamese first)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class RoutingError(OrderError):
    """No competent agency or post office could be found for the request."""


class OrderNotFound(OrderError):  # noqa: N818 - reads as the fact it reports
    """No order has that item code."""
