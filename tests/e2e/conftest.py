"""Browser tests: a real server on a free 127.0.0.1 port, Debian's Chromium driven by Playwright.

Chromium comes from Debian (``apt-get install chromium``, done here once when it is missing); Playwright
drives it through ``executable_path`` and never downloads a browser. The server is the real app (werkzeug,
threaded) over a fresh migrated SQLite database with the reference data, in-process jobs on.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--lang=vi-VN",  # Vietnamese first: date inputs show dd/mm/yyyy
]


def _install_chromium() -> str | None:
    """Install Debian's chromium when missing; None when it is there, else why it is not."""
    if CHROMIUM.exists():
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "Chromium is not installed and this user cannot apt-get install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)  # noqa: S603 - fixed commands
        if done.returncode != 0 and cmd[1] == "install":
            return f"apt-get install chromium failed: {done.stderr.strip()[-300:]}"
    return None if CHROMIUM.exists() else "apt-get did not provide /usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    reason = _install_chromium()
    if reason:
        pytest.skip(reason)
    if not (REPO / "node_modules" / "qr-scanner" / "qr-scanner.min.js").is_file():
        pytest.skip("front-end packages missing: run `npm ci` (make test does it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install -e '.[dev]')")
    return str(CHROMIUM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """The running app: its address, database and settings."""

    url: str
    db: Any
    settings: Any
    app: Any


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from werkzeug.serving import make_server

    from config.db import Database
    from config.migrate import upgrade
    from config.settings import Settings
    from logistics.agencies.refdata import load_reference_data
    from web import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'e2e.db'}"
    upgrade(url)
    db = Database(url)
    with db.unit_of_work() as session:
        load_reference_data(session)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(env="test", database_url=url, public_base_url=base, inprocess_jobs=True, port=port)
    app = create_app(settings, db=db, start_jobs=True)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(base, db, settings, app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        db.dispose()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
