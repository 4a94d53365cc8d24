"""Staff log-in, roles and CSRF: the door every staff page goes through.

Sessions are Flask's signed cookies (HttpOnly, SameSite=Lax, Secure behind TLS) holding the user id and a
fingerprint of the password hash, so changing a password or deactivating a user ends their sessions on
every machine without server-side session storage.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlparse

from flask import Blueprint, abort, g, make_response, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from logistics.accounts.models import Role, Staff, User
from logistics.accounts.services import LoginRefused, active_staff, authenticate
from web.context import db_session
from web.i18n import gettext as _

bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])

ROLE_TEXT = {
    Role.COURIER: "Bưu tá",
    Role.DISPATCHER: "Điều phối bưu cục",
    Role.AGENCY_OFFICER: "Cán bộ một cửa",
    Role.MANAGER: "Quản lý",
    Role.ADMIN: "Quản trị",
}


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def current_user() -> Staff | None:
    """The logged-in staff member of this request, or None (deactivated, or the password changed since)."""
    if "user" in g:
        user: Staff | None = g.user
        return user
    user = None
    uid = session.get("uid")
    if isinstance(uid, int):
        found = active_staff(db_session(), uid)
        if found is not None and session.get("fp") == _fingerprint(found[1]):
            user = found[0]
    g.user = user
    return user


def current_account() -> User:
    """The logged-in staff member's account (with its agency and post office), for pages that show them."""
    user = current_user()
    account = db_session().get(User, user.id) if user is not None else None
    if account is None:
        abort(401)
    return account


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Allow the view to staff with one of ``roles``; others get 403, anonymous users go to the log-in page."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if request.path.startswith("/api/"):
                    abort(401)
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if user.role not in roles:
                return role_denied()
            return view(*args, **kwargs)

        wrapped.allowed_roles = roles  # type: ignore[attr-defined]  # read by the authorization-matrix test
        return wrapped  # type: ignore[return-value]

    return decorator


def role_denied() -> BaseResponse:
    """403 for a caller whose role may not use the page.

    Marked (``X-Denied-By: role``) so audits and tests can tell it apart from a refusal about one object
    (another agency's dossier).
    """
    if request.path.startswith("/api/"):
        from web.errors import problem  # noqa: PLC0415 - errors imports i18n only; avoid a cycle at import

        resp = problem(403, "Forbidden", "Không đủ quyền cho thao tác này. / Not allowed for this caller.")
    else:
        resp = make_response(render_template("error.html", title=_("Không có quyền truy cập"), detail=None,
                                             status=403), 403)
    resp.headers["X-Denied-By"] = "role"
    return resp


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a crafted ``next`` must not send staff to another site after log-in."""
    if not target:
        return url_for("auth.staff_home")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("auth.staff_home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | BaseResponse | tuple[str, int]:
    """The staff log-in page."""
    if request.method == "GET":
        return render_template("login.html", error=None, username="", next=request.args.get("next", ""))
    username = request.form.get("username", "")[:80]
    password = request.form.get("password", "")[:200]
    nxt = request.form.get("next", "")
    s = db_session()
    try:
        user = authenticate(s, username, password)
    except LoginRefused as exc:
        s.commit()  # the failure counter must persist even though this response is an error
        return render_template("login.html", error=str(exc), username=username, next=nxt), 401
    session.clear()
    session["uid"] = user.id
    session["fp"] = _fingerprint(user.password_hash)
    session.permanent = True
    return redirect(_safe_next(nxt))


@bp.post("/logout")
def logout() -> BaseResponse:
    """End the session."""
    current_user()  # remembered for this request, so the audit log records who logged out
    session.clear()
    return redirect(url_for("public.home"))


@bp.get("/staff")
@roles_required(*Role)
def staff_home() -> str:
    """Where staff land after log-in: their role, their scope, and the pages they can use."""
    user = current_account()
    return render_template("staff_home.html", user=user, role_text=_(ROLE_TEXT[user.role]))


def check_csrf() -> None:
    """Refuse a browser form POST whose token does not match the session's (API JSON calls are exempt)."""
    if request.method in {"GET", "HEAD", "OPTIONS"} or request.path.startswith("/api/"):
        return
    token = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(str(token), str(expected)):
        abort(400, description=_("Phiên làm việc đã hết hạn, vui lòng gửi lại biểu mẫu."))


# Staff pages announce themselves here (endpoint, Vietnamese text, roles) so the landing page lists them.
_STAFF_LINKS: list[tuple[str, str, tuple[Role, ...]]] = []


def register_staff_link(endpoint: str, text: str, *roles: Role) -> None:
    """Show a link to ``endpoint`` on the staff landing page for ``roles``."""
    if all(e != endpoint for e, _t, _r in _STAFF_LINKS):
        _STAFF_LINKS.append((endpoint, text, roles))


def staff_links(user: Staff | User) -> list[tuple[str, str]]:
    """The (url, text) links of the pages ``user`` may open."""
    links = []
    for endpoint, text, roles in _STAFF_LINKS:
        if user.role in roles:
            try:
                links.append((url_for(endpoint), _(text)))
            except Exception:  # noqa: BLE001, S112 - a link to a page that is not registered is simply not shown
                continue
    return links
