"""Browser packages installed from the npm registry (``npm ci``), served from ``node_modules``.

Only the files listed here are reachable (no directory listing, no path from the URL touches the disk), and
nothing is fetched from a CDN at run time. ``make run`` and ``make test`` install the packages when
``package-lock.json`` changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from flask import Blueprint, Response, abort, request

bp = Blueprint("vendor", __name__, url_prefix="/vendor")

NODE_MODULES: Final[Path] = Path(__file__).resolve().parent.parent / "node_modules"

# URL name -> (path under node_modules, MIME type). qr-scanner's ES module imports its worker module by a
# relative path, so both keep their file names under one URL folder.
FILES: Final[dict[str, tuple[str, str]]] = {
    "qr-scanner/qr-scanner.min.js": ("qr-scanner/qr-scanner.min.js", "text/javascript"),
    "qr-scanner/qr-scanner-worker.min.js": ("qr-scanner/qr-scanner-worker.min.js", "text/javascript"),
}


def vendor_available(name: str) -> bool:
    """Whether a vendored file is installed (``npm ci`` has run)."""
    entry = FILES.get(name)
    return entry is not None and (NODE_MODULES / entry[0]).is_file()


@bp.get("/<path:name>")
def asset(name: str) -> Response:
    """One whitelisted file of an installed npm package, cacheable for a day."""
    entry = FILES.get(name)
    if entry is None:
        abort(404)
    path = NODE_MODULES / entry[0]
    if not path.is_file():
        abort(404, description="Front-end packages are not installed: run `npm ci` (make run does).")
    # Read whole (tens of KB, cached by browsers and the service worker) so no file handle outlives the request.
    resp = Response(path.read_bytes(), mimetype=entry[1])
    resp.headers["Cache-Control"] = "public, max-age=86400"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.add_etag()
    resp.make_conditional(request)  # 304 for a matching If-None-Match; changes resp in place
    return resp
