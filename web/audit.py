"""The audit log: every state-changing request by staff or a system is recorded with who, what, when, where.

The entry is added to the request's own unit of work, so it commits with the change it describes; for a
refused request (4xx/5xx) the request's changes are rolled back and the entry alone is committed, so failed
attempts leave a trace too.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Flask, Response, g, request
from sqlalchemy import Table, insert

from config.db import utcnow
from logistics.accounts.models import AuditEntry
from web.api_auth import current_actor
from web.auth import current_user
from web.context import db_session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_AUDIT = insert(cast("Table", AuditEntry.__table__))  # every staff request writes one row: no ORM unit of work for it


def _entry(status: int) -> dict[str, Any] | None:
    """The audit row of this request (a row of values: it is written with a plain INSERT, no ORM object)."""
    actor = current_actor() if request.path.startswith("/api/") else None
    user = actor.user if actor else current_user()
    token = actor.token if actor else None
    if user is None and token is None:
        return None  # citizens and anonymous callers are not staff actions
    return {
        "at": utcnow(),
        "user_id": user.id if user else None,
        "token_prefix": token.prefix if token else None,
        "actor_name": (user.full_name if user else token.name if token else "?")[:200],
        "role": user.role.value if user else "system",
        "action": (request.endpoint or "?")[:120],
        "method": request.method,
        "path": request.path[:300],
        "status": status,
        "ip": (request.remote_addr or "")[:64] or None,
        "user_agent": (request.user_agent.string or "")[:300] or None,
    }


def install_audit(app: Flask) -> None:
    """Record staff/system actions; must be registered after the unit-of-work hooks (it runs before them)."""

    @app.after_request
    def _audit(response: Response) -> Response:
        if request.method in SAFE_METHODS or request.endpoint in {None, "static", "auth.login"}:
            return response
        if g.get("audit_done"):
            return response
        g.audit_done = True
        if response.status_code < 400:  # noqa: PLR2004 - success: commit with the change itself
            entry = _entry(response.status_code)
            if entry is not None:
                # On the connection: the ORM's execute would flush what is pending first (the commit does it).
                db_session().connection().execute(_AUDIT, entry)
            return response
        entry = _entry(response.status_code)
        if entry is not None:
            # The request's own changes are being discarded: drop them first, then keep only the audit row.
            # (A second connection would wait on this one's write lock on SQLite.)
            session = db_session()
            session.rollback()
            session.connection().execute(_AUDIT, entry)
            session.commit()
        return response
