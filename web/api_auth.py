"""Who is calling the API: a system with a bearer token, or a logged-in staff member's browser session.

Views say what they need with ``@api_require("scans:write", Role.COURIER)``: a token must carry the scope,
a staff session must have one of the roles. The resolved ``Actor`` carries the binding (agency, post office)
that services use to scope every read and write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import Response, g, request

from logistics.accounts.models import ApiToken, Role, Staff
from logistics.accounts.tokens import TokenError, authenticate_token
from web.auth import current_user
from web.context import db_session
from web.errors import problem

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Actor:
    """The caller of an API request."""

    kind: str  # "token" or "staff"
    name: str
    role: str  # the staff role, or "system" for tokens
    scopes: frozenset[str]
    agency_id: int | None
    post_office_id: int | None
    user: Staff | None = None
    token: ApiToken | None = None

    @property
    def actor_id(self) -> int | None:
        """The staff user's id (tokens act as systems, with no user id)."""
        return self.user.id if self.user else None


def current_actor() -> Actor | None:
    """The request's caller, from ``Authorization: Bearer`` or the staff session; None when anonymous."""
    if "api_actor" in g:
        cached: Actor | None = g.api_actor
        return cached
    actor: Actor | None = None
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        try:
            token = authenticate_token(db_session(), header[7:])
        except TokenError:
            g.api_actor_error = "invalid_token"
        else:
            actor = Actor("token", token.name, "system", token.scope_set, token.agency_id, token.post_office_id,
                          token=token)
    else:
        user = current_user()
        if user is not None:
            actor = Actor("staff", user.full_name, user.role.value, frozenset(), user.agency_id,
                          user.post_office_id, user=user)
    g.api_actor = actor
    return actor


def check_caller(scope: str | None, roles: tuple[Role, ...]) -> Response | None:
    """None when the caller may proceed; else the 401/403 problem response to send."""
    actor = current_actor()
    if actor is None:
        resp = problem(401, "Unauthorized", "Cần mã truy cập (Bearer) hoặc đăng nhập. / "
                       "A bearer token or a staff session is required.")
        error = g.get("api_actor_error")
        resp.headers["WWW-Authenticate"] = f'Bearer error="{error}"' if error else "Bearer"
        return resp
    allowed = (actor.kind == "token" and scope is not None and scope in actor.scopes) or (
        actor.kind == "staff" and actor.role in {r.value for r in roles}
    )
    if not allowed:
        resp = problem(403, "Forbidden", "Không đủ quyền cho thao tác này. / Not allowed for this caller.",
                       required_scope=scope, allowed_roles=[r.value for r in roles])
        resp.headers["X-Denied-By"] = "role"
        return resp
    return None


def api_require(scope: str | None, *roles: Role) -> Callable[[F], F]:
    """Allow tokens holding ``scope`` and staff sessions with one of ``roles``; 401/403 problems otherwise.

    Callers are checked before the body is validated (``web.openapi.operation`` runs this gate first), so
    an anonymous caller learns nothing about the expected input.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            denied = check_caller(scope, roles)
            if denied is not None:
                return denied
            return view(*args, **kwargs)

        wrapped.api_scope = scope  # type: ignore[attr-defined]  # read by the authorization-matrix test
        wrapped.allowed_roles = roles  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator
