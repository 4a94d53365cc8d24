"""The people's web app (issue #6): the courier PWA, agency desk, manager pages, citizen additions, vendor files.

``create_app`` calls :func:`register` once; each audience keeps its own blueprint module.
"""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register the blueprints of the people's pages."""
    from web import agency_desk, citizen, courier, manager, vendor  # noqa: PLC0415 - blueprints import the app's helpers

    for module in (vendor, courier, agency_desk, manager, citizen):
        app.register_blueprint(module.bp)
    # Browsers ask every site for /favicon.ico: answer with the app icon instead of a 404 on every page.
    app.add_url_rule("/favicon.ico", "favicon", courier.favicon)
