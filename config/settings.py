"""One settings object, read from the environment once.

Every environment variable the system reads is named here and nowhere else (README lists them). Nothing
happens at import time: ``Settings.from_env()`` is called by the entry points (web app, worker, CLI), and
tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"

DEV_SECRET_KEY = "dev-secret-key-not-for-production"  # noqa: S105 - the known default production refuses
DEV_LABEL_SIGNING_KEY = "dev-label-signing-key-not-for-production"

ENVIRONMENTS = ("development", "test", "production")


class SettingsError(RuntimeError):
    """The environment describes a configuration the system must not run with."""


def _int(env: dict[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, str(default)))
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, not {env.get(name)!r}") from exc


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one running DossierPost."""

    env: str = "development"
    database_url: str = f"sqlite:///{INSTANCE_DIR / 'dossierpost.db'}"
    redis_url: str = ""
    secret_key: str = DEV_SECRET_KEY
    label_signing_key: str = DEV_LABEL_SIGNING_KEY
    # Keys that signed labels in the past; kept so printed labels stay valid after a rotation.
    label_signing_keys_previous: tuple[str, ...] = ()
    public_base_url: str = "http://127.0.0.1:5000"
    s10_service_indicator: str = "RA"
    timezone: str = "Asia/Ho_Chi_Minh"
    port: int = 5000
    log_level: str = "INFO"
    demo: bool = False
    # Run outbox jobs in a thread of the web process when there is no Redis (the embedded default).
    inprocess_jobs: bool = True
    # How many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host (0: trust none).
    trusted_proxies: int = 0
    # Personal data of closed dossiers is erased after this many years (Circular 17: electronic records >= 5).
    retention_years: int = 5
    # Background work (workers issue #5): e-mail through SMTP (empty: e-mails are recorded as skipped), the
    # SMS provider ("outbox" writes to the sms_outbox table; or "package.module:Class"), and how long a
    # dispatched outbox job may stay unfinished before it is dispatched again.
    smtp_url: str = ""
    mail_from: str = "DossierPost <khong-tra-loi@dossierpost.vn>"
    sms_provider: str = "outbox"
    outbox_redispatch_seconds: int = 300
    webhook_timeout_seconds: float = 10.0
    webhook_backoff_seconds: float = 30.0
    webhook_max_attempts: int = 8
    webhook_pause_after: int = 5
    # Routing (issue #3): geocoder "offline" (gazetteer) or "nominatim" (falls back to offline); Decree 118/2025
    # reception at any competent desk in the province; where former district-level procedures go since 7/2025.
    geocoder: str = "offline"
    nominatim_url: str = ""
    routing_any_desk: bool = False
    routing_former_district_to: str = "commune_desk"
    # Bare ceiling endpoints for bench/bench_http.py (web/bench.py): never in production.
    bench_endpoints: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the environment (``os.environ`` by default) and validate it."""
        env = dict(os.environ if environ is None else environ)
        defaults = cls()
        try:
            port = int(env.get("PORT", str(defaults.port)))
        except ValueError as exc:
            raise SettingsError(f"PORT must be a number, not {env.get('PORT')!r}") from exc
        previous = tuple(k for k in env.get("LABEL_SIGNING_KEYS_PREVIOUS", "").split(",") if k.strip())
        settings = cls(
            env=env.get("DOSSIERPOST_ENV", defaults.env),
            database_url=env.get("DATABASE_URL", defaults.database_url),
            redis_url=env.get("REDIS_URL", defaults.redis_url),
            secret_key=env.get("SECRET_KEY", defaults.secret_key),
            label_signing_key=env.get("LABEL_SIGNING_KEY", defaults.label_signing_key),
            label_signing_keys_previous=previous,
            # Without PUBLIC_BASE_URL the QR codes point at this machine on the served port.
            public_base_url=env.get("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}").rstrip("/"),
            s10_service_indicator=env.get("S10_SERVICE_INDICATOR", defaults.s10_service_indicator).upper(),
            timezone=env.get("TZ_NAME", defaults.timezone),
            port=port,
            log_level=env.get("LOG_LEVEL", defaults.log_level).upper(),
            demo=env.get("DOSSIERPOST_DEMO", "0") in {"1", "true", "yes"},
            trusted_proxies=_int(env, "TRUSTED_PROXIES", defaults.trusted_proxies),
            retention_years=_int(env, "RETENTION_YEARS", defaults.retention_years),
            geocoder=env.get("GEOCODER", defaults.geocoder).lower(),
            nominatim_url=env.get("NOMINATIM_URL", defaults.nominatim_url),
            routing_any_desk=env.get("ROUTING_ANY_DESK", "0") in {"1", "true", "yes"},
            routing_former_district_to=env.get("ROUTING_FORMER_DISTRICT_TO", defaults.routing_former_district_to),
            smtp_url=env.get("SMTP_URL", defaults.smtp_url),
            mail_from=env.get("MAIL_FROM", defaults.mail_from),
            sms_provider=env.get("SMS_PROVIDER", defaults.sms_provider),
            outbox_redispatch_seconds=_int(env, "OUTBOX_REDISPATCH_SECONDS", defaults.outbox_redispatch_seconds),
            bench_endpoints=env.get("DOSSIERPOST_BENCH_ENDPOINTS", "0") in {"1", "true", "yes"},
        )
        settings.validate()
        return settings

    def with_(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed (tests, CLI overrides)."""
        new = replace(self, **changes)
        new.validate()
        return new

    def validate(self) -> None:
        """Refuse configurations that would be unsafe or cannot work."""
        if self.env not in ENVIRONMENTS:
            raise SettingsError(f"DOSSIERPOST_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.env!r}")
        ind = self.s10_service_indicator
        if len(ind) != 2 or not ind.isascii() or not ind.isalpha():  # noqa: PLR2004 - S10: two letters
            raise SettingsError(f"S10_SERVICE_INDICATOR must be two letters A-Z, not {ind!r}")
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError) as exc:
            raise SettingsError(f"TZ_NAME {self.timezone!r} is not a known time zone") from exc
        if self.geocoder not in {"offline", "nominatim"}:
            raise SettingsError(f"GEOCODER must be offline or nominatim, not {self.geocoder!r}")
        if self.routing_former_district_to not in {"commune_desk", "province_center"}:
            raise SettingsError("ROUTING_FORMER_DISTRICT_TO must be commune_desk or province_center, "
                                f"not {self.routing_former_district_to!r}")
        if self.retention_years < 1:
            raise SettingsError("RETENTION_YEARS must be at least 1 (Circular 17 keeps records >= 1 year)")
        if self.is_production:
            self._validate_production()

    def _validate_production(self) -> None:
        for name, value, default in (
            ("SECRET_KEY", self.secret_key, DEV_SECRET_KEY),
            ("LABEL_SIGNING_KEY", self.label_signing_key, DEV_LABEL_SIGNING_KEY),
        ):
            if value == default or len(value) < 32:  # noqa: PLR2004 - 256 bits of hex or more
                raise SettingsError(
                    f"{name} must be set to a random value of at least 32 characters in production "
                    f"(e.g. {secrets.token_hex(32)})"
                )
        if self.demo:
            raise SettingsError("DOSSIERPOST_DEMO must not be enabled in production")
        if self.bench_endpoints:
            raise SettingsError("DOSSIERPOST_BENCH_ENDPOINTS must not be enabled in production")

    @property
    def is_production(self) -> bool:
        """Whether this is a production deployment (stricter checks, no demo data)."""
        return self.env == "production"

    @property
    def tz(self) -> ZoneInfo:
        """The service's local time zone (deadlines and printed dates use it)."""
        return ZoneInfo(self.timezone)

    @property
    def label_keys(self) -> tuple[bytes, ...]:
        """Signing keys, current first."""
        return tuple(k.encode() for k in (self.label_signing_key, *self.label_signing_keys_previous))

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite."""
        return self.database_url.startswith("sqlite")
