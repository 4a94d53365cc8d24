"""S10 serials stay unique when several processes create orders at the same moment."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from logistics.labels.s10 import parse_item_code
from logistics.orders.models import Order
from tests.conftest import clean_transactional

WORKERS = 4
ORDERS_EACH = 15

SCRIPT = textwrap.dedent("""
    import sys
    import config.models
    from config.db import Database
    from logistics.orders.models import Channel
    from tracking.services import book_pickup
    url, commune, procedure, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    db = Database(url)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()  # start together
    for i in range(n):
        with db.unit_of_work() as s:
            order, _ = book_pickup(s, {"applicant_name": "Lê Văn Tám", "phone": "0912345678",
                "address": "Ấp 3", "commune_code": commune, "procedure_code": procedure,
                "service_form": "send_only"}, indicator="RA", channel=Channel.API)
            print(order.item_code, flush=True)
""")


@pytest.mark.parametrize("db", [pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"], indirect=True)
def test_concurrent_processes_never_share_a_serial(db):
    from tests.orders.helpers import commune, procedure

    with db.unit_of_work() as s:
        commune_code, procedure_code = commune(s).code, procedure(s).code
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    procs = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", SCRIPT, db.url, commune_code, procedure_code, str(ORDERS_EACH)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for _ in range(WORKERS)
    ]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        for p in procs:  # release them all at once
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = [p.communicate(timeout=120) for p in procs]
        for p, (_out, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, err
        codes = [c for out, _ in outputs for c in out.split()]
        assert len(codes) == WORKERS * ORDERS_EACH
        assert len(set(codes)) == len(codes)
        serials = {parse_item_code(c).serial for c in codes}
        assert len(serials) == len(codes)
        with db.unit_of_work() as s:
            stored = s.scalars(select(Order.item_code)).all()
        assert set(codes) <= set(stored)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        clean_transactional(db)


