"""Every mapped table, imported in one place so migrations and tests see the whole schema.

This module is the only place in ``config`` that imports the domain packages; nothing imports it but the
migrations, the test suite and the CLI.
"""

from __future__ import annotations

from config.queue import OutboxMessage
from logistics.accounts.models import ApiToken, User
from logistics.agencies.models import (
    AdminUnit,
    AdminUnitSuccessor,
    Agency,
    PostOffice,
    PostOfficeArea,
    Procedure,
    ProcedureDocument,
)
from logistics.fees.models import FeeReduction, TariffRate, TariffSurcharge
from logistics.orders.models import Dossier, LabelRendering, Order, SerialCounter
from tracking.models import TrackingEvent

__all__ = [
    "AdminUnit", "ApiToken", "AdminUnitSuccessor", "Agency", "Dossier", "FeeReduction", "LabelRendering", "Order",
    "OutboxMessage", "PostOffice", "PostOfficeArea", "Procedure", "ProcedureDocument", "SerialCounter",
    "TariffRate", "TariffSurcharge", "TrackingEvent", "User",
]
