import itertools

import pytest

from openmmo.client import GameClient, GatewayClient
from openmmo.testing.cluster import Cluster
from openmmo.testing.services import (
    RABBITMQ_URL,
    REDIS_URL,
    create_database,
    drop_database,
    namespace,
)

_names = itertools.count(1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A gateway, two channels of the town and one of the wilds, and two matchmaker replicas,
    as separate processes on the machine's PostgreSQL, Redis and RabbitMQ."""
    database = create_database()
    world = Cluster(
        tmp_path_factory.mktemp("cluster"),
        database_url=database,
        redis_url=REDIS_URL,
        rabbitmq_url=RABBITMQ_URL,
        namespace=namespace(),
        zones=[1, 1, 2],
        matchmakers=2,
    )
    try:
        world.start()
        yield world
    finally:
        codes = world.stop_all()
        drop_database(database)
    assert all(code == 0 for code in codes.values()), codes


class Player:
    def __init__(self, gateway, game, name, character_id):
        self.gateway = gateway
        self.game = game
        self.name = name
        self.character_id = character_id


@pytest.fixture
async def players(cluster):
    made = []

    async def make(server=None, *, zone_id=1):
        """A new player joined on ``server`` (by name), or wherever the gateway sends it."""
        n = next(_names)
        gateway = GatewayClient(cluster.gateway_url)
        await gateway.register(f"cross_{n}", "correct horse battery")
        hero = await gateway.create_character(f"Cross{n}")
        if server is None:
            grant = await gateway.join_zone(zone_id, hero["character_id"])
            game = await GameClient.connect(grant["ws_url"], grant["ticket"])
        else:
            game = await GameClient.connect(cluster.zone_url(server), gateway.token)
        await game.join(character_id=hero["character_id"])
        await game.wait_snapshot(lambda c: c.me() is not None)
        player = Player(gateway, game, f"Cross{n}", hero["character_id"])
        made.append(player)
        return player

    yield make
    for player in made:
        await player.game.close()
        await player.gateway.close()
