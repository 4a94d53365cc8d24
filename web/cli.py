"""The ``dossierpost`` command: every operator task (migrate, seed, create-user, serve, worker, ...)."""

from __future__ import annotations

import os
import sys
import time

import click

from config.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def main() -> None:
    """DossierPost: bưu chính công ích cho hồ sơ hành chính / public post for administrative dossiers."""


@main.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""
    from config.migrate import upgrade  # noqa: PLC0415 - commands import what they need, when they run

    settings = _settings()
    upgrade(settings.database_url)
    click.echo(f"migrated {settings.database_url.split('@')[-1]}")


@main.command()
@click.option("--demo/--no-demo", default=False, help="Also create demo accounts and bookings.")
def seed(demo: bool) -> None:
    """Load reference data (idempotent) and, with --demo, demo data."""
    import config.models  # noqa: F401, PLC0415 - every table mapped before the first query
    from config.db import Database  # noqa: PLC0415
    from logistics.agencies.refdata import load_reference_data  # noqa: PLC0415

    settings = _settings()
    if demo and settings.is_production:
        raise click.ClickException("Không tạo dữ liệu demo trong môi trường production.")
    db = Database(settings.database_url)
    started = time.perf_counter()
    with db.unit_of_work() as session:
        counts = load_reference_data(session)
    click.echo("reference data: " + ", ".join(f"{k}={v}" for k, v in counts.items())
               + f" ({time.perf_counter() - started:.1f}s)")
    if demo:
        from config.queue import run_pending  # noqa: PLC0415
        from tracking.demo import DEMO_PASSWORD, seed_demo  # noqa: PLC0415

        started = time.perf_counter()
        with db.unit_of_work() as session:
            accounts = seed_demo(session, indicator=settings.s10_service_indicator, settings=settings)
        labels = run_pending(db, settings, queue="labels")  # labels ready to print before the server starts
        click.echo(f"demo data: {time.perf_counter() - started:.1f}s ({labels} label job(s) run)")
        click.echo("\nDemo accounts (demo mode only) — mật khẩu / password: " + DEMO_PASSWORD)
        for acc in accounts:
            click.echo(f"  {acc.username:<10} {acc.role.value:<15} {acc.scope}")
    db.dispose()


@main.command("simulate")
@click.option("--bookings", default=200, show_default=True, help="Bookings of the day.")
@click.option("--seed", "seed_value", default=1, show_default=True, help="Random seed (same seed, same choices).")
@click.option("--day", default=None, help="Working day to play, YYYY-MM-DD, in the past [previous working day].")
@click.option("--yes", is_flag=True, help="Also on a database that is not in demo mode (never in production).")
def simulate_cmd(bookings: int, seed_value: int, day: str | None, yes: bool) -> None:
    """Play a working day through the real services: bookings, runs, scans, the agency desk, deliveries."""
    from datetime import date  # noqa: PLC0415

    import config.models  # noqa: F401, PLC0415
    from config.db import Database  # noqa: PLC0415
    from tracking.simulate import SimulationError, simulate  # noqa: PLC0415

    settings = _settings()
    if settings.is_production:
        raise click.ClickException("Không mô phỏng trong môi trường production. / Never in production.")
    if not settings.demo and not yes:
        raise click.ClickException("Chỉ ở chế độ demo (DOSSIERPOST_DEMO=1), hoặc thêm --yes để ghi vào cơ sở dữ "
                                   "liệu này. / Demo mode only, or --yes to write to this database.")
    if bookings < 1:
        raise click.ClickException("--bookings must be at least 1")
    try:
        played_day = date.fromisoformat(day) if day else None
    except ValueError as exc:
        raise click.ClickException(f"--day: {exc}") from exc
    db = Database(settings.database_url)
    try:
        with db.unit_of_work() as session:
            summary = simulate(session, settings, bookings=bookings, seed=seed_value, day=played_day,
                               checkpoint=session.commit)
    except SimulationError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    for line in summary.lines():
        click.echo(line)
    click.echo("labels and notifications: outbox jobs, run by the web process (or `make worker` with Redis)")


@main.command("create-user")
@click.option("--username", required=True)
@click.option("--full-name", required=True)
@click.option("--role", required=True,
              type=click.Choice(["courier", "dispatcher", "agency_officer", "manager", "admin"]))
@click.option("--agency", "agency_code", default=None, help="Agency code (agency officers).")
@click.option("--post-office", "post_office_code", default=None, help="Post office code (couriers, dispatchers).")
@click.password_option(help="At least 10 characters.")
def create_user_cmd(  # noqa: PLR0917 - click passes options positionally
    username: str, full_name: str, role: str, agency_code: str | None,
                    post_office_code: str | None, password: str) -> None:
    """Create a staff account."""
    import config.models  # noqa: F401, PLC0415
    from config.db import Database  # noqa: PLC0415
    from logistics.accounts.models import Role  # noqa: PLC0415
    from logistics.accounts.services import AccountError, create_user  # noqa: PLC0415

    db = Database(_settings().database_url)
    try:
        with db.unit_of_work() as session:
            user = create_user(session, username=username, full_name=full_name, role=Role(role),
                               password=password, agency_code=agency_code, post_office_code=post_office_code)
            click.echo(f"created user {user.username} ({user.role.value})")
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, help="Threads per worker.")
def serve(workers: int, threads: int) -> None:
    """Serve the web app with gunicorn on 127.0.0.1:$PORT."""
    settings = _settings()
    argv = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
            "--bind", f"127.0.0.1:{settings.port}", "--access-logfile", "-", "--graceful-timeout", "5",
            "web.wsgi:app"]
    click.echo(f"DossierPost: {settings.public_base_url}  (database: {settings.database_url.split('@')[-1]}, "
               f"jobs: {'RQ at ' + settings.redis_url if settings.redis_url else 'in-process'})")
    os.execv(sys.executable, argv)  # noqa: S606 - replaces this process with gunicorn; no shell involved


@main.command()
@click.option("--queues", default="routing,labels,notifications,webhooks,periodic", show_default=True)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(queues: str, burst: bool) -> None:
    """Run an RQ worker (needs REDIS_URL)."""
    from workers.runner import run_worker  # noqa: PLC0415

    settings = _settings()
    if not settings.redis_url:
        raise click.ClickException("REDIS_URL chưa đặt: không có Redis thì công việc chạy ngay trong web (make run).")
    run_worker(settings, queues.split(","), burst=burst)


@main.command("relay")
def relay_cmd() -> None:
    """Hand pending outbox messages to the queue now (the reconciler does this periodically)."""
    import config.models  # noqa: F401, PLC0415
    from config.db import Database  # noqa: PLC0415
    from config.queue import Relay  # noqa: PLC0415

    settings = _settings()
    n = Relay(Database(settings.database_url), settings).relay_pending()
    click.echo(f"relayed {n} message(s)")


@main.group()
def tokens() -> None:
    """API tokens for other systems (the secret is shown once)."""


@tokens.command("create")
@click.option("--name", required=True, help="Which system uses it, e.g. 'iGate Cà Mau'.")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="orders:read, orders:write, labels:read, scans:write, agency:confirm, webhooks:manage, "
                   "reference:read (repeat --scope for several)")
@click.option("--agency", "agency_code", default=None, help="Bind to an agency (its dossiers only).")
@click.option("--post-office", "post_office_code", default=None, help="Bind to a post office.")
@click.option("--days", default=365, show_default=True, help="Lifetime in days (at most 3 years).")
def tokens_create(name: str, scopes: tuple[str, ...], agency_code: str | None, post_office_code: str | None,
                  days: int) -> None:
    """Issue a token and print its secret once."""
    from datetime import timedelta  # noqa: PLC0415

    import config.models  # noqa: F401, PLC0415
    from config.db import Database  # noqa: PLC0415
    from logistics.accounts.tokens import TokenError, issue_token  # noqa: PLC0415

    db = Database(_settings().database_url)
    try:
        with db.unit_of_work() as session:
            issued = issue_token(session, name=name, scopes=list(scopes), agency_code=agency_code,
                                 post_office_code=post_office_code, lifetime=timedelta(days=days))
            click.echo(f"token {issued.token.prefix} for {name!r}, expires {issued.token.expires_at:%d/%m/%Y}")
            click.echo("secret (shown once / chỉ hiện một lần):")
            click.echo(issued.secret)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc


@tokens.command("revoke")
@click.argument("prefix")
def tokens_revoke(prefix: str) -> None:
    """Revoke a token by its prefix."""
    import config.models  # noqa: F401, PLC0415
    from config.db import Database  # noqa: PLC0415
    from logistics.accounts.tokens import TokenError, revoke_token  # noqa: PLC0415

    db = Database(_settings().database_url)
    try:
        with db.unit_of_work() as session:
            revoke_token(session, prefix)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {prefix}")


@tokens.command("list")
def tokens_list() -> None:
    """List tokens (never their secrets)."""
    from sqlalchemy import select  # noqa: PLC0415

    import config.models  # noqa: F401, PLC0415
    from config.db import Database  # noqa: PLC0415
    from logistics.accounts.models import ApiToken  # noqa: PLC0415

    db = Database(_settings().database_url)
    with db.unit_of_work() as session:
        for t in session.scalars(select(ApiToken).order_by(ApiToken.id)):
            state = "revoked" if t.revoked_at else f"expires {t.expires_at:%d/%m/%Y}"
            click.echo(f"{t.prefix}  {t.name:<30} {t.scopes:<40} {state}")



@main.command("verify-chain")
@click.argument("item_code", required=False)
def verify_chain_cmd(item_code: str | None) -> None:
    """Verify the tamper-evident event chain of one item (or of every item); exit 1 if any is broken."""
    import config.models  # noqa: F401, PLC0415
    from config.db import Database  # noqa: PLC0415
    from logistics.labels.errors import InvalidItemCode  # noqa: PLC0415
    from logistics.labels.s10 import normalize_item_code  # noqa: PLC0415
    from tracking.services import verify_chains  # noqa: PLC0415

    try:
        code = normalize_item_code(item_code) if item_code else None
    except InvalidItemCode as exc:
        raise click.ClickException(str(exc)) from exc
    db = Database(_settings().database_url)
    with db.unit_of_work() as session:
        checked, problems = verify_chains(session, code)
    db.dispose()
    if code is not None and checked == 0:
        raise click.ClickException(f"no item {code}")
    for bad_code, found in problems.items():
        for problem in found:
            click.echo(f"{bad_code}: {problem}", err=True)
    click.echo(f"{checked} chain(s) checked, {len(problems)} broken")
    if problems:
        sys.exit(1)



@main.group()
def orders() -> None:
    """Orders: bulk import (CSV/XLSX)."""


@orders.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--chunk", default=1000, show_default=True, help="Rows per transaction.")
def import_orders(file: str, chunk: int) -> None:
    """Import pickup orders from FILE; bad rows are listed with their line number and reason."""
    from functools import partial  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    import config.models  # noqa: F401, PLC0415
    from config.db import Database  # noqa: PLC0415
    from logistics.orders.imports import ImportBatch, ImportFileError, create_batch, run_import  # noqa: PLC0415
    from logistics.orders.models import Channel  # noqa: PLC0415
    from logistics.routing.services import RoutingPolicy  # noqa: PLC0415
    from tracking.services import book_pickups  # noqa: PLC0415

    settings = _settings()
    db = Database(settings.database_url)
    path = Path(file)
    started = time.perf_counter()
    try:
        with db.unit_of_work() as session:
            batch_id = create_batch(session, path.name, path.read_bytes()).id
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from exc
    create = partial(book_pickups, indicator=settings.s10_service_indicator, channel=Channel.IMPORT,
                     actor_role="import", policy=RoutingPolicy.from_settings(settings))

    def progress(batch: ImportBatch) -> None:
        click.echo(f"\r{batch.processed_rows}/{batch.total_rows} ({batch.percent}%)", nl=False, err=True)

    batch = run_import(db, batch_id, create, progress=progress, chunk_rows=chunk)
    elapsed = time.perf_counter() - started
    click.echo("", err=True)
    for err in batch.errors:
        reasons = "; ".join(f"{k}: {v}" for k, v in err["errors"].items())
        click.echo(f"dòng/line {err['line']}: {reasons}")
    click.echo(f"batch {batch.id}: {batch.created_count} created ({batch.review_count} need address review), "
               f"{batch.existing_count} already there, {batch.error_count} bad rows; {batch.total_rows} rows in "
               f"{elapsed:.1f}s")
    db.run_after_commit_hooks()
    db.dispose()
    if batch.error_count:
        sys.exit(2)


if __name__ == "__main__":
    main()
