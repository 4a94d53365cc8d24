"""The people's web app: the citizen's chosen result-delivery address.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from config.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "result_addresses",
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("address_text", sa.String(length=400), nullable=False),
        sa.Column("admin_unit_id", sa.Integer(), nullable=False),
        sa.Column("chosen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["admin_unit_id"], ["admin_units.id"],
                                name=op.f("fk_result_addresses_admin_unit_id_admin_units")),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"], ondelete="CASCADE",
                                name=op.f("fk_result_addresses_dossier_id_dossiers")),
        sa.PrimaryKeyConstraint("dossier_id", name=op.f("pk_result_addresses")),
    )
    op.create_index(op.f("ix_result_addresses_admin_unit_id"), "result_addresses", ["admin_unit_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_result_addresses_admin_unit_id"), table_name="result_addresses")
    op.drop_table("result_addresses")
