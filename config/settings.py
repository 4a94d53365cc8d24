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
        if self.is_production:
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
