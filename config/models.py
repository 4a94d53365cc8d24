"""Every mapped table, imported in one place so migrations and tests see the whole schema.

This module is the only place in ``config`` that imports the domain packages; nothing imports it but the
migrations, the test suite and the CLI.
"""

from __future__ import annotations

from config.queue import OutboxMessage, PeriodicRun
from config.ratelimit import RateLimitCounter
from logistics.accounts.models import ApiToken, AuditEntry, User
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
from logistics.notifications.models import CitizenContact, DeadlineAlert, Notification, SmsMessage
from logistics.orders.imports import ImportBatch
from logistics.orders.models import Dossier, LabelRendering, Order, SerialCounter
from logistics.routing.models import CourierRun
from logistics.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from tracking.citizen import ResultAddress
from tracking.models import (
    AgencyReceipt,
    DeliverySecret,
    DossierCodeCounter,
    HandoverItem,
    HandoverRecord,
    RefusedScan,
    Reinvitation,
    TrackingEvent,
)

__all__ = [
    "AdminUnit",
    "AdminUnitSuccessor",
    "Agency",
    "AgencyReceipt",
    "ApiToken",
    "AuditEntry",
    "CitizenContact",
    "CourierRun",
    "DeadlineAlert",
    "DeliverySecret",
    "Dossier",
    "DossierCodeCounter",
    "FeeReduction",
    "HandoverItem",
    "HandoverRecord",
    "ImportBatch",
    "LabelRendering",
    "Notification",
    "Order",
    "OutboxMessage",
    "PeriodicRun",
    "PostOffice",
    "PostOfficeArea",
    "Procedure",
    "ProcedureDocument",
    "RateLimitCounter",
    "RefusedScan",
    "Reinvitation",
    "ResultAddress",
    "SerialCounter",
    "SmsMessage",
    "TariffRate",
    "TariffSurcharge",
    "TrackingEvent",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
]
