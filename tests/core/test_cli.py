"""The operator commands, run as a newcomer's `make run` runs them (on a fresh SQLite file)."""

from click.testing import CliRunner
from sqlalchemy import func, select

from config.db import Database
from logistics.accounts.models import User
from logistics.agencies.models import Procedure
from logistics.orders.models import Order
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
        assert s.scalar(select(func.count(Order.id))) == 36
        assert s.scalar(select(func.count(User.id))) == 6
        assert s.scalar(select(func.count(Procedure.id))) >= 80
    db.dispose()


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
