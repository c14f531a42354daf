"""A field a game declares lives as long as the character: it survives leaving, a zone
server killed with SIGKILL (the hot checkpoint in Redis) and a transfer to another zone
server — on the production backends, every service its own process."""

import asyncio
import textwrap

import httpx
import pytest

from openmmo.client import GameClient, GatewayClient
from openmmo.client.game import ConnectionClosed, GameError
from openmmo.client.gateway import ApiError
from openmmo.testing.cluster import Cluster
from openmmo.testing.services import (
    RABBITMQ_URL,
    REDIS_URL,
    create_database,
    drop_database,
    namespace,
)

pytestmark = pytest.mark.e2e

VAULT = """
from openmmo.game import EVERYONE, OWNER, Field, Game, Message, PlayerClass, Portal, Skill, ZoneSpec

game = Game(
    "vault",
    zones=[
        ZoneSpec(1, "bank", 512.0, 512.0, 500.0, 256.0, pvp=False,
                 portals=(Portal(504.0, 200.0, 512.0, 312.0, 2, 20.0, 256.0),)),
        ZoneSpec(2, "vault", 512.0, 512.0, 20.0, 256.0, pvp=False,
                 portals=(Portal(0.0, 200.0, 8.0, 312.0, 1, 490.0, 256.0),)),
    ],
    classes=[PlayerClass("banker", skills=(1,))],
    skills=[Skill(1, "count", range=1.0, cooldown_s=1.0)],
    fields=[
        Field("coins", int, 0, min=0, max=1_000_000, visible=OWNER),
        Field("badge", str, "", visible=EVERYONE),
    ],
    messages=[Message("earn", (Field("amount", int, 1, min=1, max=100),))],
)


@game.on_message("earn")
def earn(zone, player, data):
    coins = player.stats.add("coins", data["amount"])
    if coins >= 5:
        player.stats["badge"] = "saver"
    return {"coins": coins}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    code = tmp_path_factory.mktemp("code")
    (code / "vault.py").write_text(textwrap.dedent(VAULT))
    database = create_database()
    world = Cluster(
        tmp_path_factory.mktemp("cluster"),
        database_url=database,
        redis_url=REDIS_URL,
        rabbitmq_url=RABBITMQ_URL,
        namespace=namespace(),
        zones=[1, 1, 2],
        env={"OPENMMO_GAME": "vault", "PYTHONPATH": str(code)},
    )
    try:
        world.start()
        yield world
    finally:
        world.stop_all()
        drop_database(database)


async def enter(gateway, character_id, zone_id=1, timeout_s=20.0):
    """Join through the gateway, retrying while a dead server is still listed or still owns
    the character (its lease runs out after OWNERSHIP_LEASE_S)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            grant = await gateway.join_zone(zone_id, character_id)
            game = await GameClient.connect(grant["ws_url"], grant["ticket"])
            joined = await game.join(timeout_s=10)
            return game, grant, joined
        except (ApiError, GameError, ConnectionClosed, OSError, TimeoutError, httpx.HTTPError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def wait_released(gateway, character_id):
    """The leave's save has landed when the character shows its new state over HTTP."""
    for _ in range(100):
        try:
            game, _, joined = await enter(gateway, character_id, timeout_s=0.1)
        except (ApiError, GameError, ConnectionClosed, OSError, TimeoutError):  # still held
            await asyncio.sleep(0.1)
            continue
        return game, joined
    raise AssertionError("the character was not released")


async def test_a_declared_field_survives_leave_crash_and_transfer(cluster):
    gateway = GatewayClient(cluster.gateway_url)
    await gateway.register("saver_one", "correct horse battery")
    hero = await gateway.create_character("Saver")
    cid = hero["character_id"]
    assert hero["class"] == "banker" and hero["stats"] == {"coins": 0, "badge": ""}

    game, _, joined = await enter(gateway, cid)
    assert joined["character"]["stats"] == {"coins": 0, "badge": ""}
    assert (await game.send_game("earn", amount=5))["result"] == {"coins": 5}
    await game.wait_event(lambda e: e["type"] == "stats" and e["stats"].get("coins") == 5)

    # 1. leave: saved with the character, shown by the HTTP API, loaded on the next join
    await game.leave()
    game, joined = await wait_released(gateway, cid)
    assert joined["character"]["stats"] == {"coins": 5, "badge": "saver"}
    assert (await gateway.get_character(cid))["stats"] == {"coins": 5, "badge": "saver"}

    # 2. kill -9 of the server it plays on: the next owner loads the hot checkpoint
    assert (await game.send_game("earn", amount=2))["result"] == {"coins": 7}
    await asyncio.sleep(1.5)  # one hot checkpoint (every second)
    server = next(m for m in game.history if m["type"] == "welcome")["server_id"]
    cluster.kill(server)
    game, grant, joined = await enter(gateway, cid)
    assert grant["channel_id"] != server
    assert joined["character"]["stats"]["coins"] == 7  # not the 5 the database holds

    # 3. through the portal to zone 2, on another server
    await game.wait_snapshot(lambda c: c.me() is not None)
    transfer = None
    for _ in range(40):
        me = game.me()
        game.move(min(me.x + 0.75, 510.0), me.y)
        await asyncio.sleep(0.1)
        transfer = next((m for m in game.history if m["type"] == "transfer"), None)
        if transfer is not None:
            break
    assert transfer is not None and transfer["zone_id"] == 2
    there = await game.follow(transfer)
    joined = next(m for m in there.history if m["type"] == "joined")
    assert joined["zone"]["zone_id"] == 2
    assert joined["character"]["stats"] == {"coins": 7, "badge": "saver"}
    info = await there.inspect([cid])
    assert info["entities"][0]["stats"] == {"badge": "saver"}  # coins are the owner's only
    await there.close()
    await gateway.close()
