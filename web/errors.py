"""Errors as people and systems want them: HTML pages for browsers, problem+json for the API."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from web.i18n import gettext as _

log = logging.getLogger(__name__)

TITLES = {
    400: "Yêu cầu không hợp lệ",
    401: "Cần đăng nhập",
    403: "Không có quyền truy cập",
    404: "Trang không tồn tại",
    500: "Đã xảy ra lỗi",
}


def wants_json() -> bool:
    """API paths and clients that prefer JSON get problem documents."""
    if request.path.startswith("/api/") or request.path == "/healthz":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> Response:
    """An RFC 9457 ``application/problem+json`` response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    return resp


def register_error_handlers(app: Flask) -> None:
    """Install handlers for HTTP errors and unexpected exceptions."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | tuple[str, int]:
        status = exc.code or 500
        if wants_json():
            return problem(status, exc.name, exc.description)
        title = _(TITLES.get(status, "Đã xảy ra lỗi"))
        detail = exc.description if status == 400 else None  # noqa: PLR2004 - says what was wrong with the request
        return render_template("error.html", title=title, detail=detail, status=status), status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response | tuple[str, int]:
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        if wants_json():
            return problem(500, "Internal Server Error", "Lỗi hệ thống; đã ghi nhận. / Server error; logged.")
        return render_template("error.html", title=_("Đã xảy ra lỗi"), detail=None, status=500), 500
