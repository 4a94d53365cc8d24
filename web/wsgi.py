"""WSGI entry point for gunicorn: ``gunicorn web.wsgi:app``."""

from __future__ import annotations

import config.models  # noqa: F401 - every table mapped before the first request
from web import create_app

app = create_app()
