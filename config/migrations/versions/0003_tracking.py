"""tracking core: refused scans, hand-over records, agency receipts, dossier codes, delivery secrets,
re-invitations, rate-limit counters; clock skew and details on tracking events

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from config.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_counters")),
    )
    op.create_table(
        "dossier_code_counters",
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=6), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_dossier_code_counters_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("agency_id", "day", name=op.f("pk_dossier_code_counters")),
    )
    op.create_table(
        "delivery_secrets",
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("code_nonce", sa.String(length=32), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("id_digits_hash", sa.String(length=64), nullable=True),
        sa.Column("issued_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("failed_checks", sa.Integer(), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"], name=op.f("fk_delivery_secrets_dossier_id_dossiers")),
        sa.PrimaryKeyConstraint("dossier_id", name=op.f("pk_delivery_secrets")),
    )
    op.create_table(
        "handover_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("post_office_id", sa.Integer(), nullable=True),
        sa.Column("courier_id", sa.Integer(), nullable=True),
        sa.Column("courier_name", sa.String(length=200), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("officer_name", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_handover_records_agency_id_agencies")),
        sa.ForeignKeyConstraint(["courier_id"], ["users.id"], name=op.f("fk_handover_records_courier_id_users")),
        sa.ForeignKeyConstraint(["officer_id"], ["users.id"], name=op.f("fk_handover_records_officer_id_users")),
        sa.ForeignKeyConstraint(
            ["post_office_id"], ["post_offices.id"], name=op.f("fk_handover_records_post_office_id_post_offices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handover_records")),
    )
    with op.batch_alter_table("handover_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handover_records_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "handover_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column(
            "decision",
            sa.Enum(
                "pending",
                "confirmed",
                "refused",
                "supplement_requested",
                name="handover_decision",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason_code", sa.String(length=40), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_handover_items_order_id_orders")),
        sa.ForeignKeyConstraint(
            ["record_id"], ["handover_records.id"], name=op.f("fk_handover_items_record_id_handover_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handover_items")),
        sa.UniqueConstraint("record_id", "order_id", name=op.f("uq_handover_items_record_id_order_id")),
    )
    with op.batch_alter_table("handover_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handover_items_order_id"), ["order_id"], unique=False)

    op.create_table(
        "refused_scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("scanned_code", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("error", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("device_time", UTCDateTime(timezone=True), nullable=True),
        sa.Column("server_time", UTCDateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_refused_scans_actor_id_users")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_refused_scans_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refused_scans")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_refused_scans_idempotency_key")),
    )
    with op.batch_alter_table("refused_scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refused_scans_order_id"), ["order_id"], unique=False)

    op.create_table(
        "reinvitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "reinvite", "return", name="reinvitation_action", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_reinvitations_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reinvitations")),
        sa.UniqueConstraint("order_id", "seq", name=op.f("uq_reinvitations_order_id_seq")),
    )
    with op.batch_alter_table("reinvitations", schema=None) as batch_op:
        batch_op.create_index("ix_reinvitations_due", ["done_at", "due_date"], unique=False)

    op.create_table(
        "agency_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("handover_item_id", sa.Integer(), nullable=True),
        sa.Column("dossier_code", sa.String(length=60), nullable=False),
        sa.Column("submitted_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("acceptance_date", sa.Date(), nullable=False),
        sa.Column("appointment_date", sa.Date(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("officer_name", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"], name=op.f("fk_agency_receipts_dossier_id_dossiers")),
        sa.ForeignKeyConstraint(
            ["handover_item_id"], ["handover_items.id"], name=op.f("fk_agency_receipts_handover_item_id_handover_items")
        ),
        sa.ForeignKeyConstraint(["officer_id"], ["users.id"], name=op.f("fk_agency_receipts_officer_id_users")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_agency_receipts_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_receipts")),
    )
    with op.batch_alter_table("agency_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_agency_receipts_dossier_id_id", ["dossier_id", "id"], unique=False)

    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock_skew_s", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("clock_skew_flag", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.drop_column("details")
        batch_op.drop_column("clock_skew_flag")
        batch_op.drop_column("clock_skew_s")

    with op.batch_alter_table("agency_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_agency_receipts_dossier_id_id")

    op.drop_table("agency_receipts")
    with op.batch_alter_table("reinvitations", schema=None) as batch_op:
        batch_op.drop_index("ix_reinvitations_due")

    op.drop_table("reinvitations")
    with op.batch_alter_table("refused_scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refused_scans_order_id"))

    op.drop_table("refused_scans")
    with op.batch_alter_table("handover_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handover_items_order_id"))

    op.drop_table("handover_items")
    with op.batch_alter_table("handover_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handover_records_agency_id"))

    op.drop_table("handover_records")
    op.drop_table("delivery_secrets")
    op.drop_table("dossier_code_counters")
    op.drop_table("rate_limit_counters")
