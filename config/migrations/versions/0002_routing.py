"""Routing: couriers' planned daily runs and bulk-import batches.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from config.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "courier_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("courier_id", sa.Integer(), nullable=False),
        sa.Column("post_office_id", sa.Integer(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("stops", sa.JSON(), nullable=False),
        sa.Column("total_m", sa.Float(), nullable=False),
        sa.Column("baseline_m", sa.Float(), nullable=False),
        sa.Column("method", sa.String(length=40), nullable=False),
        sa.Column("planned_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["courier_id"], ["users.id"], name=op.f("fk_courier_runs_courier_id_users")),
        sa.ForeignKeyConstraint(["post_office_id"], ["post_offices.id"],
                                name=op.f("fk_courier_runs_post_office_id_post_offices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courier_runs")),
        sa.UniqueConstraint("courier_id", "run_date", name=op.f("uq_courier_runs_courier_id_run_date")),
    )
    op.create_index(op.f("ix_courier_runs_courier_id"), "courier_runs", ["courier_id"], unique=False)
    op.create_index(op.f("ix_courier_runs_post_office_id"), "courier_runs", ["post_office_id"], unique=False)
    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("fmt", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("existing_count", sa.Integer(), nullable=False),
        sa.Column("review_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_import_batches_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batches")),
    )
    op.create_index(op.f("ix_import_batches_status"), "import_batches", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_import_batches_status"), table_name="import_batches")
    op.drop_table("import_batches")
    op.drop_index(op.f("ix_courier_runs_post_office_id"), table_name="courier_runs")
    op.drop_index(op.f("ix_courier_runs_courier_id"), table_name="courier_runs")
    op.drop_table("courier_runs")
