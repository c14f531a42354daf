"""Pooled PostgreSQL connections: pinged only after sitting idle, replaced when dead."""

import asyncio
import contextlib

import asyncpg
import pytest

from openmmo.storage import StorageUnavailable, sql
from openmmo.storage.sql import SqlStorage
from tests.conftest import clean_postgres


async def kill_connections(url):
    """What a database restart does to a pool: the server ends every session of the database."""
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()
    await asyncio.sleep(0.3)


@pytest.fixture
async def storage(postgres_url):
    engine = await clean_postgres(postgres_url)
    storage = SqlStorage(engine)
    storage.url = postgres_url
    yield storage
    await storage.close()


@pytest.fixture
def pings(storage, monkeypatch):
    counted = []
    dialect = storage.engine.dialect
    real = dialect.do_ping

    def do_ping(connection):
        counted.append(connection)
        return real(connection)

    monkeypatch.setattr(dialect, "do_ping", do_ping)
    return counted


async def test_a_connection_in_use_is_not_pinged_before_each_query(storage, pings):
    account = await storage.create_account("busy", None)
    for _ in range(5):
        assert (await storage.account_by_id(account.account_id)).username == "busy"
    assert pings == []  # no extra round trip per query


async def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(storage, pings, monkeypatch):
    account = await storage.create_account("idle", None)
    await kill_connections(storage.url)
    monkeypatch.setattr(sql, "PING_IF_IDLE_S", 0.0)  # every pooled connection counts as idle
    assert (await storage.account_by_id(account.account_id)).username == "idle"
    assert pings  # the dead connection was found by the ping, not by the query


async def test_a_busy_connection_that_died_fails_once_then_the_pool_reconnects(storage):
    account = await storage.create_account("restart", None)
    await kill_connections(storage.url)
    with pytest.raises(StorageUnavailable):
        await storage.account_by_id(account.account_id)
    assert (await storage.account_by_id(account.account_id)).username == "restart"


async def test_a_character_read_on_a_dead_connection_fails_once_then_the_pool_reconnects(storage):
    """The asyncpg fast path replaces the connection it found dead."""
    account = await storage.create_account("reader", None)
    created = await storage.create_character(account.account_id, "Reader", 1, 1.0, 2.0)
    assert (await storage.load_character(created.character_id)) == created  # pooled now
    await kill_connections(storage.url)
    # asyncpg may already have seen the link close and reconnect on acquire
    with contextlib.suppress(StorageUnavailable):
        assert (await storage.load_character(created.character_id)) == created
    assert (await storage.load_character(created.character_id)) == created


async def test_after_a_restart_each_pooled_read_connection_fails_at_most_once(storage):
    """A restart kills every pooled read connection at once; each is replaced, so once the
    reads in flight have failed (or reconnected), every read after them succeeds."""
    account = await storage.create_account("crowd", None)
    created = await storage.create_character(account.account_id, "Crowd", 1, 1.0, 2.0)
    # Several connections in the read pool: concurrent reads each take one.
    reads = [storage.load_character(created.character_id) for _ in range(6)]
    assert all(await asyncio.gather(*reads))
    await kill_connections(storage.url)
    results = await asyncio.gather(
        *(storage.load_character(created.character_id) for _ in range(6)), return_exceptions=True
    )
    assert all(r == created or isinstance(r, StorageUnavailable) for r in results)
    for _ in range(6):
        assert await storage.load_character(created.character_id) == created
