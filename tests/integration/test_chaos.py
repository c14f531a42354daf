"""A transfer through the portal, again and again, with the source server killed (SIGKILL)
at a different moment each time: before, during and after the database commit. Afterwards
the character must be in exactly one world, owned by that server, with its items intact."""

import asyncio
import json
import re
import urllib.request

import pytest

from openmmo.client import ApiError, ConnectionClosed, GameClient, GameError, GatewayClient
from openmmo.storage import CharacterProgress
from openmmo.storage.sql import SqlStorage, create_engine
from openmmo.testing.cluster import on_shared_services

pytestmark = pytest.mark.e2e

ITERATIONS = 8
DELAYS = (0.0, 0.3, 0.02, 0.2, 0.05, 0.15, 0.1, 0.4)  # seconds from the moves to the kill
ITEMS = {"gem": 3, "gold": 100}


@pytest.fixture
def cluster(tmp_path):
    with on_shared_services(tmp_path, [1, 2]) as world:
        yield world


async def seed(storage, character_id):
    """Give the character its items (as a short-lived owner) and put it by the portal."""
    await storage.heartbeat_server("seeder", 1e12)
    claim = await storage.acquire_character(character_id, "seeder", 0.0)
    await storage.grant_items(character_id, ITEMS, "seed", "seeder", claim.epoch)
    await place_by_portal(storage, character_id)


async def place_by_portal(storage, character_id):
    """Move a free character back next to the town's portal (fails if someone owns it)."""
    claim = await storage.acquire_character(character_id, "seeder", 0.0)
    refused = await storage.save_progress(
        [
            CharacterProgress(
                character_id,
                claim.character.state.placed(1, 1002.0, 512.0),
                version=claim.character.progress_version,
                epoch=claim.epoch,
                release=True,
            )
        ],
        "seeder",
    )
    assert refused == []


def players_online(cluster):
    total = 0
    for name in ("zone1-1", "zone2-1"):
        try:
            with urllib.request.urlopen(f"{cluster.health_url(name)}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            continue
        total += sum(
            int(float(v))
            for v in re.findall(r"^openmmo_players_online\{[^}]*\} (\S+)$", text, re.M)
        )
    return total


async def rejoin(gateway, character_id, timeout_s=30.0):
    """Join the character wherever the gateway says it is, retrying while the dead owner's
    lease runs out or the directory still lists the dead server."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            grant = await gateway.call("POST", f"/api/characters/{character_id}/join")
            game = await GameClient.connect(grant["ws_url"], grant["ticket"], timeout_s=3)
            await game.join(timeout_s=10)
            return game, grant
        except (ApiError, GameError, ConnectionClosed, OSError, TimeoutError) as exc:
            if loop.time() > deadline:
                raise AssertionError(f"could not rejoin: {exc!r}") from exc
            await asyncio.sleep(0.5)


async def test_transfer_with_the_source_killed_at_random_points(cluster):
    engine = create_engine(cluster.base_env["DATABASE_URL"])
    storage = SqlStorage(engine)
    gateway = GatewayClient(cluster.gateway_url)
    await gateway.register("chaos_runner", "correct horse battery")
    hero = await gateway.create_character("Chaos")
    cid = hero["character_id"]
    await seed(storage, cid)
    outcomes = []
    for _ in range(ITERATIONS):
        game = await GameClient.connect(cluster.zone_url("zone1-1"), gateway.token)
        await game.join(character_id=cid)
        await game.wait_snapshot(lambda c: c.me() is not None)
        # From before the tick applies the moves to after the transfer committed (two ticks
        # and a transaction later): the kill lands at every point of the transfer.
        delay_s = DELAYS[len(outcomes) % len(DELAYS)]
        game.move(1002.75, 512.0)
        game.move(1003.5, 512.0)
        game.move(1004.25, 512.0)  # inside the portal
        await asyncio.sleep(delay_s)
        cluster.kill("zone1-1")
        cluster.start_process("zone1-1", wait=False)  # the orchestrator replaces the pod
        await asyncio.sleep(0.2)
        transfers = [m for m in game.history if m["type"] == "transfer"]
        if transfers:
            landed = await game.follow(transfers[0])
            where = "followed"
        else:
            landed, _ = await rejoin(gateway, cid)
            where = "rejoined"
        await landed.wait_snapshot(lambda c: c.me() is not None)
        zone = (
            landed.history[-1].get("zone", {}).get("zone_id")
            or next(m for m in landed.history if m["type"] == "joined")["zone"]["zone_id"]
        )
        outcomes.append((delay_s, where, zone))
        cluster.wait_ready("zone1-1")
        # exactly one owner: the database names a live server, and one world holds the player
        character = await storage.load_character(cid)
        assert character.owner_server is not None
        await asyncio.sleep(1.5)  # let the metrics of both servers catch up
        assert players_online(cluster) == 1, outcomes
        assert await storage.inventory(cid) == ITEMS
        assert await storage.audit_items() == []
        await landed.leave()
        for _ in range(50):  # the leave's save releases the character
            character = await storage.load_character(cid)
            if character.owner_server is None:
                break
            await asyncio.sleep(0.1)
        assert character.owner_server is None
        await place_by_portal(storage, cid)
        character = await storage.load_character(cid)
        assert (character.owner_server, character.zone_id) == (None, 1), character
        await game.close()
    print("chaos outcomes (kill delay s, how the player got back, zone):", json.dumps(outcomes))
    assert len(outcomes) == ITERATIONS
    # The delays span the transfer: some kills land before the commit, some after.
    assert {where for _, where, _ in outcomes} == {"followed", "rejoined"}
    # A dead server leaves the directory within its 5 s TTL, so nobody is sent there.
    cluster.kill("zone1-1")
    killed = asyncio.get_running_loop().time()
    while "zone1-1" in {c["channel_id"] for z in await gateway.zones() for c in z["channels"]}:
        assert asyncio.get_running_loop().time() - killed < 7.0
        await asyncio.sleep(0.2)
    await gateway.close()
    await engine.dispose()
