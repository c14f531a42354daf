"""The storage contract: every adapter must pass these."""

import time

import pytest

from openmmo.sim.schema import CharacterState
from openmmo.storage import (
    AccountMissing,
    CharacterProgress,
    Conflict,
    InsufficientItems,
    NotOwner,
    StorageUnavailable,
    TransferRecord,
    TransferRefused,
)
from openmmo.storage.memory import MemoryStorage
from openmmo.storage.migrate import upgrade
from openmmo.storage.sql import SqlStorage, create_engine
from tests.conftest import clean_postgres


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def storage(request, tmp_path):
    if request.param == "memory":
        yield MemoryStorage()
        return
    if request.param == "postgres":
        engine = await clean_postgres(request.getfixturevalue("postgres_url"))
    else:
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
    hero = await storage.create_character(
        a.account_id, "Hero", 1, 10.5, 20.25, stats={"class": "mage", "mana": 100}
    )
    assert (hero.name, hero.state) == (
        "Hero",
        CharacterState(1, 10.5, 20.25, 0, 1, 0, {"class": "mage", "mana": 100}),
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


async def test_a_character_for_a_missing_account_is_refused_as_such(storage):
    """Regression: a foreign-key violation was reported as a taken name (409 name_taken)."""
    with pytest.raises(AccountMissing):
        await storage.create_character(424242, "Orphan", 1, 0, 0)
    a = await storage.create_account("a", "h")
    await storage.create_character(a.account_id, "Orphan", 1, 0, 0)  # the name was free


async def test_a_batch_is_fenced_row_by_row(storage):
    """One batch: a row at its epoch is written, one at a stale epoch or owned by another
    server is refused, and a release in it frees only its own row (on PostgreSQL the whole
    batch is one statement)."""
    a = await storage.create_account("fence", "h")
    mine, stale, theirs, leaving = [
        await storage.create_character(a.account_id, name, 1, 0, 0)
        for name in ("Mine", "Stale", "Theirs", "Leaving")
    ]
    e_mine = (await storage.acquire_character(mine.character_id, "srv", 0.0)).epoch
    e_stale = (await storage.acquire_character(stale.character_id, "srv", 0.0)).epoch
    e_theirs = (await storage.acquire_character(theirs.character_id, "other", 0.0)).epoch
    e_leaving = (await storage.acquire_character(leaving.character_id, "srv", 0.0)).epoch
    refused = await storage.save_progress(
        [
            CharacterProgress(mine.character_id, STATE_ONE, version=3, epoch=e_mine),
            CharacterProgress(stale.character_id, STATE_ONE, version=3, epoch=e_stale - 1),
            CharacterProgress(theirs.character_id, STATE_ONE, version=3, epoch=e_theirs),
            CharacterProgress(
                leaving.character_id, STATE_TWO, version=3, epoch=e_leaving, release=True
            ),
        ],
        "srv",
    )
    assert sorted(refused) == sorted([stale.character_id, theirs.character_id])
    written = await storage.load_character(mine.character_id)
    assert (written.state, written.progress_version, written.owner_server) == (
        STATE_ONE,
        3,
        "srv",
    )
    assert (await storage.load_character(stale.character_id)).progress_version == 0
    assert (await storage.load_character(theirs.character_id)).owner_server == "other"
    left = await storage.load_character(leaving.character_id)
    assert (left.state, left.owner_server) == (STATE_TWO, None)


async def test_progress_is_saved_in_batches(storage):
    a = await storage.create_account("a", "h")
    one = await storage.create_character(a.account_id, "One", 1, 0, 0)
    two = await storage.create_character(a.account_id, "Two", 1, 0, 0)
    e1 = (await storage.acquire_character(one.character_id, "srv", 0.0)).epoch
    e2 = (await storage.acquire_character(two.character_id, "srv", 0.0)).epoch
    refused = await storage.save_progress(
        [
            CharacterProgress(one.character_id, STATE_ONE, version=1, epoch=e1),
            CharacterProgress(two.character_id, STATE_TWO, version=1, epoch=e2),
            CharacterProgress(999_999, STATE_TWO),  # unknown ids are refused
        ],
        "srv",
    )
    assert refused == [999_999]
    loaded = await storage.load_character(one.character_id)
    assert (loaded.state, loaded.progress_version) == (STATE_ONE, 1)
    assert (await storage.load_character(two.character_id)).state.xp == 10
    assert await storage.save_progress([], "srv") == []


async def hero(storage, name="Hero"):
    account = await storage.create_account(name.lower(), "h")
    return await storage.create_character(account.account_id, name, 1, 0, 0)


STATE_ONE = CharacterState(2, 5.5, 6.5, 40, 3, 300, {"class": "mage", "quest": "done", "n": 7})
STATE_TWO = CharacterState(1, 7.0, 8.0, 90, 1, 10, {})


def progress(claim, x=1.0, release=False, zone_id=1):
    state = CharacterState(zone_id, x, 2.0, 50, 1, 5, {"mana": 5})
    return CharacterProgress(
        claim.character.character_id, state, version=1, epoch=claim.epoch, release=release
    )


async def test_one_owner_at_a_time_while_the_owner_lives(storage):
    c = await hero(storage)
    await storage.heartbeat_server("a", alive_until=100.0)
    claim = await storage.acquire_character(c.character_id, "a", now=10.0)
    assert claim.epoch == 1 and claim.character.name == "Hero"
    with pytest.raises(NotOwner) as raised:
        await storage.acquire_character(c.character_id, "b", now=50.0)
    assert raised.value.owner == "a"
    assert await storage.owner_of(c.character_id, now=50.0) == "a"
    again = await storage.acquire_character(c.character_id, "a", now=60.0)  # re-entry
    assert again.epoch == 2
    assert await storage.acquire_character(424242, "a", now=1.0) is None


async def test_a_dead_owner_loses_its_characters_and_its_saves_are_fenced(storage):
    c = await hero(storage)
    await storage.heartbeat_server("a", alive_until=100.0)
    stale = await storage.acquire_character(c.character_id, "a", now=10.0)
    assert await storage.owner_of(c.character_id, now=101.0) is None  # a stopped renewing
    fresh = await storage.acquire_character(c.character_id, "b", now=101.0)
    assert fresh.epoch == stale.epoch + 1
    refused = await storage.save_progress([progress(stale, x=99.0)], "a")
    assert refused == [c.character_id]  # the zombie cannot overwrite the new owner
    assert await storage.save_progress([progress(fresh, x=7.0)], "b") == []
    assert (await storage.load_character(c.character_id)).state.x == 7.0


async def test_a_restarted_server_gives_up_what_its_previous_life_held(storage):
    one, two = await hero(storage, "One"), await hero(storage, "Two")
    await storage.heartbeat_server("a", alive_until=100.0)
    first = await storage.acquire_character(one.character_id, "a", now=1.0)
    await storage.acquire_character(two.character_id, "a", now=1.0)
    assert await storage.release_characters("a") == 2
    assert await storage.owner_of(one.character_id, now=2.0) is None
    taken = await storage.acquire_character(one.character_id, "b", now=2.0)  # at once
    assert taken.epoch == first.epoch + 1  # the previous life's checkpoints still match
    assert await storage.release_characters("a") == 0


async def test_release_frees_the_character_in_the_same_save(storage):
    c = await hero(storage)
    await storage.heartbeat_server("a", alive_until=100.0)
    claim = await storage.acquire_character(c.character_id, "a", now=10.0)
    assert await storage.save_progress([progress(claim, release=True)], "a") == []
    assert await storage.owner_of(c.character_id, now=11.0) is None
    assert (await storage.acquire_character(c.character_id, "b", now=11.0)).epoch == 2
    await storage.remove_server("a")


async def test_a_transfer_is_claimed_exactly_once(storage):
    c = await hero(storage)
    await storage.heartbeat_server("a", alive_until=100.0)
    await storage.heartbeat_server("b", alive_until=100.0)
    claim = await storage.acquire_character(c.character_id, "a", now=10.0)
    transfer = TransferRecord("tx1", c.character_id, "a", 2, "b")
    await storage.begin_transfer(progress(claim, zone_id=2, x=40.0), "a", transfer, now=11.0)
    assert await storage.owner_of(c.character_id, now=12.0) is None
    with pytest.raises(TransferRefused):  # only the server it was issued for
        await storage.claim_transfer("tx1", c.character_id, "c", now=12.0)
    taken = await storage.claim_transfer("tx1", c.character_id, "b", now=12.0)
    assert (taken.character.zone_id, taken.character.state.x) == (2, 40.0)
    with pytest.raises(TransferRefused):  # a replayed ticket
        await storage.claim_transfer("tx1", c.character_id, "b", now=13.0)
    with pytest.raises(TransferRefused):
        await storage.claim_transfer("nope", c.character_id, "b", now=13.0)
    with pytest.raises(NotOwner):  # the source no longer owns it
        await storage.begin_transfer(
            progress(claim), "a", TransferRecord("tx2", c.character_id, "a", 1, "b"), now=14.0
        )


async def test_a_zone_wide_claim_takes_any_channel_of_the_target_zone_once(storage):
    c = await hero(storage)
    for server in ("a", "b", "b2"):
        await storage.heartbeat_server(server, alive_until=100.0)
    claim = await storage.acquire_character(c.character_id, "a", now=10.0)
    transfer = TransferRecord("tx1", c.character_id, "a", 2, "b")
    await storage.begin_transfer(progress(claim, zone_id=2, x=40.0), "a", transfer, now=11.0)
    with pytest.raises(TransferRefused):  # a channel of another zone
        await storage.claim_transfer("tx1", c.character_id, "t2", now=12.0, zone_id=1)
    taken = await storage.claim_transfer("tx1", c.character_id, "b2", now=12.0, zone_id=2)
    assert taken.character.state.x == 40.0
    assert await storage.owner_of(c.character_id, now=12.5) == "b2"
    with pytest.raises(TransferRefused):  # still once, even by the channel it named
        await storage.claim_transfer("tx1", c.character_id, "b", now=13.0, zone_id=2)


async def test_items_are_granted_moved_and_audited(storage):
    giver, taker = await hero(storage, "Giver"), await hero(storage, "Taker")
    await storage.heartbeat_server("a", alive_until=100.0)
    claim = await storage.acquire_character(giver.character_id, "a", now=1.0)
    bag = await storage.grant_items(
        giver.character_id, {"gold": 10, "pelt": 1}, "kill:wolf", "a", claim.epoch
    )
    assert bag == {"gold": 10, "pelt": 1}
    mine, theirs = await storage.move_items(
        giver.character_id, taker.character_id, "gold", 4, "give", "a", claim.epoch
    )
    assert (mine, theirs) == ({"gold": 6, "pelt": 1}, {"gold": 4})
    with pytest.raises(InsufficientItems):
        await storage.move_items(
            giver.character_id, taker.character_id, "gold", 7, "give", "a", claim.epoch
        )
    with pytest.raises(NotOwner):
        await storage.grant_items(taker.character_id, {"gold": 1}, "cheat", "a", 1)
    with pytest.raises(NotOwner):
        await storage.grant_items(giver.character_id, {"gold": 1}, "stale", "a", claim.epoch - 1)
    assert await storage.item_totals() == {"gold": 10, "pelt": 1}
    assert await storage.audit_items() == []
    assert await storage.inventory(taker.character_id) == {"gold": 4}


async def test_a_keyed_grant_happens_once_however_often_it_is_retried(storage):
    """A retry after an error that left the first try's commit unknown (the database went
    away mid-commit) must not grant the loot twice."""
    hunter, other = await hero(storage, "Hunter"), await hero(storage, "Other")
    await storage.heartbeat_server("a", alive_until=100.0)
    claim = await storage.acquire_character(hunter.character_id, "a", now=1.0)
    mine = await storage.acquire_character(other.character_id, "a", now=1.0)
    for _ in range(3):
        bag = await storage.grant_items(
            hunter.character_id, {"pelt": 2}, "kill:wolf", "a", claim.epoch, key="k1"
        )
        assert bag == {"pelt": 2}
    await storage.grant_items(
        hunter.character_id, {"pelt": 1}, "kill:wolf", "a", claim.epoch, key="k2"
    )
    await storage.grant_items(
        other.character_id, {"pelt": 1}, "kill:wolf", "a", mine.epoch, key="k1"
    )
    assert await storage.inventory(hunter.character_id) == {"pelt": 3}
    assert await storage.inventory(other.character_id) == {"pelt": 1}  # keys are per character
    assert await storage.audit_items() == []


async def test_using_an_item_takes_it_in_the_ledger_and_only_from_its_owner(storage):
    user = await hero(storage, "User")
    await storage.heartbeat_server("a", alive_until=100.0)
    claim = await storage.acquire_character(user.character_id, "a", now=1.0)
    await storage.grant_items(user.character_id, {"potion": 2}, "loot", "a", claim.epoch)
    assert await storage.take_items(user.character_id, "potion", 1, "use", "a", claim.epoch) == {
        "potion": 1
    }
    with pytest.raises(InsufficientItems):
        await storage.take_items(user.character_id, "potion", 2, "use", "a", claim.epoch)
    with pytest.raises(InsufficientItems):
        await storage.take_items(user.character_id, "elixir", 1, "use", "a", claim.epoch)
    with pytest.raises(NotOwner):
        await storage.take_items(user.character_id, "potion", 1, "use", "a", claim.epoch - 1)
    assert await storage.inventory(user.character_id) == {"potion": 1}
    assert await storage.item_totals() == {"potion": 1}
    assert await storage.audit_items() == []  # the ledger has the -1


async def test_declared_fields_round_trip_through_saves(storage):
    c = await hero(storage)
    await storage.heartbeat_server("a", alive_until=100.0)
    claim = await storage.acquire_character(c.character_id, "a", now=1.0)
    stats = {"class": "mage", "mana": 37, "title": "Ratcatcher", "nested": {"k": [1, 2]}}
    state = CharacterState(1, 3.0, 4.0, 20, 2, 150, stats)
    assert (
        await storage.save_progress([CharacterProgress(c.character_id, state, 2, claim.epoch)], "a")
        == []
    )
    assert (await storage.load_character(c.character_id)).state == state


async def test_names_bans_and_audit(storage):
    c = await hero(storage)
    assert (await storage.character_by_name("HERO")).character_id == c.character_id
    assert await storage.character_by_name("nobody") is None
    await storage.set_banned(c.account_id, True)
    assert (await storage.account_by_id(c.account_id)).banned
    await storage.record_audit("ban", c.account_id, "griefing")


async def test_admins_are_flagged_and_the_audit_reads_newest_first(storage):
    c = await hero(storage)
    assert not (await storage.account_by_id(c.account_id)).admin
    await storage.set_admin(c.account_id, True)
    assert (await storage.account_by_id(c.account_id)).admin
    assert (await storage.account_by_username("hero")).admin
    before = time.time()
    await storage.record_audit("kick", c.account_id, "by root: spam")
    await storage.record_audit("announce", None, "by root: restart at noon")
    newest, older = await storage.audit_entries(10)
    assert (newest.kind, newest.account_id, newest.detail) == (
        "announce",
        None,
        "by root: restart at noon",
    )
    assert (older.kind, older.account_id) == ("kick", c.account_id)
    assert before - 5 <= older.at <= time.time() + 5  # Unix seconds, whichever database
    assert [e.kind for e in await storage.audit_entries(1)] == ["announce"]
    await storage.set_admin(c.account_id, False)
    assert not (await storage.account_by_id(c.account_id)).admin


async def test_ping_answers_while_the_storage_is_reachable(storage):
    assert await storage.ping() is None


async def test_ping_of_an_unreachable_database_says_unavailable():
    storage = SqlStorage(create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    try:
        with pytest.raises(StorageUnavailable):
            await storage.ping()
    finally:
        await storage.close()


async def test_a_character_read_from_an_unreachable_database_says_unavailable():
    """The PostgreSQL fast path (asyncpg directly) fails like every other call."""
    storage = SqlStorage(create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    try:
        with pytest.raises(StorageUnavailable):
            await storage.load_character(1)
    finally:
        await storage.close()


async def test_a_character_reads_back_whole_on_every_adapter(storage):
    account = await storage.create_account("reader", "h")
    created = await storage.create_character(
        account.account_id, "Reader", 1, 10.5, 20.25, stats={"class": "mage", "mana": 7}
    )
    loaded = await storage.load_character(created.character_id)
    assert loaded == created
    assert loaded.state.stats == {"class": "mage", "mana": 7}
    assert await storage.load_character(created.character_id + 1000) is None


async def test_a_save_to_an_unreachable_database_says_unavailable():
    """The PostgreSQL batched save (asyncpg directly) fails like every other call."""
    storage = SqlStorage(create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    try:
        with pytest.raises(StorageUnavailable):
            await storage.save_progress([CharacterProgress(1, STATE_ONE, epoch=1)], "srv")
    finally:
        await storage.close()
