from datetime import timedelta

import pytest
from click.testing import CliRunner

from config.db import utcnow
from logistics.accounts.tokens import TokenError, authenticate_token, issue_token, revoke_token
from web.cli import main


def test_issued_token_authenticates_and_only_its_hash_is_stored(db_session):
    issued = issue_token(db_session, name="iGate", scopes=["orders:write", "orders:read"])
    assert issued.secret.startswith(f"dp_{issued.token.prefix}_")
    assert issued.secret.split("_", 2)[2] not in issued.token.secret_hash
    token = authenticate_token(db_session, issued.secret)
    assert token.id == issued.token.id
    assert token.scope_set == {"orders:write", "orders:read"}
    assert token.last_used_at is not None


@pytest.mark.parametrize("mangle", [
    lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),  # altered secret
    lambda s: s[:-5],  # truncated
    lambda s: "dp_000000000000_" + s.split("_", 2)[2],  # another prefix
    lambda _s: "",
    lambda _s: "Bearer nonsense",
])
def test_altered_tokens_are_refused(db_session, mangle):
    issued = issue_token(db_session, name="iGate", scopes=["orders:write"])
    with pytest.raises(TokenError):
        authenticate_token(db_session, mangle(issued.secret))


def test_revoked_and_expired_tokens_are_refused(db_session):
    issued = issue_token(db_session, name="iGate", scopes=["orders:write"], lifetime=timedelta(days=1))
    with pytest.raises(TokenError):
        authenticate_token(db_session, issued.secret, now=utcnow() + timedelta(days=2))
    revoke_token(db_session, issued.token.prefix)
    with pytest.raises(TokenError):
        authenticate_token(db_session, issued.secret)


def test_scopes_and_bindings_are_checked_at_issue(db_session):
    with pytest.raises(TokenError, match="unknown scopes"):
        issue_token(db_session, name="x", scopes=["everything"])
    with pytest.raises(TokenError, match="agency"):
        issue_token(db_session, name="x", scopes=["agency:confirm"])
    with pytest.raises(TokenError, match="3"):
        issue_token(db_session, name="x", scopes=["orders:read"], lifetime=timedelta(days=5000))


def test_cli_shows_the_secret_once_and_lists_without_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    runner.invoke(main, ["migrate"], catch_exceptions=False)
    created = runner.invoke(main, ["tokens", "create", "--name", "iGate Cà Mau", "--scope", "orders:write"],
                            catch_exceptions=False)
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("dp_")
    listed = runner.invoke(main, ["tokens", "list"], catch_exceptions=False).output
    assert "iGate Cà Mau" in listed
    assert secret not in listed
    prefix = secret.split("_")[1]
    assert runner.invoke(main, ["tokens", "revoke", prefix]).exit_code == 0
    assert "revoked" in runner.invoke(main, ["tokens", "list"]).output


def test_cli_issues_the_reference_and_labels_scopes(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    runner.invoke(main, ["migrate"], catch_exceptions=False)
    assert "reference:read" in runner.invoke(main, ["tokens", "create", "--help"]).output
    created = runner.invoke(main, ["tokens", "create", "--name", "Cổng DVC quốc gia", "--scope", "reference:read",
                                   "--scope", "labels:read"], catch_exceptions=False)
    assert created.exit_code == 0, created.output
    assert "labels:read reference:read" in runner.invoke(main, ["tokens", "list"]).output
    bad = runner.invoke(main, ["tokens", "create", "--name", "x", "--scope", "reference:write"])
    assert bad.exit_code != 0 and "reference:write" in bad.output


def test_last_use_is_recorded_to_the_minute_not_written_on_every_call(db_session):
    issued = issue_token(db_session, name="iGate", scopes=["orders:read"])
    start = utcnow()
    assert authenticate_token(db_session, issued.secret, now=start).last_used_at == start
    db_session.flush()
    token = authenticate_token(db_session, issued.secret, now=start + timedelta(seconds=30))
    assert token.last_used_at == start
    assert token not in db_session.dirty  # a system's reads stay reads
    later = start + timedelta(seconds=61)
    assert authenticate_token(db_session, issued.secret, now=later).last_used_at == later
