"""Tables of the SQL storage adapter. Changes go through a migration in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    func,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", Id, primary_key=True, autoincrement=True),
    Column("username", String(32), nullable=False),
    Column("username_key", String(32), nullable=False, unique=True),  # lower-cased
    Column("password_hash", String(255), nullable=True),
    Column("device_id", String(128), nullable=True, unique=True),
    Column("banned", Boolean, nullable=False, server_default=false()),
    Column("admin", Boolean, nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

characters = Table(
    "characters",
    metadata,
    Column("character_id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.account_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(16), nullable=False),
    Column("name_key", String(16), nullable=False, unique=True),  # lower-cased
    Column("zone_id", Integer, nullable=False),
    Column("x", Float, nullable=False),
    Column("y", Float, nullable=False),
    Column("hp", Integer, nullable=False, server_default="0"),
    Column("level", Integer, nullable=False, server_default="1"),
    Column("xp", BigInteger, nullable=False, server_default="0"),
    Column("rating", Integer, nullable=False, server_default="1000"),  # matchmaking
    # The game's declared fields (openmmo.game.Field), the class among them: one JSON
    # object, so a game adds a stat without a migration.
    Column("stats", JSON, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Ownership: the zone server that may change this character, and a fencing epoch that
    # grows on every acquisition; saves carry the epoch and are refused when it is stale.
    Column("owner_server", String(128), nullable=True),
    Column("owner_epoch", BigInteger, nullable=False, server_default="0"),
    Column("progress_version", BigInteger, nullable=False, server_default="0"),
    Index("ix_characters_account_id", "account_id"),
)

# A zone server is alive while ``alive_until`` (wall-clock seconds) is in the future; the
# characters it owns become free when it stops renewing.
zone_servers = Table(
    "zone_servers",
    metadata,
    Column("server_id", String(128), primary_key=True),
    Column("alive_until", Float, nullable=False),
)

inventory = Table(
    "inventory",
    metadata,
    Column(
        "character_id",
        Id,
        ForeignKey("characters.character_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("item", String(32), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    CheckConstraint("quantity >= 0", name="quantity_not_negative"),
)

# Append-only: every change of an inventory row, written in the same transaction.
item_ledger = Table(
    "item_ledger",
    metadata,
    Column("entry_id", Id, primary_key=True, autoincrement=True),
    Column("character_id", Id, nullable=False),
    Column("item", String(32), nullable=False),
    Column("delta", BigInteger, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("ref", String(64), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_item_ledger_character_id", "character_id"),
)

transfers = Table(
    "transfers",
    metadata,
    Column("transfer_id", String(32), primary_key=True),
    Column("character_id", Id, nullable=False),
    Column("from_server", String(128), nullable=False),
    Column("to_zone", Integer, nullable=False),
    Column("to_server", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("claimed_by", String(128), nullable=True),
    Column("claimed_at", Float, nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("entry_id", Id, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("account_id", Id, nullable=True),
    Column("kind", String(32), nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
)
