"""The spectator socket (protocol.md §16): admins only, a bounded cost per tick."""

import msgpack
import numpy as np

from openmmo.protocol.snapshot import ENTITY_DTYPE
from openmmo.testing import RecordingTransport
from openmmo.zone.spectate import MAX_SPECTATORS, SPECTATE_INTERVAL_S
from tests.zone.conftest import make_zone


class Watcher:
    def __init__(self, zone):
        self.zone = zone
        self.transport = RecordingTransport()
        self.spectator = zone.runtime.spectators.connect(self.transport)

    def send(self, message):
        self.zone.runtime.spectators.on_message(self.spectator, msgpack.packb(message), True)

    def of_type(self, kind):
        return self.transport.of_type(kind)


async def admin_token(zone, name="root", admin=True):
    account = await zone.storage.create_account(name, "h")
    await zone.storage.set_admin(account.account_id, admin)
    return zone.tokens.issue_access(account.account_id, name)


async def watching(zone, token):
    watcher = Watcher(zone)
    watcher.send({"type": "auth", "token": token})
    await zone.settle()
    return watcher


async def test_an_admin_sees_the_whole_world_a_few_times_a_second():
    zone = make_zone()
    await zone.player("aria", x=100, y=100)
    await zone.player("bo", x=900, y=900)  # far apart: no snapshot holds both
    watcher = await watching(zone, await admin_token(zone))
    (welcome,) = watcher.of_type("welcome")
    assert welcome["server_id"] == zone.runtime.config.server_id
    assert welcome["zone"]["zone_id"] == zone.runtime.spec.zone_id
    for _ in range(20):  # one second of ticks
        await zone.tick()
    frames = watcher.of_type("world")
    assert 3 <= len(frames) <= 1 / SPECTATE_INTERVAL_S + 1
    records = np.frombuffer(frames[-1]["entities"], dtype=ENTITY_DTYPE)
    world = zone.runtime.play.world
    assert set(records["id"].tolist()) == {int(i) for i in world.ids[world.active_slots()]}
    assert frames[-1]["players"] == 2


async def test_one_frame_is_built_for_every_spectator_together():
    zone = make_zone()
    await zone.player("aria")
    token = await admin_token(zone)
    watchers = [await watching(zone, token) for _ in range(3)]
    for _ in range(20):
        await zone.tick()
    built = zone.runtime.spectators.frames_sent
    assert built == len(watchers[0].of_type("world"))
    sent = [w.transport.frames[-1][0] for w in watchers]
    assert sent[0] == sent[1] == sent[2]  # the same bytes, packed once


async def test_a_player_who_is_not_an_admin_is_refused():
    zone = make_zone()
    watcher = await watching(zone, await admin_token(zone, "pleb", admin=False))
    assert watcher.of_type("error")[-1]["code"] == "forbidden"
    assert watcher.transport.closed[0] == 4003
    assert watcher.of_type("welcome") == []
    assert zone.runtime.spectators.all == set()


async def test_a_bad_token_closes_4001_and_silence_closes_4008():
    zone = make_zone()
    forged = await watching(zone, "not-a-token")
    assert forged.transport.closed[0] == 4001
    silent = Watcher(zone)
    await zone.tick(6.0)
    assert silent.transport.closed[0] == 4008
    assert silent.of_type("error")[-1]["code"] == "not_authenticated"


async def test_spectators_are_capped_and_rate_limited():
    zone = make_zone()
    token = await admin_token(zone)
    watchers = [await watching(zone, token) for _ in range(MAX_SPECTATORS)]
    extra = Watcher(zone)
    assert extra.spectator is None and extra.transport.closed[0] == 4029
    flooder = watchers[0]
    for _ in range(30):  # far over 5/s with a burst of 10
        flooder.send({"type": "inspect", "id": 1})
    assert flooder.transport.closed[0] == 4029
    await zone.settle()


async def test_inspect_names_a_player_with_its_traffic():
    zone = make_zone()
    session, _ = await zone.player("aria", x=300, y=300)
    for _ in range(10):
        await zone.tick()
    watcher = await watching(zone, await admin_token(zone))
    watcher.send({"type": "inspect", "id": session.character_id, "seq": 7})
    await zone.settle()
    (info,) = watcher.of_type("entity")
    assert (info["name"], info["kind"], info["seq"]) == ("Aria", 0, 7)
    assert (info["x"], info["y"]) == (300.0, 300.0)
    assert info["zone"] == zone.runtime.spec.name
    assert info["bytes_per_s"] > 0  # its snapshots
    watcher.send({"type": "inspect", "id": 123456})
    await zone.settle()
    assert watcher.of_type("error")[-1]["code"] == "not_found"
