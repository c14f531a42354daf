"""Several zone servers sharing storage, directory and bus (in memory): ownership, kicks,
transfers, items, whispers, announcements and crash recovery, without sockets."""

import asyncio
import dataclasses

import pytest

from openmmo.bus import Kind
from openmmo.bus.memory import MemoryBus
from openmmo.checkpoints.memory import MemoryCheckpoints
from openmmo.directory import ChannelInfo
from openmmo.directory.memory import MemoryDirectory
from openmmo.games.default.world import TOWN, WILDS
from openmmo.protocol.codes import CloseCode
from openmmo.storage import StorageUnavailable
from openmmo.storage.memory import MemoryStorage
from openmmo.testing import ManualClock, default_game
from openmmo.zone import handlers
from tests.zone.conftest import make_zone, subscribe


@pytest.fixture
async def world_of():
    """Zone runtimes that share one clock, storage, directory, bus and checkpoint store,
    each with its save loop running; ``world_of(("id", spec), ...)``."""
    savers = []

    async def make(*servers):
        zones = await _world(*servers)
        for zone in zones:
            rt = zone.runtime
            savers.append(asyncio.ensure_future(rt.checkpointer.run(3600, rt.play.online_progress)))
            savers.append(asyncio.ensure_future(_tick_loop(rt)))
        return zones

    yield make
    for saver in savers:
        saver.cancel()
    await asyncio.gather(*savers, return_exceptions=True)


async def _tick_loop(rt):
    """Each server's tick loop, between a test's explicit ticks (the clock does not move):
    characters kicked by another server leave after their last inputs, as in production."""
    while True:
        await asyncio.sleep(0.005)
        await rt.tick()


async def _world(*servers):
    clock, storage, bus = ManualClock(), MemoryStorage(), MemoryBus()
    directory, checkpoints = MemoryDirectory(clock), MemoryCheckpoints()
    zones = []
    for server_id, spec in servers:
        zone = make_zone(
            bus=bus,
            server_id=server_id,
            clock=clock,
            storage=storage,
            directory=directory,
            spec=spec,
            checkpoints=checkpoints,
        )
        await subscribe(zone)
        await storage.heartbeat_server(server_id, clock.time() + 3600)
        await directory.publish(
            ChannelInfo(
                server_id,
                spec.zone_id,
                spec.name,
                f"ws://{server_id}/ws",
                0,
                100,
                True,
                False,
                clock.time(),
                ttl_s=3600,
            )
        )
        zones.append(zone)
    return zones


async def join_with(zone, account_name, character_id=None, ticket=None):
    account = await zone.storage.account_by_username(account_name)
    token = ticket or zone.tokens.issue_access(account.account_id, account_name)
    session, transport = zone.connect(token)
    message = {"type": "join_game", "seq": 1}
    if character_id is not None:
        message["character_id"] = character_id
    zone.send(session, message)
    await zone.settle()
    return session, transport


async def test_a_character_joining_elsewhere_is_kicked_there_and_saved(world_of):
    one, two = await world_of(("town-a", TOWN), ("town-b", TOWN))
    a, a_t = await one.player("aria", x=500, y=500)
    one.send(a, {"type": "move", "seq": 2, "x": 503, "y": 500})
    b, b_t = await join_with(two, "aria")
    await one.settle()  # the kick's save lands
    assert a_t.closed[0] == CloseCode.SESSION_REPLACED
    assert a_t.last("notice")["code"] == "session_replaced"
    joined = b_t.last("joined")
    assert joined["character"]["x"] == 503  # the state one saved on its way out
    assert joined["channel_id"] == "town-b"
    assert await one.storage.owner_of(b.character_id, one.clock.time()) == "town-b"
    assert len(one.runtime.sessions.players) == 0 and len(two.runtime.sessions.players) == 1


async def test_a_stale_owner_loses_the_character_at_its_next_save(world_of):
    one, two = await world_of(("town-a", TOWN), ("town-b", TOWN))
    a, a_t = await one.player("aria")
    await one.storage.heartbeat_server("town-a", 0.0)  # its lease ran out (stalled)
    one.runtime.bus = MemoryBus()  # and it cannot hear the kick either
    _b, b_t = await join_with(two, "aria")
    assert b_t.last("joined")
    one.runtime.checkpointer.stage(one.runtime.play.progress(a, one.runtime.play.state_of(a)))
    await one.runtime.checkpointer.flush()  # refused: the epoch moved on
    assert a_t.closed[0] == CloseCode.SESSION_REPLACED
    await one.tick()
    assert len(one.runtime.sessions.players) == 0


async def test_walking_through_a_portal_transfers_exactly_once(world_of):
    town, wilds = await world_of(("town-a", TOWN), ("wilds-a", WILDS))
    a, a_t = await town.player("aria", x=995, y=512)
    for seq, x in enumerate((1000.0, 1005.0), start=2):
        town.clock.advance(1.0)
        town.send(a, {"type": "move", "seq": seq, "x": x, "y": 512})
    await town.settle()
    transfer = a_t.last("transfer")
    assert (transfer["zone_id"], transfer["channel_id"]) == (2, "wilds-a")
    assert a_t.closed[0] == CloseCode.TRANSFERRED
    assert len(town.runtime.sessions.players) == 0
    assert wilds.runtime.sessions.seats_held() == 1  # the hand-off reserved a seat
    _b, b_t = await join_with(wilds, "aria", ticket=transfer["ticket"])
    joined = b_t.last("joined")
    assert (joined["character"]["x"], joined["character"]["y"]) == (40.0, 1024.0)
    assert wilds.runtime.sessions.seats_held() == 0
    _, replay_t = await join_with(wilds, "aria", ticket=transfer["ticket"])
    assert replay_t.closed[0] == CloseCode.UNAUTHORIZED  # a ticket is used once


async def test_a_replayed_transfer_is_refused_even_on_a_fresh_connection_elsewhere(world_of):
    town, wilds, wilds2 = await world_of(("town-a", TOWN), ("wilds-a", WILDS), ("wilds-b", WILDS))
    a, a_t = await town.player("aria", x=1010, y=512)
    town.send(a, {"type": "move", "seq": 2, "x": 1010.5, "y": 512})
    await town.settle()
    ticket = a_t.last("transfer")["ticket"]
    target = a_t.last("transfer")["channel_id"]
    other = wilds2 if target == "wilds-a" else wilds
    _, t = await join_with(other, "aria", ticket=ticket)
    assert t.closed[0] == CloseCode.FORBIDDEN  # the ticket names another channel


async def test_with_zone_tickets_a_sibling_channel_claims_the_transfer_once(world_of):
    town, wilds, wilds2 = await world_of(("town-a", TOWN), ("wilds-a", WILDS), ("wilds-b", WILDS))
    for zone in (wilds, wilds2):
        rt = zone.runtime
        rt.config = dataclasses.replace(rt.config, accept_zone_tickets=True)
        rt.sessions.accept_zone_tickets = True
    a, a_t = await town.player("aria", x=1010, y=512)
    await town.storage.grant_items(a.character_id, {"potion": 3}, "test", "town-a", a.epoch)
    town.send(a, {"type": "move", "seq": 2, "x": 1010.5, "y": 512})
    await town.settle()
    transfer = a_t.last("transfer")
    named, sibling = (wilds, wilds2) if transfer["channel_id"] == "wilds-a" else (wilds2, wilds)
    _, b_t = await join_with(sibling, "aria", ticket=transfer["ticket"])
    assert b_t.last("joined")["character"]["x"] == 40.0  # the balancer's choice is honoured
    _, again_t = await join_with(named, "aria", ticket=transfer["ticket"])
    assert again_t.closed[0] == CloseCode.UNAUTHORIZED  # claimed once, whichever channel
    assert len(sibling.runtime.sessions.players) == 1 and len(named.runtime.sessions.players) == 0
    assert await town.storage.inventory(a.character_id) == {"potion": 3}


async def test_switching_channel_and_no_channel_to_go_to(world_of):
    one, two = await world_of(("town-a", TOWN), ("town-b", TOWN))
    a, a_t = await one.player("aria")
    one.send(a, {"type": "switch_channel", "seq": 2, "channel_id": "town-zz"})
    await one.settle()
    assert a_t.last("error")["code"] == "no_channel_available"
    one.send(a, {"type": "move", "seq": 3, "x": 500.5, "y": 500})  # still playing
    one.send(a, {"type": "switch_channel", "seq": 4})
    await one.settle()
    transfer = a_t.last("transfer")
    assert (transfer["channel_id"], transfer["zone_id"], transfer["seq"]) == ("town-b", 1, 4)
    _, b_t = await join_with(two, "aria", ticket=transfer["ticket"])
    assert b_t.last("joined")["character"]["x"] == 500.5


async def test_loot_is_granted_in_storage_before_the_player_hears_of_it(world_of):
    (zone,) = await world_of(("wilds-a", WILDS))
    a, a_t = await zone.player("aria", x=500, y=500)
    wolf = zone.runtime.play.world.add_npc(
        default_game().npc_kinds["wolf"], 502, 500, zone.clock.monotonic()
    )
    seq = 1
    while not zone.runtime.play.world.is_dead(wolf.slot):
        seq += 1
        zone.send(a, {"type": "attack", "seq": seq, "target_id": wolf.entity_id, "skill_id": 1})
        await zone.tick(1.0)
    await zone.settle()
    await zone.tick()
    loot = next(e for m in a_t.of_type("snapshot") for e in m["events"] if e["type"] == "loot")
    assert loot["items"] == {"wolf_pelt": 1, "gold": 3}
    assert await zone.storage.inventory(a.character_id) == loot["inventory"]
    assert await zone.storage.audit_items() == []


async def _kill_a_wolf(zone, session):
    wolf = zone.runtime.play.world.add_npc(
        default_game().npc_kinds["wolf"], 502, 500, zone.clock.monotonic()
    )
    seq = 1
    while not zone.runtime.play.world.is_dead(wolf.slot):
        seq += 1
        zone.send(
            session, {"type": "attack", "seq": seq, "target_id": wolf.entity_id, "skill_id": 1}
        )
        await zone.tick(1.0)


def _flaky_grants(zone, monkeypatch, failures):
    """The database refuses the next ``failures`` grants (an outage), as the SQL storage
    does: StorageUnavailable, with the commit's fate unknown for the last one."""
    real = zone.storage.grant_items
    calls = []

    async def grant_items(*args, **kwargs):
        calls.append(kwargs.get("key"))
        if len(calls) <= failures:
            if len(calls) == failures:  # committed, but the answer never came back
                await real(*args, **kwargs)
            raise StorageUnavailable("connection refused")
        return await real(*args, **kwargs)

    monkeypatch.setattr(zone.storage, "grant_items", grant_items)
    monkeypatch.setattr(handlers, "LOOT_RETRY_S", (0.01,) * 5)
    return calls


async def test_loot_earned_while_the_database_is_away_lands_once_when_it_is_back(
    world_of, monkeypatch
):
    """Regression (issue 11): during a PostgreSQL outage, loot drops were silently lost."""
    (zone,) = await world_of(("wilds-a", WILDS))
    a, a_t = await zone.player("aria", x=500, y=500)
    calls = _flaky_grants(zone, monkeypatch, failures=3)
    await _kill_a_wolf(zone, a)
    await zone.settle()
    await zone.tick()
    loot = [e for m in a_t.of_type("snapshot") for e in m["events"] if e["type"] == "loot"]
    assert [e["items"] for e in loot] == [{"wolf_pelt": 1, "gold": 3}]
    assert len(calls) == 4 and len(set(calls)) == 1  # one grant, retried with its key
    assert await zone.storage.inventory(a.character_id) == {"wolf_pelt": 1, "gold": 3}
    assert await zone.storage.audit_items() == []


async def test_loot_that_cannot_be_saved_is_refused_to_the_player_not_dropped(
    world_of, monkeypatch
):
    (zone,) = await world_of(("wilds-a", WILDS))
    a, a_t = await zone.player("aria", x=500, y=500)
    monkeypatch.setattr(zone.storage, "grant_items", _always_down)
    monkeypatch.setattr(handlers, "LOOT_RETRY_S", (0.01,) * 5)
    await _kill_a_wolf(zone, a)
    await zone.settle()
    notice = a_t.last("notice")
    assert notice["code"] == "loot_unsaved"
    assert "1 wolf_pelt" in notice["message"] and "3 gold" in notice["message"]
    assert await zone.storage.inventory(a.character_id) == {}


async def _always_down(*args, **kwargs):
    raise StorageUnavailable("connection refused")


async def test_giving_moves_items_between_players_with_a_ledger(world_of):
    (zone,) = await world_of(("town-a", TOWN))
    a, a_t = await zone.player("aria", x=500, y=500)
    b, b_t = await zone.player("bob", x=502, y=500)
    await zone.storage.grant_items(a.character_id, {"gold": 10}, "test", "town-a", a.epoch)
    zone.send(
        a, {"type": "give", "seq": 2, "target_id": b.character_id, "item": "gold", "quantity": 4}
    )
    await zone.settle()
    assert a_t.last("ack")["result"]["inventory"] == {"gold": 6}
    zone.send(
        a, {"type": "give", "seq": 3, "target_id": b.character_id, "item": "gold", "quantity": 7}
    )
    await zone.settle()
    assert a_t.last("error")["code"] == "insufficient_items"
    await zone.tick()
    received = next(e for e in b_t.last("snapshot")["events"] if e["type"] == "received")
    assert received["inventory"] == {"gold": 4}
    zone.send(a, {"type": "inventory", "seq": 4})
    await zone.settle()
    assert a_t.last("inventory")["items"] == {"gold": 6}
    assert await zone.storage.item_totals() == {"gold": 10}


async def test_whispers_find_a_player_on_another_server(world_of):
    one, two = await world_of(("town-a", TOWN), ("wilds-a", WILDS))
    a, a_t = await one.player("aria")
    _b, b_t = await two.player("bob")
    one.send(a, {"type": "chat", "seq": 2, "channel": "whisper", "to": "BOB", "message": "psst"})
    await one.settle()
    assert a_t.last("ack")["seq"] == 2
    await two.tick()
    whisper = next(e for e in b_t.last("snapshot")["events"] if e["type"] == "chat")
    assert (whisper["channel"], whisper["message"], whisper["from"]) == (
        "whisper",
        "psst",
        a.character_id,
    )
    one.send(
        a, {"type": "chat", "seq": 3, "channel": "whisper", "to": "nobody", "message": "hello?"}
    )
    await one.settle()
    assert a_t.last("error")["code"] == "player_offline"


async def test_whispers_go_by_the_bus_routes_when_the_database_cannot_say(world_of, monkeypatch):
    one, two = await world_of(("town-a", TOWN), ("wilds-a", WILDS))
    a, a_t = await one.player("aria")
    _b, b_t = await two.player("bob")
    await two.runtime.bus.present(two.runtime.config.server_id, {"Bob"})  # as its loop does

    async def down(name):
        raise StorageUnavailable("database down")

    monkeypatch.setattr(one.storage, "character_by_name", down)
    one.send(a, {"type": "chat", "seq": 2, "channel": "whisper", "to": "bob", "message": "psst"})
    await one.settle()
    assert a_t.last("ack")["seq"] == 2
    await two.tick()
    whisper = next(e for e in b_t.last("snapshot")["events"] if e["type"] == "chat")
    assert (whisper["message"], whisper["name"], whisper["region"]) == ("psst", "Aria", "local")
    one.send(
        a,
        {
            "type": "chat",
            "seq": 3,
            "channel": "whisper",
            "to": "bob",
            "region": "eu-west",
            "message": "psst",
        },
    )
    await one.settle()
    error = a_t.last("error")
    assert (error["seq"], error["code"], error["message"]) == (
        3,
        "player_offline",
        "bob is not in region eu-west",
    )
    one.send(
        a,
        {
            "type": "chat",
            "seq": 4,
            "channel": "whisper",
            "to": "bob",
            "region": "EU!",
            "message": "x",
        },
    )
    await one.settle()
    assert a_t.last("error")["code"] == "bad_message"


async def test_announcements_and_bans_reach_every_server(world_of):
    one, two = await world_of(("town-a", TOWN), ("wilds-a", WILDS))
    _a, a_t = await one.player("aria")
    b, b_t = await two.player("bob")
    await one.runtime.bus.broadcast(Kind.ANNOUNCE, {"message": "maintenance at 5"}, "admin")
    await one.tick()
    assert {"type": "announce", "message": "maintenance at 5"} in a_t.last("snapshot")["events"]
    await one.runtime.bus.broadcast(
        Kind.KICK, {"account_id": b.account_id, "reason": "banned"}, "admin"
    )
    assert b_t.closed[0] == CloseCode.FORBIDDEN
    assert b_t.last("error")["code"] == "banned"
    assert a_t.closed is None
    await one.storage.set_banned(b.account_id, True)
    _, again_t = await join_with(two, "bob")
    assert again_t.closed[0] == CloseCode.FORBIDDEN


async def test_an_operators_kick_saves_and_tells_the_client_not_to_come_back(world_of):
    one, two = await world_of(("town-a", TOWN), ("wilds-a", WILDS))
    a, a_t = await one.player("aria", x=500, y=500)
    one.send(a, {"type": "move", "seq": 2, "x": 504, "y": 500})
    await one.tick()
    await two.runtime.bus.broadcast(
        Kind.KICK, {"character_id": a.character_id, "reason": "kicked"}, "admin"
    )
    assert a_t.closed[0] == CloseCode.FORBIDDEN  # a resuming client stops (protocol §2.7)
    assert a_t.last("error")["code"] == "kicked"
    await one.tick()  # the leave is applied: the character is staged for saving
    await one.runtime.checkpointer.flush()
    saved = await one.storage.load_character(a.character_id)
    assert (saved.state.x, saved.owner_server) == (504.0, None)


async def test_after_a_crash_the_next_owner_resumes_from_the_hot_checkpoint(world_of):
    one, two = await world_of(("town-a", TOWN), ("town-b", TOWN))
    a, _a_t = await one.player("aria", x=500, y=500)
    one.send(a, {"type": "move", "seq": 2, "x": 504, "y": 500})
    await one.tick()
    await one.runtime.checkpointer.write_checkpoints(one.runtime.play.online_checkpoints())
    # town-a dies without saving: its lease runs out and nothing answers the kick
    await one.storage.heartbeat_server("town-a", 0.0)
    one.runtime.bus = MemoryBus()
    _, b_t = await join_with(two, "aria")
    assert b_t.last("joined")["character"]["x"] == 504  # not the 500 in the database


async def test_the_dead_do_not_travel_through_portals(world_of):
    town, _ = await world_of(("town-a", TOWN), ("wilds-a", WILDS))
    a, a_t = await town.player("aria", x=1003, y=512)
    world = town.runtime.play.world
    world.flags[a.actor.slot] |= 1  # dead
    town.send(a, {"type": "switch_channel", "seq": 2})
    await town.tick()
    assert a_t.last("error")["code"] == "you_are_dead"
    world.x[a.actor.slot] = 1006.0  # the body lies inside the portal
    town.send(a, {"type": "move", "seq": 3, "x": 1006, "y": 512})
    await town.settle()
    assert not a_t.of_type("transfer")
    assert len(town.runtime.sessions.players) == 1


async def test_a_transfer_ticket_for_a_character_playing_here_takes_over(world_of):
    town, wilds = await world_of(("town-a", TOWN), ("wilds-a", WILDS))
    a, a_t = await town.player("aria", x=1010, y=512)
    town.send(a, {"type": "move", "seq": 2, "x": 1010.5, "y": 512})
    await town.settle()
    ticket = a_t.last("transfer")["ticket"]
    _, fallback_t = await join_with(wilds, "aria")  # the client rejoined through the gateway
    assert fallback_t.last("joined")
    _, late_t = await join_with(wilds, "aria", ticket=ticket)  # then used the ticket anyway
    assert late_t.last("joined")
    assert fallback_t.closed[0] == CloseCode.SESSION_REPLACED
    assert len(wilds.runtime.sessions.players) == 1
