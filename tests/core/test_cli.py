"""The operator commands, run as a newcomer's `make run` runs them (on a fresh SQLite file)."""

from click.testing import CliRunner
from sqlalchemy import func, select

from config.db import Database
from logistics.accounts.models import User
from logistics.agencies.models import Procedure
from logistics.orders.models import Dossier, LabelRendering, Order
from tracking.demo import DEFAULT_BOOKINGS
from web.cli import main


def test_migrate_seed_demo_is_idempotent(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DOSSIERPOST_DEMO", "1")
    runner = CliRunner()
    for _ in range(2):
        assert runner.invoke(main, ["migrate"], catch_exceptions=False).exit_code == 0
        result = runner.invoke(main, ["seed", "--demo"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "buuta1" in result.output
    db = Database(url)
    with db.unit_of_work() as s:
        dossiers = s.scalar(select(func.count(Dossier.id)))
        assert dossiers == DEFAULT_BOOKINGS  # once, though seeded twice
        orders = s.scalar(select(func.count(Order.id)))
        assert orders > dossiers  # result legs too
        assert s.scalar(select(func.count(LabelRendering.order_id)).where(LabelRendering.fmt == "pdf")) == orders
        assert s.scalar(select(func.count(User.id))) == 6
        assert s.scalar(select(func.count(Procedure.id))) >= 80
    db.dispose()
    verified = runner.invoke(main, ["verify-chain"], catch_exceptions=False)
    assert verified.exit_code == 0 and f"{orders} chain(s) checked, 0 broken" in verified.output


def test_simulate_plays_a_day_in_demo_mode_only(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()
    runner.invoke(main, ["migrate"], catch_exceptions=False)
    monkeypatch.setenv("DOSSIERPOST_DEMO", "1")
    assert runner.invoke(main, ["seed", "--demo"], catch_exceptions=False).exit_code == 0
    monkeypatch.setenv("DOSSIERPOST_DEMO", "0")
    refused = runner.invoke(main, ["simulate", "--bookings", "5"])
    assert refused.exit_code != 0 and "--yes" in refused.output
    played = runner.invoke(main, ["simulate", "--bookings", "20", "--seed", "3", "--yes"], catch_exceptions=False)
    assert played.exit_code == 0, played.output
    assert "20 bookings" in played.output and "events/s" in played.output and "all verify" in played.output
    monkeypatch.setenv("DOSSIERPOST_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("LABEL_SIGNING_KEY", "l" * 40)
    production = runner.invoke(main, ["simulate", "--yes"])
    assert production.exit_code != 0 and "production" in production.output


def test_create_user_validates_scope(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()
    runner.invoke(main, ["migrate"], catch_exceptions=False)
    runner.invoke(main, ["seed"], catch_exceptions=False)
    bad = runner.invoke(main, ["create-user", "--username", "bt", "--full-name", "Bưu Tá", "--role", "courier"],
                        input="mot-mat-khau-dai\nmot-mat-khau-dai\n")
    assert bad.exit_code != 0
    assert "bưu cục" in bad.output
    short = runner.invoke(main, ["create-user", "--username", "ql", "--full-name", "Quản Lý", "--role", "manager"],
                          input="short\nshort\n")
    assert short.exit_code != 0
    ok = runner.invoke(main, ["create-user", "--username", "ql", "--full-name", "Quản Lý", "--role", "manager"],
                       input="mot-mat-khau-dai\nmot-mat-khau-dai\n")
    assert ok.exit_code == 0, ok.output
    dup = runner.invoke(main, ["create-user", "--username", "ql", "--full-name", "Quản Lý", "--role", "manager"],
                        input="mot-mat-khau-dai\nmot-mat-khau-dai\n")
    assert dup.exit_code != 0


def test_production_refuses_to_start_with_default_secret(monkeypatch):
    monkeypatch.setenv("DOSSIERPOST_ENV", "production")
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code != 0
    assert "SECRET_KEY" in result.output
