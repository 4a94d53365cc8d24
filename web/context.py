"""What a request needs: the process's services and a request-scoped unit of work."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g
from sqlalchemy.orm import Session

from config.db import Database
from config.queue import BORN_CLAIMED, Relay
from config.settings import Settings
from logistics.labels.signing import LabelSigner


@dataclass
class Services:
    """Long-lived objects of one web process."""

    settings: Settings
    db: Database
    relay: Relay
    signer: LabelSigner


def services() -> Services:
    """The current app's services."""
    svc: Services = current_app.extensions["dossierpost"]
    return svc


def db_session() -> Session:
    """The request's session; it commits once when the request succeeds (see ``create_app``)."""
    session: Session | None = g.get("db_session")
    if session is None:
        svc = services()
        session = svc.db.session()
        # Its outbox rows are born claimed when this process's dispatcher pushes them (config.queue.Relay).
        session.info[BORN_CLAIMED] = svc.relay.claims_at_birth
        g.db_session = session
    return session
