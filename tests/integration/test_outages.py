"""A dependency goes away (a throwaway server of our own is killed): the world keeps running,
readiness says what is wrong, and everything recovers by itself when it comes back, with
nothing confirmed to a player lost."""

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest

from openmmo.client import ApiError, GameClient, GameError, GatewayClient
from openmmo.storage.sql import SqlStorage, create_engine
from openmmo.testing.cluster import Cluster
from openmmo.testing.services import (
    PG_ADMIN_URL,
    RABBITMQ_URL,
    REDIS_URL,
    ThrowawayPostgres,
    ThrowawayRabbitMQ,
    ThrowawayRedis,
    create_database,
    drop_database,
    namespace,
)

pytestmark = pytest.mark.e2e


def readiness(cluster, name):
    try:
        with urllib.request.urlopen(f"{cluster.health_url(name)}/health/ready", timeout=3) as r:
            return r.status, json.loads(r.read())["checks"]
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["checks"]


def dependency_up(cluster, name, dependency):
    """The value of openmmo_dependency_up{dependency=...} on a scrape of the process."""
    with urllib.request.urlopen(f"{cluster.health_url(name)}/metrics", timeout=5) as response:
        text = response.read().decode()
    line = f'openmmo_dependency_up{{dependency="{dependency}"}} '
    values = [float(row[len(line) :]) for row in text.splitlines() if row.startswith(line)]
    assert values, f"{name} exports no openmmo_dependency_up for {dependency}"
    return values[0]


async def eventually(predicate, timeout_s=30.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.25)


async def keeps_playing(game, seconds=2.0):
    """The player moves for a while and every move is still acknowledged."""
    me = game.me()
    seq = 0
    for step in range(int(seconds * 10)):
        seq = game.move(me.x + (step % 2) * 0.5, me.y)
        await asyncio.sleep(0.1)
    await game.wait_snapshot(lambda c: c.last_snapshot["ack"] >= seq, timeout_s=5)
    assert game.close_code is None


async def join(cluster, name):
    gateway = GatewayClient(cluster.gateway_url)
    await gateway.register(name, "correct horse battery")
    hero = await gateway.create_character(name.capitalize())
    game = await GameClient.connect(cluster.zone_url("zone1-1"), gateway.token)
    await game.join(character_id=hero["character_id"])
    await game.wait_snapshot(lambda c: c.me() is not None)
    return gateway, game, hero["character_id"]


@pytest.fixture
def database():
    url = create_database()
    yield url
    drop_database(url)


async def test_redis_outage(tmp_path, database):
    with ThrowawayRedis() as redis:
        cluster = Cluster(
            tmp_path,
            database_url=database,
            redis_url=redis.url,
            rabbitmq_url=RABBITMQ_URL,
            namespace=namespace(),
            zones=[1],
        )
        with cluster:
            gateway, game, _ = await join(cluster, "redis_victim")
            redis.kill()
            await keeps_playing(game)
            status, checks = readiness(cluster, "zone1-1")
            assert status == 503 and checks["redis"].startswith("error")
            assert readiness(cluster, "gateway")[0] == 503
            assert dependency_up(cluster, "zone1-1", "redis") == 0
            assert dependency_up(cluster, "zone1-1", "database") == 1
            with pytest.raises(ApiError) as refused:
                await gateway.login("redis_victim", "correct horse battery")
            assert refused.value.status == 503  # refresh tokens live in Redis
            redis.start()
            await eventually(lambda: readiness(cluster, "zone1-1")[0] == 200, what="zone ready")
            await eventually(lambda: readiness(cluster, "gateway")[0] == 200, what="gw ready")
            assert dependency_up(cluster, "gateway", "redis") == 1
            await gateway.login("redis_victim", "correct horse battery")

            async def listed():
                zones = await gateway.zones()
                return zones[0]["channels"]

            await eventually(listed, what="the channel back in the directory")
            await keeps_playing(game)
            await game.close()
            await gateway.close()


async def test_postgres_outage_delays_saves_but_loses_nothing(tmp_path):
    with ThrowawayPostgres() as postgres:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{postgres.port}/postgres"
        cluster = Cluster(
            tmp_path,
            database_url=url,
            redis_url=REDIS_URL,
            rabbitmq_url=RABBITMQ_URL,
            namespace=namespace(),
            zones=[1],
        )
        with cluster:
            gateway, game, cid = await join(cluster, "pg_victim")
            postgres.kill()
            await keeps_playing(game)
            status, checks = readiness(cluster, "zone1-1")
            assert status == 503 and checks["database"].startswith("error")
            me = game.me()
            seq = game.move(me.x + 0.6, me.y + 0.3)
            await game.wait_snapshot(lambda c: c.last_snapshot["ack"] >= seq)
            final = game.me()
            await game.leave()  # the save cannot land yet; the server keeps retrying
            await asyncio.sleep(2)
            postgres.start()
            await eventually(lambda: readiness(cluster, "zone1-1")[0] == 200, what="ready")
            engine = create_engine(url)
            storage = SqlStorage(engine)

            async def saved():
                character = await storage.load_character(cid)
                return character.owner_server is None and character

            character = await eventually(saved, what="the delayed save")
            assert (character.state.x, character.state.y) == pytest.approx(
                (final.x, final.y), abs=0.01
            )
            await engine.dispose()
            await gateway.close()
    assert PG_ADMIN_URL  # the shared server was never touched


async def test_rabbitmq_outage_stops_global_chat_until_it_returns(tmp_path, database):
    with ThrowawayRabbitMQ() as rabbit:
        cluster = Cluster(
            tmp_path,
            database_url=database,
            redis_url=REDIS_URL,
            rabbitmq_url=rabbit.url,
            namespace=namespace(),
            zones=[1],
        )
        with cluster:
            gateway, game, _ = await join(cluster, "bus_victim")
            await game.chat("before", "global")
            rabbit.kill()
            await asyncio.sleep(1)
            with pytest.raises(GameError, match="unavailable"):
                await game.chat("during", "global")
            await keeps_playing(game)
            status, checks = readiness(cluster, "zone1-1")
            assert status == 503 and checks["rabbitmq"].startswith("error")
            rabbit.start(timeout_s=60)
            await eventually(
                lambda: readiness(cluster, "zone1-1")[0] == 200,
                timeout_s=60,
                what="reconnected to RabbitMQ",
            )
            mark = game.mark()
            await game.chat("after", "global")
            heard = await game.wait_event(lambda e: e.get("message") == "after", since=mark)
            assert heard["channel"] == "global"
            await game.close()
            await gateway.close()
    assert REDIS_URL
