"""Tables of the SQL storage adapter. Changes go through a migration in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
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
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_characters_account_id", "account_id"),
)
