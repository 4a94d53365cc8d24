"""The Flask app: HTML for people, JSON for systems; thin doors onto the domain services."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask, Response, g, request, session
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from config.db import Database
from config.queue import Relay
from config.settings import Settings
from logistics.labels.signing import LabelSigner
from logistics.text import install_log_masking
from web.audit import install_audit
from web.auth import check_csrf, current_user, staff_links
from web.context import Services
from web.errors import register_error_handlers
from web.i18n import LANGS, current_lang, format_date, format_vnd, gettext
from web.limits import api_rate_limit

MAX_BODY_BYTES = 2 * 1024 * 1024


def create_app(settings: Settings | None = None, *, db: Database | None = None,
               start_jobs: bool | None = None) -> Flask:
    """Build the web app for ``settings`` (read from the environment when not given).

    No database query runs here (fork safety: gunicorn may fork after this); the in-process job runner
    starts on the first request of each process.
    """
    settings = settings or Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_masking()  # phones, ID numbers and e-mails never reach the logs, tracebacks included
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=12 * 3600,  # one working day, counted from the log-in
        # The cookie is written only when the session changes, not re-signed and re-sent on every request (a
        # courier's phone posts a scan a few seconds apart; re-issuing the cookie cost ~0.7 ms each).
        SESSION_REFRESH_EACH_REQUEST=False,
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Vietnamese stays readable in JSON
    if settings.trusted_proxies:
        # Behind TLS-terminating proxies: trust exactly that many hops for client IP, scheme (HSTS) and host.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    database = db or Database(settings.database_url)
    relay = Relay(database, settings, background=True)  # requests never wait for Redis
    database.after_commit_hooks[:] = [relay.kick]  # one relay per database in a process
    app.extensions["dossierpost"] = Services(settings, database, relay, LabelSigner(settings.label_keys))
    run_jobs_here = settings.inprocess_jobs if start_jobs is None else start_jobs
    if run_jobs_here and not relay.uses_redis:
        app.before_request(relay.start_inprocess)
    _install_unit_of_work(app, database)
    install_audit(app)  # after the unit of work: Flask runs after_request hooks last-registered first
    app.before_request(check_csrf)
    app.before_request(api_rate_limit)  # before any view opens the request's session (SQLite: see web.limits)

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {
            "_": gettext,
            "lang": current_lang(),
            "langs": LANGS,
            "vnd": format_vnd,
            "ddmmyyyy": lambda v: format_date(v, settings.timezone),
            "csrf_token": csrf_token,
            "current_user": current_user,
            "staff_links": staff_links,
            "demo": settings.demo,
        }

    @app.after_request
    def _remember_lang(response: Response) -> Response:
        lang = request.args.get("lang")
        if lang in LANGS:
            response.set_cookie("lang", lang, max_age=365 * 24 * 3600, samesite="Lax")
        return response

    # Ids in URLs are database integers: a larger number is "no such thing" (404), not a database error.
    app.url_map.converters["int"] = BoundedIntConverter
    from web.api_orders import bp as api_orders_bp  # noqa: PLC0415 - blueprints import the app's helpers
    from web.api_v1 import bp as api_bp  # noqa: PLC0415
    from web.auth import bp as auth_bp  # noqa: PLC0415
    from web.openapi import docs_bp  # noqa: PLC0415
    from web.public import bp as public_bp  # noqa: PLC0415

    app.register_blueprint(public_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(api_orders_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(docs_bp)
    # Scans, hand-over records and the agency desk; reference data for systems.
    from web import api_agency, api_reference, api_scans  # noqa: PLC0415
    for api_module in (api_scans, api_agency, api_reference):
        app.register_blueprint(api_module.bp)
    from web.people import register as register_people_pages  # noqa: PLC0415 - the people's web app
    register_people_pages(app)
    from web.ops import bp as ops_bp  # noqa: PLC0415 - the operator page (queues, failed jobs, webhooks)
    app.register_blueprint(ops_bp)
    from web.dispatch import bp as dispatch_bp  # noqa: PLC0415 - dispatcher pages (routing issue #3)
    app.register_blueprint(dispatch_bp)
    if settings.bench_endpoints:  # bench/bench_http.py's ceilings; refused in production (config.settings)
        from web.bench import bp as bench_bp  # noqa: PLC0415
        app.register_blueprint(bench_bp)
    register_error_handlers(app)
    return app


def _install_unit_of_work(app: Flask, database: Database) -> None:
    """One transaction per request: commit when the response succeeds, roll back otherwise."""

    @app.after_request
    def _commit(response: Response) -> Response:
        db_session = g.pop("db_session", None)
        if db_session is not None:
            try:
                if response.status_code < 400:  # noqa: PLR2004 - success and redirects commit
                    db_session.commit()
                else:
                    db_session.rollback()
            finally:
                db_session.close()
            database.run_after_commit_hooks()
        return _security_headers(response)

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        db_session = g.pop("db_session", None)
        if db_session is not None:  # the request failed before after_request ran
            db_session.rollback()
            db_session.close()


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` limited to the range of the INTEGER id columns (fuzzing found 10**30 reaching SQL)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def csrf_token() -> str:
    """The session's CSRF token (created on first use), rendered into every form."""
    token: str | None = session.get("csrf")
    if token is None:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response
