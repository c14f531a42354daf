"""Schema migrations (Alembic), run by ``openmmo migrate`` or at start of the embedded world.

Upgrading is idempotent (an up-to-date database is left alone) and refuses a database whose
schema is newer than this build knows, so an old image cannot damage a newer schema. On
PostgreSQL concurrent upgrades (a migration Job and init containers of several replicas
starting together) take turns on an advisory lock: the first migrates, the others then find
the schema at head and leave it alone.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from openmmo.storage import StorageError


class SchemaMismatch(StorageError):
    """The database schema is not the one this build expects."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", "openmmo.storage:migrations")
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


MIGRATION_LOCK = 0x6F6D6D6F  # pg_advisory_xact_lock key of `openmmo migrate` ("ommo")


def _upgrade(connection: Connection) -> tuple[str | None, str]:
    if connection.dialect.name == "postgresql":  # held until the transaction ends
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    config = _config()
    script = ScriptDirectory.from_config(config)
    before = _current(connection)
    if before is not None and before not in {r.revision for r in script.walk_revisions()}:
        raise SchemaMismatch(
            f"the database schema is at revision {before}, newer than this build knows "
            f"(head {script.get_current_head()}): run a newer openmmo"
        )
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return before, head_revision()


async def upgrade(engine: AsyncEngine) -> tuple[str | None, str]:
    """Bring the schema to head. Returns (revision before, revision after)."""
    async with engine.begin() as connection:
        return await connection.run_sync(_upgrade)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def check_schema(engine: AsyncEngine) -> None:
    """Raise :class:`SchemaMismatch` unless the database is at this build's head."""
    current = await current_revision(engine)
    head = head_revision()
    if current != head:
        raise SchemaMismatch(
            f"the database schema is at revision {current or 'none'}, this build needs {head}: "
            "run `openmmo migrate`"
        )
