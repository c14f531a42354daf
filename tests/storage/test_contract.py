"""The storage contract: every adapter must pass these."""

import pytest

from openmmo.storage import CharacterProgress, Conflict
from openmmo.storage.memory import MemoryStorage
from openmmo.storage.migrate import upgrade
from openmmo.storage.sql import SqlStorage, create_engine


@pytest.fixture(params=["memory", "sqlite"])
async def storage(request, tmp_path):
    if request.param == "memory":
        yield MemoryStorage()
        return
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/contract.sqlite3")
    await upgrade(engine)
    sql = SqlStorage(engine)
    yield sql
    await sql.close()


async def test_accounts_are_unique_case_insensitively(storage):
    account = await storage.create_account("Aria", "hash")
    assert account.username == "Aria" and account.password_hash == "hash"
    with pytest.raises(Conflict):
        await storage.create_account("aria", "other")
    assert (await storage.account_by_username("ARIA")) == account
    assert (await storage.account_by_id(account.account_id)) == account
    assert await storage.account_by_username("nobody") is None
    assert await storage.account_by_id(99999) is None


async def test_device_accounts(storage):
    account = await storage.create_account("guest_1", None, "device-123456")
    assert account.password_hash is None
    assert (await storage.account_by_device("device-123456")) == account
    with pytest.raises(Conflict):
        await storage.create_account("guest_2", None, "device-123456")
    assert await storage.account_by_device("unknown-device") is None


async def test_password_hash_update(storage):
    account = await storage.create_account("bob", "old")
    await storage.update_password_hash(account.account_id, "new")
    assert (await storage.account_by_id(account.account_id)).password_hash == "new"


async def test_characters_belong_to_accounts_and_names_are_unique(storage):
    a = await storage.create_account("a", "h")
    b = await storage.create_account("b", "h")
    hero = await storage.create_character(a.account_id, "Hero", 1, 10.5, 20.25)
    assert (hero.name, hero.zone_id, hero.x, hero.y, hero.hp, hero.level, hero.xp) == (
        "Hero",
        1,
        10.5,
        20.25,
        0,
        1,
        0,
    )
    with pytest.raises(Conflict):
        await storage.create_character(b.account_id, "hero", 1, 0, 0)
    second = await storage.create_character(a.account_id, "Sidekick", 2, 0, 0)
    assert [c.character_id for c in await storage.list_characters(a.account_id)] == [
        hero.character_id,
        second.character_id,
    ]
    assert await storage.list_characters(b.account_id) == []
    assert (await storage.load_character(hero.character_id)) == hero
    assert await storage.load_character(424242) is None


async def test_progress_is_saved_in_batches(storage):
    a = await storage.create_account("a", "h")
    one = await storage.create_character(a.account_id, "One", 1, 0, 0)
    two = await storage.create_character(a.account_id, "Two", 1, 0, 0)
    await storage.save_progress(
        [
            CharacterProgress(one.character_id, 2, 5.5, 6.5, 40, 3, 300),
            CharacterProgress(two.character_id, 1, 7.0, 8.0, 90, 1, 10),
            CharacterProgress(999_999, 1, 0, 0, 1, 1, 1),  # unknown ids are ignored
        ]
    )
    loaded = await storage.load_character(one.character_id)
    assert (loaded.zone_id, loaded.x, loaded.y, loaded.hp, loaded.level, loaded.xp) == (
        2,
        5.5,
        6.5,
        40,
        3,
        300,
    )
    assert (await storage.load_character(two.character_id)).xp == 10
    await storage.save_progress([])


async def test_ping(storage):
    await storage.ping()
