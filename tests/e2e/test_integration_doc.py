"""``docs/integration.md`` runs as written: its shell blocks, with real ``curl``, against a live server.

The fenced ``sh`` blocks are joined in document order into one ``bash`` script (``set -euo pipefail``; the
doc's ``curl -f`` turns any HTTP error into a failed command) and run in a scratch directory, where the
doc's ``python`` block is saved as ``receiver.py``: the doc's own webhook receiver, which checks each
signature and writes what it accepts to ``events.jsonl``. ``$BASE`` is the live server, ``$HOOK_PORT`` a free
port, ``DATABASE_URL`` the server's database (for the doc's ``dossierpost tokens create``); ``$TOKEN``,
``$CODE``, ``$RECORD``… come from the earlier commands' outputs, exactly as a reader's shell gets them.
Webhooks are sent by the server's in-process job runner, as under ``make run``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from logistics.orders.models import Leg, Order, OrderState
from tests.e2e.conftest import REPO, LiveServer, _free_port

DOC = REPO / "docs" / "integration.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
EXTERNAL_REF = "IGATE-2026-000123"

pytestmark = pytest.mark.timeout(240)


def blocks(text: str, lang: str) -> list[str]:
    """The fenced blocks of ``lang``, in document order."""
    return [body for found, body in FENCE.findall(text) if found == lang]


def script(text: str) -> str:
    return "set -euo pipefail\nset -x\n" + "\n".join(blocks(text, "sh"))


def _tools() -> None:
    missing = [tool for tool in ("bash", "curl", "jq", "python3") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the integration page needs {', '.join(missing)}")


def run_doc(text: str, live_server: LiveServer, workdir: Path,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the page's shell blocks in ``workdir``; the receiver it starts is stopped afterwards."""
    receivers = [b for b in blocks(text, "python") if b.startswith("# receiver.py")]
    assert len(receivers) == 1, "the page shows one receiver.py"
    (workdir / "receiver.py").write_text(receivers[0], encoding="utf-8")
    (workdir / ".venv").symlink_to(REPO / ".venv")  # the doc runs ``.venv/bin/dossierpost`` from the repo
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "LANG": "C.UTF-8",
           "BASE": live_server.url, "HOOK_PORT": str(_free_port()), "DATABASE_URL": live_server.settings.database_url}
    proc = subprocess.Popen(["bash", "-c", script(text)], cwd=workdir, env=env, text=True,  # noqa: S603, S607
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _out, err = proc.communicate()
        pytest.fail(f"the page's commands did not finish in {timeout:.0f} s:\n{err[-4000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):  # the doc's background receiver, if the run stopped early
            os.killpg(proc.pid, signal.SIGTERM)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_the_integration_page_runs_as_written(live_server: LiveServer, tmp_path: Path) -> None:
    _tools()
    text = DOC.read_text(encoding="utf-8")
    curls = [line for block in blocks(text, "sh") for line in block.splitlines() if "curl " in line]
    assert len(curls) >= 15, "the page shows the integration with curl"
    done = run_doc(text, live_server, tmp_path)
    assert done.returncode == 0, f"the page's commands failed:\n{done.stderr[-4000:]}"

    out = done.stdout
    assert out.index("HTTP 201") < out.index("HTTP 200")  # created, then the same external_ref: the same order
    assert "HTTP 204" in out  # the subscription deleted
    with live_server.db.unit_of_work() as s:
        orders = s.scalars(select(Order).where(Order.dossier.has(external_ref=EXTERNAL_REF))
                           .order_by(Order.id)).all()
        assert [(o.leg, o.state) for o in orders] == [(Leg.PICKUP, OrderState.ACCEPTED),
                                                      (Leg.RESULT, OrderState.CREATED)]
        pickup, result = (o.item_code for o in orders)
        dossier_code = orders[0].dossier.dossier_code
    assert dossier_code and dossier_code.startswith("000.00.01.H12-")
    assert (tmp_path / f"nhan-{result}.pdf").read_bytes().startswith(b"%PDF")
    records = list(tmp_path.glob("bien-ban-*.pdf"))
    assert len(records) == 1 and records[0].read_bytes().startswith(b"%PDF")

    # The doc's receiver accepted only correctly signed deliveries; each line is one verified event.
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    seen = [(e["data"]["item_code"], e["type"]) for e in events]
    for expected in ((pickup, "dossier.created"), (pickup, "dossier.collected"), (pickup, "dossier.handed_to_agency"),
                     (pickup, "dossier.receipt_confirmed"), (pickup, "dossier.result_ready"),
                     (result, "dossier.result_ready")):
        assert expected in seen, (expected, seen)
    assert all(e["data"]["external_ref"] == EXTERNAL_REF for e in events)
    assert any(e["data"]["dossier_code"] == dossier_code for e in events)
    assert "0912" not in (tmp_path / "events.jsonl").read_text(encoding="utf-8")  # no personal data in webhooks


def test_a_broken_command_in_the_page_fails_the_run(live_server: LiveServer, tmp_path: Path) -> None:
    _tools()
    text = DOC.read_text(encoding="utf-8").replace("/api/v1/reference/procedures?", "/api/v1/reference/procedure?")
    done = run_doc(text, live_server, tmp_path, timeout=60)
    assert done.returncode != 0
    assert "404" in done.stderr
