"""Protocol v2 through the runtime: deltas, keyframes, resync, keepalive, v1 and v2 side by side."""

import msgpack

from openmmo.protocol.codes import Encoding, Wire
from openmmo.protocol.delta import DeltaView

V2 = Wire(Encoding.MSGPACK, 2)


def positions(view: DeltaView) -> dict[int, tuple[float, float]]:
    return {int(r["id"]): (float(r["x"]), float(r["y"])) for r in view.records()}


def v1_positions(snapshot) -> dict[int, tuple[float, float]]:
    from openmmo.protocol.snapshot import entities_from_wire

    return {
        int(r["id"]): (round(float(r["x"]), 1), round(float(r["y"]), 1))
        for r in entities_from_wire(snapshot["entities"])
    }


async def test_the_welcome_says_v2_and_the_first_snapshot_is_a_keyframe(zone):
    session, transport = await zone.player("aria", x=100, y=100, encoding=V2)
    assert transport.last("welcome")["protocol"] == 2
    await zone.tick()
    first = transport.of_type("snapshot")[0]
    assert first["full"] is True and first["quantum"] == 1 / 32
    assert transport.entity_ids() == {session.character_id}


async def test_v1_and_v2_clients_in_one_zone_see_the_same_world(zone):
    a, a_t = await zone.player("aria", x=100, y=100, encoding=V2)
    b, b_t = await zone.player("bob", x=110, y=100, encoding=Encoding.MSGPACK)
    c, c_t = await zone.player("cid", x=120, y=105, encoding=Encoding.JSON)
    far, _ = await zone.player("dan", x=900, y=900, encoding=V2)
    for step in range(1, 8):
        zone.send(b, {"type": "move", "seq": 1 + step, "x": 110 + step * 0.3, "y": 100})
        zone.send(c, {"type": "move", "seq": 1 + step, "x": 120, "y": 105 - step * 0.3})
        await zone.tick()
    await zone.tick(0.1)  # everyone is due a snapshot
    held = {k: (round(x, 1), round(y, 1)) for k, (x, y) in positions(a_t.view()).items()}
    assert held == v1_positions(b_t.last("snapshot")) == v1_positions(c_t.last("snapshot"))
    assert set(held) == {a.character_id, b.character_id, c.character_id}
    assert far.character_id not in held


async def test_an_idle_v2_client_in_a_still_world_is_sent_only_keepalives(zone):
    _a, a_t = await zone.player("aria", x=100, y=100, encoding=V2)
    await zone.player("bob", x=110, y=100, encoding=V2)
    await zone.tick()
    count = len(a_t.of_type("snapshot"))
    for _ in range(18):  # 0.9 s: nothing moves, nothing to acknowledge
        await zone.tick(0.05)
    assert len(a_t.of_type("snapshot")) == count
    for _ in range(3):
        await zone.tick(0.05)
    keepalive = a_t.of_type("snapshot")[count:]
    assert len(keepalive) == 1
    assert not {"enter", "leave", "move", "place", "update", "full"} & set(keepalive[0])


async def test_a_move_is_acknowledged_and_others_see_it_as_a_small_step(zone):
    a, a_t = await zone.player("aria", x=100, y=100, encoding=V2)
    _b, b_t = await zone.player("bob", x=110, y=100, encoding=V2)
    await zone.tick()
    zone.send(a, {"type": "move", "seq": 2, "x": 101, "y": 100})
    await zone.tick()
    mine = a_t.last("snapshot")
    assert mine["ack"] == 2
    await zone.tick(0.1)
    step = b_t.last("snapshot")
    handle = int.from_bytes(step["move"][:2], "little")
    assert len(step["move"]) == 4 and step["move"][2:] == bytes([32, 0])  # +1 unit = 32 quanta
    assert b_t.view().entities[handle][0] == a.character_id
    assert positions(b_t.view())[a.character_id] == (101.0, 100.0)


async def test_resync_sends_a_keyframe_with_the_ack(zone):
    a, a_t = await zone.player("aria", x=100, y=100, encoding=V2)
    await zone.tick()
    zone.send(a, {"type": "resync", "seq": 2})
    await zone.tick()
    last = a_t.last("snapshot")
    assert last["full"] is True and last["ack"] == 2
    assert a_t.entity_ids() == {a.character_id}


async def test_a_backed_up_v2_client_catches_up_with_one_delta(zone):
    a, a_t = await zone.player("aria", x=100, y=100, encoding=V2)
    b, _ = await zone.player("bob", x=110, y=100, encoding=V2)
    await zone.tick()
    zone.runtime.sessions.set_writable(a, False)
    for step in range(1, 6):
        zone.send(b, {"type": "move", "seq": 1 + step, "x": 110 + step, "y": 100})
        await zone.tick()
    zone.runtime.sessions.set_writable(a, True)
    await zone.tick(0.1)
    last = a_t.last("snapshot")
    assert "full" not in last  # within the history: a delta, not a keyframe
    assert positions(a_t.view())[b.character_id] == (115.0, 100.0)


async def test_someone_leaving_is_a_leave(zone):
    a, a_t = await zone.player("aria", x=100, y=100, encoding=V2)
    b, _ = await zone.player("bob", x=110, y=100, encoding=V2)
    await zone.tick()
    zone.send(b, {"type": "leave", "seq": 2})
    await zone.settle()
    await zone.tick(0.1)
    await zone.tick(0.1)  # views are rebuilt at the snapshot rate: within two ticks
    assert a_t.entity_ids() == {a.character_id}
    assert any("leave" in m for m in a_t.of_type("snapshot"))


async def test_v2_snapshots_are_raw_msgpack_maps(zone):
    _a, a_t = await zone.player("aria", x=100, y=100, encoding=V2)
    await zone.tick()
    data, binary = a_t.frames[-1]
    assert binary and msgpack.unpackb(data, raw=False)["type"] == "snapshot"


async def test_the_byte_cap_holds_in_a_crowd_and_everyone_is_still_seen(zone):
    from openmmo.zone.replicate import DeltaConfig

    zone.runtime.replicator.delta = DeltaConfig(budget_bytes_s=4096)
    crowd = [
        await zone.player(f"p{i}", x=100 + (i % 10) * 4, y=100 + (i // 10) * 4, encoding=V2)
        for i in range(60)
    ]
    await zone.tick()
    start = [len(b"".join(d for d, _ in t.frames)) for _, t in crowd]
    for tick in range(40):  # 2 s, everyone moving every tick
        for i, (session, _) in enumerate(crowd):
            x = 100 + (i % 10) * 4 + (tick % 8) * 0.5
            zone.send(session, {"type": "move", "seq": 2 + tick, "x": x, "y": 100 + (i // 10) * 4})
        await zone.tick()
    sent = [
        len(b"".join(d for d, _ in t.frames)) - s for (_, t), s in zip(crowd, start, strict=True)
    ]
    assert max(sent) / 2.0 <= 4096  # bytes per second, headers included
    # Deferred, not lost: once the crowd stands still every view catches up with the world.
    for _ in range(20):
        await zone.tick()
    world = zone.runtime.play.world
    truth = {s.character_id: world.position(s.character_id) for s, _ in crowd}
    held = positions(crowd[0][1].view())
    assert set(held) == set(truth)
    assert all(abs(held[k][0] - x) <= 1 / 64 for k, (x, _) in truth.items())
