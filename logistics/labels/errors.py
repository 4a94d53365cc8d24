"""Errors raised by the labels domain.

They derive from one base so the web layer can turn any label problem into a 400/422 with a single
``except LabelError``; ``InvalidItemCode`` is also a ``ValueError`` because callers parsing user input
(forms, scanners, CLI arguments) conventionally catch that.
"""

from __future__ import annotations


class LabelError(Exception):
    """Base class for every error of the labels domain."""


class InvalidItemCode(LabelError, ValueError):  # noqa: N818 - the name reads as the domain fact it reports
    """Text that is not a well-formed UPU S10 item code; the message says what is wrong."""


class InvalidSignature(LabelError):  # noqa: N818 - same naming as InvalidItemCode
    """A tracking URL whose signature does not match its item code under any known key."""
