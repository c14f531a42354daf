import itertools

import pytest

from openmmo.client import GameClient, GatewayClient
from openmmo.testing import LocalWorld

_names = itertools.count(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with LocalWorld(tmp_path_factory.mktemp("world")) as local:
        yield local
    assert local.returncode == 0, local.log_tail()


class Player:
    """A registered player with a character, joined to a zone over a real socket."""

    def __init__(self, world, gateway, game, grant):
        self.world = world
        self.gateway = gateway
        self.game = game
        self.grant = grant


@pytest.fixture
async def players(world):
    made = []

    async def make(zone_id=1, *, encoding="json", token_in="query", protocol=1):
        n = next(_names)
        gateway = GatewayClient(world.gateway_url)
        await gateway.register(f"player_{n}", "correct horse battery")
        await gateway.login(f"player_{n}", "correct horse battery")
        hero = await gateway.create_character(f"Hero{n}")
        grant = await gateway.join_zone(zone_id, hero["character_id"])
        game = await GameClient.connect(
            grant["ws_url"],
            grant["ticket"],
            encoding=encoding,
            token_in=token_in,
            protocol=protocol,
        )
        joined = await game.join(map_id=zone_id)
        assert joined["entity_id"] == hero["character_id"]
        await game.wait_snapshot(lambda c: c.me() is not None)
        player = Player(world, gateway, game, grant)
        made.append(player)
        return player

    yield make
    for player in made:
        await player.game.close()
        await player.gateway.close()
