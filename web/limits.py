"""Rate limiting at the web door: the process's limiter (``config.ratelimit``) and 429 responses.

Reusable by any view: ``decision = hit(Limit("name", 30, 600), client_key())``; answer
``too_many_requests(decision)`` when it is not allowed. The limiter is Redis-backed when ``REDIS_URL`` is set
and database-backed otherwise; both hold across processes. On SQLite, call ``hit`` before the request's own
session starts writing (the database limiter commits on a connection of its own).
"""

from __future__ import annotations

from flask import Response, current_app, render_template, request

from config.ratelimit import Limit, RateDecision, RateLimiter, make_rate_limiter
from web.context import services
from web.errors import problem, wants_json
from web.i18n import gettext as _

EXTENSION = "dossierpost.ratelimiter"


def limiter() -> RateLimiter:
    """The app's limiter, created on first use (no connection is opened at start-up)."""
    found: RateLimiter | None = current_app.extensions.get(EXTENSION)
    if found is None:
        svc = services()
        found = make_rate_limiter(svc.settings.redis_url, svc.db)
        current_app.extensions[EXTENSION] = found
    return found


def client_key() -> str:
    """The client's address (``ProxyFix`` already applied the trusted proxies' X-Forwarded-For)."""
    return request.remote_addr or "unknown"


def hit(limit: Limit, key: str) -> RateDecision:
    """Count one hit against ``limit`` for ``key``."""
    return limiter().hit(limit, key)


def too_many_requests(decision: RateDecision) -> Response:
    """A 429 with ``Retry-After``: problem+json for API clients, a page for people."""
    minutes = max(1, (decision.retry_after_s + 59) // 60)
    detail = _("Bạn đã tra cứu quá nhiều lần. Vui lòng thử lại sau {minutes} phút.").format(minutes=minutes)
    if wants_json():
        resp = problem(429, "Too Many Requests", detail, retry_after=decision.retry_after_s)
    else:
        resp = Response(render_template("error.html", title=_("Quá nhiều yêu cầu"), detail=detail, status=429),
                        status=429, mimetype="text/html")
    resp.headers.update(decision.headers())
    return resp


# Every API call counts against its caller: a token (by its public prefix) or, without one, the client
# address. Generous enough for a one-stop system's bulk sync; low enough that a leaked token or a scraper
# cannot walk the item-code space.
API_PER_TOKEN = Limit("api-token", 1200, 60)
API_PER_ADDRESS = Limit("api-address", 300, 60)


def api_rate_limit() -> Response | None:
    """``before_request`` hook: a 429 problem when the API caller is over its limit, else None."""
    if not request.path.startswith("/api/"):
        return None
    header = request.headers.get("Authorization", "")
    parts = header[7:].strip().split("_") if header.lower().startswith("bearer ") else []
    if len(parts) >= 3 and parts[0] == "dp":  # noqa: PLR2004 - dp_<prefix>_<secret>
        decision = hit(API_PER_TOKEN, f"token:{parts[1]}")
    else:
        decision = hit(API_PER_ADDRESS, client_key())
    return None if decision.allowed else too_many_requests(decision)
