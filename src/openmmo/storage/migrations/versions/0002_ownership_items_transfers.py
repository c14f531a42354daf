"""Ownership and fencing, zone servers, inventory with its ledger, transfers, audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("characters") as batch:
        batch.add_column(sa.Column("owner_server", sa.String(128), nullable=True))
        batch.add_column(
            sa.Column("owner_epoch", sa.BigInteger, nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("progress_version", sa.BigInteger, nullable=False, server_default="0")
        )
    op.create_table(
        "zone_servers",
        sa.Column("server_id", sa.String(128), nullable=False),
        sa.Column("alive_until", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("server_id", name="pk_zone_servers"),
    )
    op.create_table(
        "inventory",
        sa.Column("character_id", Id, nullable=False),
        sa.Column("item", sa.String(32), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("character_id", "item", name="pk_inventory"),
        sa.ForeignKeyConstraint(
            ["character_id"],
            ["characters.character_id"],
            ondelete="CASCADE",
            name="fk_inventory_character_id_characters",
        ),
        sa.CheckConstraint("quantity >= 0", name="ck_inventory_quantity_not_negative"),
    )
    op.create_table(
        "item_ledger",
        sa.Column("entry_id", Id, nullable=False, autoincrement=True),
        sa.Column("character_id", Id, nullable=False),
        sa.Column("item", sa.String(32), nullable=False),
        sa.Column("delta", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("entry_id", name="pk_item_ledger"),
    )
    op.create_index("ix_item_ledger_character_id", "item_ledger", ["character_id"])
    op.create_table(
        "transfers",
        sa.Column("transfer_id", sa.String(32), nullable=False),
        sa.Column("character_id", Id, nullable=False),
        sa.Column("from_server", sa.String(128), nullable=False),
        sa.Column("to_zone", sa.Integer, nullable=False),
        sa.Column("to_server", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("claimed_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("transfer_id", name="pk_transfers"),
    )
    op.create_table(
        "audit_log",
        sa.Column("entry_id", Id, nullable=False, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("account_id", Id, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("entry_id", name="pk_audit_log"),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("transfers")
    op.drop_index("ix_item_ledger_character_id", table_name="item_ledger")
    op.drop_table("item_ledger")
    op.drop_table("inventory")
    op.drop_table("zone_servers")
    with op.batch_alter_table("characters") as batch:
        batch.drop_column("progress_version")
        batch.drop_column("owner_epoch")
        batch.drop_column("owner_server")
