"""A zone server restarted under its own name (a StatefulSet pod, a process manager) must
not keep the characters of its previous life: regression of issue 11, bug 1."""

import asyncio

import pytest

from openmmo.client import GameClient, GatewayClient
from openmmo.client.game import GameError
from openmmo.testing.cluster import on_shared_services

pytestmark = pytest.mark.e2e


@pytest.fixture
def cluster(tmp_path):
    # the lease alone would hold the characters for 30 s
    with on_shared_services(tmp_path, [1, 1], env={"OWNERSHIP_LEASE_S": "30"}) as world:
        yield world


async def test_a_server_restarted_under_its_name_lets_its_players_play_elsewhere(cluster):
    gateway = GatewayClient(cluster.gateway_url)
    await gateway.register("restarter", "correct horse battery")
    hero = await gateway.create_character("Phoenix")
    game = await GameClient.connect(cluster.zone_url("zone1-1"), gateway.token)
    await game.join(character_id=hero["character_id"])
    cluster.kill("zone1-1")
    cluster.start_process("zone1-1", same_name=True)  # back, same id, lease renewed
    other = await GameClient.connect(cluster.zone_url("zone1-2"), gateway.token)
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        try:
            joined = await other.join(character_id=hero["character_id"], timeout_s=10)
            break
        except GameError as exc:  # before the fix: character_busy, forever
            assert exc.code == "character_busy"
            assert loop.time() - started < 10, "still held by the restarted server"
            await asyncio.sleep(0.5)
    assert joined["entity_id"] == hero["character_id"]
    await other.close()
    await gateway.close()
