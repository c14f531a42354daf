"""Moves, snapshots, combat and chat through the runtime, without sockets."""

from openmmo.bus.memory import MemoryBus
from openmmo.protocol.codes import CloseCode, Limits
from openmmo.testing import default_game
from tests.zone.conftest import make_zone, subscribe


async def test_moves_are_acknowledged_by_the_next_snapshot(zone):
    session, transport = await zone.player("aria", x=100, y=100)
    zone.send(session, {"type": "move", "seq": 2, "x": 100.5, "y": 100})
    zone.send(session, {"type": "move", "seq": 3, "x": 101, "y": 100})
    await zone.tick()
    snapshot = transport.last("snapshot")
    assert snapshot["ack"] == 3
    mine = next(e for e in snapshot["entities"] if e[0] == session.character_id)
    assert mine[1:3] == [101.0, 100.0]


async def test_snapshots_follow_the_snapshot_rate_when_idle(zone):
    _session, transport = await zone.player("aria")
    await zone.tick()  # the join itself asks for a first snapshot
    count = len(transport.of_type("snapshot"))
    await zone.tick(0.05)  # half a snapshot interval: nothing to send
    assert len(transport.of_type("snapshot")) == count
    await zone.tick(0.05)
    assert len(transport.of_type("snapshot")) == count + 1


async def test_players_see_who_is_near_and_not_who_is_far(zone):
    a, a_t = await zone.player("aria", x=100, y=100)
    b, b_t = await zone.player("bob", x=110, y=100)
    c, c_t = await zone.player("cid", x=900, y=900)
    await zone.tick()
    assert a_t.entity_ids() == {a.character_id, b.character_id}
    assert b_t.entity_ids() == {a.character_id, b.character_id}
    assert c_t.entity_ids() == {c.character_id}


async def test_an_attack_is_acknowledged_at_once_with_its_result(zone):
    a, a_t = await zone.player("aria", x=100, y=100)
    b, b_t = await zone.player("bob", x=102, y=100)
    zone.send(a, {"type": "attack", "seq": 2, "target_id": b.character_id, "skill_id": 1})
    assert a_t.of_type("ack") == []  # the tick applies it
    await zone.tick()
    assert a_t.last("ack") == {
        "type": "ack",
        "seq": 2,
        "result": {"target": b.character_id, "damage": 12, "hp": 88, "killed": False},
    }
    zone.send(a, {"type": "attack", "seq": 3, "target_id": b.character_id, "skill_id": 1})
    await zone.tick()
    assert a_t.last("error")["code"] == "cooldown" and a_t.last("error")["seq"] == 3
    hits = [e for e in b_t.last("snapshot")["events"] if e["type"] == "hit"]
    assert hits == [
        {
            "type": "hit",
            "attacker": a.character_id,
            "target": b.character_id,
            "skill": 1,
            "damage": 12,
            "hp": 88,
        }
    ]


async def test_killing_an_npc_gives_xp_and_it_respawns(zone):
    a, a_t = await zone.player("aria", x=100, y=100)
    npc = zone.runtime.play.world.add_npc(
        default_game().npc_kinds["rat"], 102, 100, zone.clock.monotonic()
    )
    seq = 1
    while True:
        seq += 1
        zone.send(a, {"type": "attack", "seq": seq, "target_id": npc.entity_id, "skill_id": 1})
        await zone.tick(1.0)
        if a_t.last("ack")["result"]["killed"]:
            break
    events = a_t.last("snapshot")["events"]
    assert {"type": "death", "entity": npc.entity_id, "killer": a.character_id} in events
    assert any(e["type"] == "xp" and e["amount"] == 15 for e in events)
    assert a_t.last("snapshot")["xp"] == 15
    await zone.tick(10.0)
    assert not zone.runtime.play.world.is_dead(npc.slot)


async def test_say_reaches_the_area_and_zone_reaches_everyone(zone):
    a, a_t = await zone.player("aria", x=100, y=100)
    _b, b_t = await zone.player("bob", x=110, y=100)
    _c, c_t = await zone.player("cid", x=900, y=900)
    await zone.tick()
    zone.send(a, {"type": "chat", "seq": 2, "message": "hello\x07 there", "channel": "say"})
    assert a_t.last("ack")["seq"] == 2  # at once: chat changes nothing in the world
    zone.send(a, {"type": "chat", "seq": 3, "message": "to all", "channel": "zone"})
    await zone.tick()

    def lines(transport):
        return [
            (e["channel"], e["message"])
            for m in transport.of_type("snapshot")
            for e in m["events"]
            if e["type"] == "chat"
        ]

    assert lines(b_t) == [("say", "hello there"), ("zone", "to all")]
    assert lines(a_t) == [("say", "hello there"), ("zone", "to all")]
    assert lines(c_t) == [("zone", "to all")]


async def test_the_audience_nearby_is_players_in_the_world_once_each(zone):
    a, _ = await zone.player("aria", x=100, y=100)
    b, _ = await zone.player("bob", x=110, y=100)
    c, _ = await zone.player("cid", x=120, y=100)
    await zone.player("dee", x=900, y=900)
    zone.runtime.play.world.add_npc(
        default_game().npc_kinds["rat"], 105, 100, zone.clock.monotonic()
    )
    await zone.tick()
    assert {s.username for s in zone.runtime.replicator.players_near(100, 100)} == {
        "aria",
        "bob",
        "cid",
    }
    zone.runtime.sessions.disconnect(c)  # taken out by the next tick, before its grid rebuild
    await zone.tick()
    audience = zone.runtime.replicator.players_near(100, 100)
    assert sorted(s.username for s in audience) == ["aria", "bob"]
    assert all(s in (a, b) for s in audience)


async def test_the_audience_nearby_is_kept_per_cell_until_the_grid_or_the_players_change(zone):
    """A crowd says many lines per tick in the same cells: the audience is found once per
    cell and tick, and found again when a player comes or goes in between."""
    await zone.player("aria", x=100, y=100)
    b, _ = await zone.player("bob", x=110, y=100)
    await zone.tick()
    replicator = zone.runtime.replicator
    first = replicator.players_near(100, 100)
    assert replicator.players_near(105, 102) is first  # the same cell, the same tick
    assert {s.username for s in first} == {"aria", "bob"}
    assert b.character_id is not None
    zone.runtime.sessions.unbind(b.character_id, b)  # bob leaves between two ticks
    assert [s.username for s in replicator.players_near(100, 100)] == ["aria"]
    zone.runtime.sessions.bind(b.character_id, b)
    assert {s.username for s in replicator.players_near(100, 100)} == {"aria", "bob"}
    before = replicator.players_near(100, 100)
    await zone.tick()
    assert replicator.players_near(100, 100) is not before  # rebuilt with the grid


async def test_global_chat_crosses_servers_through_the_bus():
    bus = MemoryBus()
    one, two = make_zone(bus=bus, server_id="one"), make_zone(bus=bus, server_id="two")
    for zone in (one, two):
        await subscribe(zone)
    a, a_t = await one.player("aria")
    _b, b_t = await two.player("bob")
    one.send(a, {"type": "chat", "seq": 2, "message": "hi all", "channel": "global"})
    await one.tick()
    await one.settle()
    assert a_t.last("ack")["seq"] == 2
    await two.tick()
    assert [e["message"] for e in b_t.last("snapshot")["events"]] == ["hi all"]


async def test_chat_limits(zone):
    a, a_t = await zone.player("aria")
    zone.send(a, {"type": "chat", "seq": 2, "message": "x" * 300})
    await zone.tick()
    assert a_t.last("error")["code"] == "chat_too_long"
    zone.send(a, {"type": "chat", "seq": 3, "message": " \n "})
    await zone.tick()
    assert a_t.last("error")["code"] == "bad_message"
    for seq in range(4, 10):
        zone.send(a, {"type": "chat", "seq": seq, "message": "spam"})
    await zone.tick(0.0)
    assert a_t.last("error") == {
        "type": "error",
        "code": "rate_limited",
        "message": "you are chatting too fast",
        "seq": 9,
    }


async def test_malformed_input_gets_errors_without_closing(zone):
    a, a_t = await zone.player("aria")
    zone.runtime.sessions.on_message(a, b"{not json", False)
    assert a_t.last("error")["code"] == "bad_message"
    zone.runtime.sessions.on_message(a, b"\xc1", True)
    assert a_t.last("error")["code"] == "bad_message"
    zone.send(a, {"type": "move", "seq": 1, "x": 1, "y": 1})  # seq 1 was the join
    assert a_t.last("error")["code"] == "bad_seq"
    zone.send(a, {"type": "fly", "seq": 5})
    assert a_t.last("error")["code"] == "unknown_type"
    assert a_t.closed is None


async def test_persistent_protocol_abuse_is_closed_with_1008(zone):
    a, a_t = await zone.player("aria")
    for _ in range(51):
        zone.runtime.sessions.on_message(a, b"nope", False)
    assert a_t.closed[0] == CloseCode.POLICY_VIOLATION


async def test_flooding_is_limited_then_closed():
    zone = make_zone(
        limits=Limits(max_messages_per_s=10, message_burst=10, max_rate_limited_before_close=20)
    )
    a, a_t = await zone.player("aria")
    for seq in range(2, 22):
        zone.send(a, {"type": "ping", "seq": seq})
    errors = a_t.of_type("error")
    assert [e["code"] for e in errors] == ["rate_limited"]  # one notice, not one per message
    assert a_t.closed is None
    for seq in range(22, 60):
        zone.send(a, {"type": "ping", "seq": seq})
    assert a_t.closed[0] == CloseCode.RATE_LIMITED


async def test_backed_up_clients_are_skipped_then_closed(zone):
    a, a_t = await zone.player("aria")
    await zone.tick()
    zone.runtime.sessions.set_writable(a, False)
    sent = len(a_t.of_type("snapshot"))
    await zone.tick(0.1)
    assert len(a_t.of_type("snapshot")) == sent
    await zone.tick(11.0)
    assert a_t.closed[0] == CloseCode.SLOW_CONSUMER


async def test_inspect_names_entities(zone):
    a, a_t = await zone.player("aria")
    zone.send(a, {"type": "inspect", "seq": 2, "ids": [a.character_id, 424242]})
    assert a_t.last("entity_info")["entities"] == [
        {"id": a.character_id, "kind": 0, "name": "Aria", "level": 1, "stats": {"title": ""}}
    ]


def test_chat_cleaning_keeps_visible_text_and_joiners():
    from openmmo.zone.handlers import _clean

    assert _clean("  hi\nthere\t!\x07 ") == "hi there !"
    assert _clean("abc\u202edef\u200b") == "abcdef"  # bidi override and zero-width space
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert _clean(family) == family
    assert _clean("\U000f0000") == "\U000f0000"  # private use stays


async def test_the_portals_are_announced_for_clients_to_draw():
    town = default_game().zones[1]
    zone = make_zone(spec=town)
    _, t = await zone.player("aria", x=600, y=600)
    (portal,) = t.last("welcome")["zone"]["portals"]
    (spec,) = town.portals
    assert (portal["x0"], portal["y0"], portal["x1"], portal["y1"]) == (
        spec.x0,
        spec.y0,
        spec.x1,
        spec.y1,
    )
    assert (portal["zone_id"], portal["arrival_x"]) == (spec.target_zone, spec.arrival_x)


async def test_the_spawn_area_is_announced_and_respawns_land_in_it():
    """Regression (issue 11, bug 10): the docs said players respawn on the spawn point while
    they landed up to 500 units away; the spawn area is now announced and documented."""
    import math

    town = default_game().zones[1]
    zone = make_zone(spec=town)
    a, a_t = await zone.player("aria", x=600, y=600)
    announced = a_t.last("welcome")["zone"]
    assert (announced["spawn_x"], announced["spawn_y"], announced["spawn_radius"]) == (
        town.spawn_x,
        town.spawn_y,
        town.spawn_radius,
    )
    world = zone.runtime.play.world
    world.hp[a.actor.slot] = 1
    zone.runtime.play.world.flags[a.actor.slot] |= 1  # dead
    world.actors[a.character_id].respawn_at = zone.clock.monotonic() + 5
    world.respawn_queue.append((zone.clock.monotonic() + 5, a.character_id))
    await zone.tick(5.1)
    respawn = next(e for e in a_t.last("snapshot")["events"] if e["type"] == "respawn")
    distance = math.hypot(respawn["x"] - town.spawn_x, respawn["y"] - town.spawn_y)
    assert distance <= town.spawn_radius + 1e-6


def _exported(name, zone_label):
    from prometheus_client import REGISTRY, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(generate_latest(REGISTRY).decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("zone") == zone_label:
                return sample.value
    return 0.0


async def test_snapshot_sizes_and_what_each_player_is_sent_per_second_are_measured(zone):
    label = zone.runtime.play.label
    count0 = _exported("openmmo_snapshot_bytes_count", label)
    sum0 = _exported("openmmo_snapshot_bytes_sum", label)
    players0 = _exported("openmmo_player_sent_bytes_per_second_count", label)
    _, a_t = await zone.player("aria", x=100, y=100)
    _, b_t = await zone.player("bob", x=110, y=100)
    for _ in range(22):  # 1.1 s of ticks
        await zone.tick()
    snapshots = a_t.of_type("snapshot") + b_t.of_type("snapshot")
    sizes = [len(data) for t in (a_t, b_t) for data, _ in t.frames if b'"snapshot"' in data]
    assert len(sizes) == len(snapshots) > 20
    assert _exported("openmmo_snapshot_bytes_count", label) - count0 == len(sizes)
    assert _exported("openmmo_snapshot_bytes_sum", label) - sum0 == sum(sizes)
    # one observation per player per second
    assert _exported("openmmo_player_sent_bytes_per_second_count", label) - players0 == 2
