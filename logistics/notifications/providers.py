"""Ways to send: SMS and e-mail behind small interfaces, so a real SMS gateway plugs in by configuration.

The default SMS provider writes to the ``sms_outbox`` table in the caller's transaction: the message and its
"sent" status commit together, so a citizen never gets the same SMS twice. External providers (SMTP, a
gateway's HTTP API) are called between two commits (see ``workers.jobs.notifications``); the message id they
are given is stable, so a resend after a crash can be recognised downstream.
"""

from __future__ import annotations

import importlib
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlparse

from sqlalchemy.orm import Session

from config.settings import Settings
from logistics.notifications.models import SmsMessage


class SendError(RuntimeError):
    """A provider could not send a message (it will be retried)."""


class SmsProvider(Protocol):
    """Sends an SMS; returns the provider's reference for it."""

    @property
    def name(self) -> str:
        """Recorded on each message sent through it."""
        ...

    @property
    def transactional(self) -> bool:
        """True when sending only writes in ``session`` (then it commits with the message's status)."""
        ...

    def send_sms(self, session: Session, *, notification_id: int, phone: str, text: str) -> str:
        """Send ``text`` to ``phone`` (84…); may write in ``session``, which commits with the status."""
        ...


class EmailProvider(Protocol):
    """Sends an e-mail; returns the provider's reference (its Message-ID)."""

    @property
    def name(self) -> str:
        """Recorded on each message sent through it."""
        ...

    def send_email(self, *, to: str, subject: str, text: str, message_id: str) -> str:
        """Send a plain-text e-mail."""
        ...


class OutboxSmsProvider:
    """The default: SMS rows in ``sms_outbox``, visible on the operator page, for a gateway to forward."""

    name = "sms_outbox"
    transactional = True

    def send_sms(self, session: Session, *, notification_id: int, phone: str, text: str) -> str:
        """Write the SMS row (unique per notification: a second write fails instead of duplicating)."""
        row = SmsMessage(notification_id=notification_id, phone=phone, body=text)
        session.add(row)
        session.flush()
        return f"sms_outbox:{row.id}"


@dataclass(frozen=True)
class SmtpEmailProvider:
    """E-mail through an SMTP server: ``smtp://host:port``, ``smtps://…``, ``?starttls=1``, user:password@."""

    host: str
    port: int
    sender: str
    ssl: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0
    name: str = "smtp"

    @classmethod
    def from_url(cls, url: str, *, sender: str, timeout: float = 10.0) -> SmtpEmailProvider:
        """Parse ``SMTP_URL``."""
        parsed = urlparse(url)
        if parsed.scheme not in {"smtp", "smtps"} or not parsed.hostname:
            raise ValueError(f"SMTP_URL must look like smtp://host:port, not {url!r}")
        ssl = parsed.scheme == "smtps"
        query = parse_qs(parsed.query)
        return cls(
            host=parsed.hostname,
            port=parsed.port or (465 if ssl else 25),
            sender=sender,
            ssl=ssl,
            starttls=query.get("starttls", ["0"])[0] in {"1", "true", "yes"},
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            timeout=timeout,
        )

    def send_email(self, *, to: str, subject: str, text: str, message_id: str) -> str:
        """Send one message; SMTP errors become ``SendError``."""
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = message_id
        msg.set_content(text, charset="utf-8")
        smtp_cls = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
        try:
            with smtp_cls(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"SMTP {self.host}:{self.port}: {exc.__class__.__name__}: {exc}") from exc
        return message_id


@dataclass(frozen=True)
class Providers:
    """The providers of one running system."""

    sms: SmsProvider
    email: EmailProvider | None  # None: e-mail is not configured (messages are recorded as skipped)


def load_providers(settings: Settings) -> Providers:
    """Providers named by the settings: ``SMS_PROVIDER`` ("outbox" or "package.module:Class"), ``SMTP_URL``."""
    spec = settings.sms_provider.strip() or "outbox"
    sms: SmsProvider
    if spec == "outbox":
        sms = OutboxSmsProvider()
    else:
        module_name, _, attr = spec.partition(":")
        if not attr:
            raise ValueError(f"SMS_PROVIDER must be 'outbox' or 'package.module:Class', not {spec!r}")
        sms = getattr(importlib.import_module(module_name), attr)(settings)
    email = (
        SmtpEmailProvider.from_url(settings.smtp_url, sender=settings.mail_from,
                                   timeout=settings.webhook_timeout_seconds)
        if settings.smtp_url else None
    )
    return Providers(sms=sms, email=email)
