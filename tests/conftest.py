"""Fixtures for the real services: the machine's PostgreSQL, Redis and RabbitMQ, isolated per
test run by a fresh database and unique namespaces. ``.ci/run`` starts any that are down."""

import pytest
from sqlalchemy import text

from openmmo.storage.migrate import upgrade
from openmmo.storage.sql import create_engine
from openmmo.testing.services import (
    RABBITMQ_URL,
    REDIS_URL,
    create_database,
    drop_database,
    namespace,
)

TABLES = (
    "item_ledger",
    "inventory",
    "transfers",
    "audit_log",
    "zone_servers",
    "characters",
    "accounts",
)


@pytest.fixture(scope="session")
def postgres_url():
    url = create_database()
    yield url
    drop_database(url)


async def clean_postgres(url):
    """An engine on ``url``, migrated, every table emptied."""
    engine = create_engine(url)
    await upgrade(engine)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture
async def postgres_engine(postgres_url):
    engine = await clean_postgres(postgres_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def redis_url():
    return REDIS_URL


@pytest.fixture
def rabbitmq_url():
    return RABBITMQ_URL


@pytest.fixture
def ns():
    return namespace()
