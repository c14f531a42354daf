import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from openmmo.storage.migrate import SchemaMismatch, check_schema, head_revision, upgrade
from openmmo.storage.schema import metadata
from openmmo.storage.sql import create_engine
from openmmo.testing.services import create_database, drop_database


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request, tmp_path):
    if request.param == "postgres":
        url = create_database()
        engine = create_engine(url)
        yield engine
        await engine.dispose()
        drop_database(url)
        return
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3")
    yield engine
    await engine.dispose()


async def test_upgrade_is_idempotent(engine):
    assert await upgrade(engine) == (None, head_revision())
    assert await upgrade(engine) == (head_revision(), head_revision())
    await check_schema(engine)


async def test_concurrent_upgrades_take_turns(engine):
    """Init containers of several replicas migrate at once: one upgrades, the others wait
    and find the schema at head (without the lock, they race on CREATE TABLE)."""
    results = await asyncio.gather(*(upgrade(engine) for _ in range(4)))
    assert sorted(results, key=str) == sorted(
        [(None, head_revision())] + [(head_revision(), head_revision())] * 3, key=str
    )
    await check_schema(engine)


async def test_migrations_match_the_schema_module(engine):
    await upgrade(engine)
    async with engine.connect() as connection:
        diff = await connection.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), metadata)
        )
    assert diff == []


async def test_an_unmigrated_database_is_refused_with_advice(engine):
    with pytest.raises(SchemaMismatch, match="openmmo migrate"):
        await check_schema(engine)


async def test_a_newer_schema_is_refused(engine):
    await upgrade(engine)
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaMismatch, match="newer than this build"):
        await upgrade(engine)


def test_the_url_forms_people_write_get_the_async_driver():
    """Regression: DATABASE_URL=postgresql://... failed with No module named 'psycopg'."""
    from openmmo.storage.sql import async_url

    assert async_url("postgresql://u:p@db:5432/x") == "postgresql+asyncpg://u:p@db:5432/x"
    assert async_url("postgres://u@db/x") == "postgresql+asyncpg://u@db/x"
    assert async_url("postgresql+psycopg://u@db/x") == "postgresql+asyncpg://u@db/x"
    assert async_url("postgresql+asyncpg://u@db/x") == "postgresql+asyncpg://u@db/x"
    assert async_url("sqlite:///var/w.sqlite3") == "sqlite+aiosqlite:///var/w.sqlite3"
