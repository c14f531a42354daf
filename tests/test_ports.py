"""Contract tests of the small ports — directory, sessions, rate limits, checkpoints, bus —
run against every adapter: the in-memory one and the real one on the machine's Redis or
RabbitMQ (isolated by a fresh namespace)."""

import asyncio
import time

import pytest
from redis.asyncio import Redis

from openmmo.bus import Envelope, Kind
from openmmo.bus.memory import MemoryBus
from openmmo.bus.rabbitmq import RabbitBus
from openmmo.checkpoints import HotCheckpoint
from openmmo.checkpoints.memory import MemoryCheckpoints
from openmmo.checkpoints.redis import RedisCheckpoints
from openmmo.directory import ChannelInfo, choose_channel
from openmmo.directory.memory import MemoryDirectory
from openmmo.directory.redis import RedisDirectory
from openmmo.ratelimit import TokenBucket
from openmmo.ratelimit.memory import MemoryRateLimiter
from openmmo.ratelimit.redis import RedisRateLimiter
from openmmo.sessions import ConsumeResult, RefreshRecord
from openmmo.sessions.memory import MemorySessionStore
from openmmo.sessions.redis import RedisSessionStore
from openmmo.sim.schema import CharacterState
from openmmo.testing import ManualClock


@pytest.fixture
async def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def channel(
    server_id,
    zone_id=1,
    players=0,
    *,
    ready=True,
    draining=False,
    at=None,
    max_players=100,
    ttl_s=5.0,
):
    return ChannelInfo(
        server_id,
        zone_id,
        "z",
        f"ws://{server_id}",
        players,
        max_players,
        ready,
        draining,
        time.time() if at is None else at,
        ttl_s,
    )


# --- directory ---------------------------------------------------------------------------
@pytest.fixture(params=["memory", "redis"])
def directory(request, ns):
    if request.param == "memory":
        return MemoryDirectory()
    return RedisDirectory(request.getfixturevalue("redis"), ns)


async def test_directory_lists_live_channels_in_order(directory):
    await directory.publish(channel("b", zone_id=2))
    await directory.publish(channel("a", players=3))
    listed = await directory.channels()
    assert [(c.server_id, c.players) for c in listed] == [("a", 3), ("b", 0)]
    assert listed[0] == channel("a", players=3, at=listed[0].heartbeat_at)
    await directory.publish(channel("a", players=4))  # a heartbeat replaces the entry
    assert [c.players for c in await directory.channels()] == [4, 0]
    await directory.remove("b")
    assert [c.server_id for c in await directory.channels()] == ["a"]


async def test_directory_forgets_a_channel_whose_heartbeat_stopped(directory):
    await directory.publish(channel("short", ttl_s=0.2))
    await directory.publish(channel("long", ttl_s=30))
    await asyncio.sleep(0.4)
    assert [c.server_id for c in await directory.channels()] == ["long"]


def test_choose_channel_picks_the_least_loaded_ready_one():
    channels = [
        channel("a", players=50, at=0.0),
        channel("b", players=10, at=0.0),
        channel("c", players=5, ready=False, at=0.0),
        channel("d", players=1, draining=True, at=0.0),
        channel("e", zone_id=2, at=0.0),
    ]
    assert choose_channel(channels, 1, now=0.0).server_id == "b"
    assert choose_channel(channels, 1, now=0.0, pending={"b": 45}).server_id == "a"
    assert choose_channel([channel("f", players=100, at=0.0)], 1, now=0.0) is None
    assert choose_channel(channels, 3, now=0.0) is None
    assert choose_channel([channel("g", at=0.0)], 1, now=60.0) is None


# --- sessions -----------------------------------------------------------------------------
@pytest.fixture(params=["memory", "redis"])
def sessions(request, ns):
    if request.param == "memory":
        return MemorySessionStore()
    return RedisSessionStore(request.getfixturevalue("redis"), ns)


def future(seconds=3600.0):
    return time.time() + seconds


async def test_refresh_tokens_are_single_use(sessions):
    record = RefreshRecord(1, "fam", expires_at=future())
    await sessions.put("h1", record)
    assert await sessions.consume("h1", now=time.time()) == (ConsumeResult.VALID, record)
    assert await sessions.consume("h1", now=time.time()) == (ConsumeResult.REUSED, None)


async def test_peeking_uses_nothing_and_revokes_nothing(sessions):
    record = RefreshRecord(1, "fam", expires_at=future())
    await sessions.put("h1", record)
    assert await sessions.peek("h1", time.time()) == (ConsumeResult.VALID, record)
    assert await sessions.peek("h1", time.time()) == (ConsumeResult.VALID, record)
    assert await sessions.consume("h1", time.time()) == (ConsumeResult.VALID, record)
    await sessions.put("h2", RefreshRecord(1, "fam", future()))
    assert await sessions.peek("h1", time.time()) == (ConsumeResult.REUSED, None)
    assert (await sessions.peek("h2", time.time()))[0] is ConsumeResult.VALID  # not revoked
    assert await sessions.peek("nope", time.time()) == (ConsumeResult.UNKNOWN, None)


async def test_reuse_revokes_the_family(sessions):
    await sessions.put("h1", RefreshRecord(1, "fam", future()))
    await sessions.consume("h1", time.time())
    await sessions.put("h2", RefreshRecord(1, "fam", future()))  # the rotated token
    await sessions.consume("h1", time.time())  # a thief replays the old one
    assert await sessions.consume("h2", time.time()) == (ConsumeResult.UNKNOWN, None)


async def test_expired_and_revoked_tokens_are_unknown(sessions):
    await sessions.put("h1", RefreshRecord(1, "f1", future(0.2)))
    await asyncio.sleep(0.3)
    assert await sessions.consume("h1", time.time()) == (ConsumeResult.UNKNOWN, None)
    await sessions.put("h2", RefreshRecord(7, "f2", future()))
    await sessions.revoke_account(7)
    assert await sessions.consume("h2", time.time()) == (ConsumeResult.UNKNOWN, None)
    await sessions.put("h3", RefreshRecord(8, "f3", future()))
    await sessions.revoke_family("f3")
    assert await sessions.consume("h3", time.time()) == (ConsumeResult.UNKNOWN, None)
    assert await sessions.consume("never", time.time()) == (ConsumeResult.UNKNOWN, None)


async def test_concurrent_use_of_one_token_succeeds_once(sessions):
    await sessions.put("h1", RefreshRecord(1, "fam", future()))
    results = await asyncio.gather(*(sessions.consume("h1", time.time()) for _ in range(10)))
    assert [r for r, _ in results].count(ConsumeResult.VALID) == 1


# --- rate limits --------------------------------------------------------------------------
def test_token_bucket_allows_bursts_then_the_rate():
    bucket = TokenBucket(rate_per_s=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after_s() == pytest.approx(0.5)
    assert bucket.take(0.5)
    assert not bucket.take(0.5)


@pytest.fixture(params=["memory", "redis"])
def limiter(request, ns):
    if request.param == "memory":
        return MemoryRateLimiter()
    return RedisRateLimiter(request.getfixturevalue("redis"), ns)


async def test_limiter_keeps_a_bucket_per_key(limiter):
    assert (await limiter.allow("a", 1.0, 2))[0]
    assert (await limiter.allow("a", 1.0, 2))[0]
    allowed, retry = await limiter.allow("a", 1.0, 2)
    assert not allowed and 0 < retry <= 1.0
    assert (await limiter.allow("b", 1.0, 2))[0]
    await asyncio.sleep(0.25)
    assert not (await limiter.allow("a", 1.0, 2))[0]
    fast = [(await limiter.allow("c", 20.0, 1))[0] for _ in range(2)]
    await asyncio.sleep(0.1)
    assert fast == [True, False] and (await limiter.allow("c", 20.0, 1))[0]


async def test_memory_limiter_forgets_the_oldest_keys_beyond_its_bound():
    clock = ManualClock()
    limiter = MemoryRateLimiter(clock, max_keys=2)
    await limiter.allow("a", 1.0, 1)
    await limiter.allow("b", 1.0, 1)
    await limiter.allow("c", 1.0, 1)
    assert (await limiter.allow("a", 1.0, 1))[0]  # "a" was evicted: a fresh bucket


# --- checkpoints --------------------------------------------------------------------------
@pytest.fixture(params=["memory", "redis"])
def checkpoints(request, ns):
    if request.param == "memory":
        return MemoryCheckpoints()
    return RedisCheckpoints(request.getfixturevalue("redis"), ns)


async def test_checkpoints_keep_the_latest_per_character(checkpoints):
    first = HotCheckpoint(1, 3, 10, CharacterState(1, 1.5, 2.5, 90, 2, 150, {"mana": 3}))
    other = HotCheckpoint(2, 1, 1, CharacterState(2, 0.0, 0.0, 1, 1, 0, {}))
    await checkpoints.write([first, other])
    newer = HotCheckpoint(1, 3, 11, CharacterState(1, 2.0, 2.5, 88, 2, 160, {"mana": 9}))
    await checkpoints.write([newer])
    assert await checkpoints.read(1) == newer
    assert (await checkpoints.read(2)).state.zone_id == 2
    assert await checkpoints.read(3) is None
    await checkpoints.write([])


# --- bus ----------------------------------------------------------------------------------
@pytest.fixture(params=["memory", "rabbitmq"])
async def buses(request, ns):
    """Two connections to the same bus, as two servers would have."""
    if request.param == "memory":
        bus = MemoryBus()
        yield bus, bus
        return
    url = request.getfixturevalue("rabbitmq_url")
    one, two = RabbitBus(url, ns), RabbitBus(url, ns)
    one.start()
    two.start()
    await asyncio.gather(one.wait_connected(10), two.wait_connected(10))
    yield one, two
    await one.close()
    await two.close()


async def wait_until(predicate, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_broadcasts_reach_every_server_and_sends_only_one(buses):
    one, two = buses
    got_a, got_b = [], []
    await one.subscribe("a", got_a.append)
    await two.subscribe("b", got_b.append)
    await one.broadcast(Kind.CHAT, {"message": "hi"}, "a")
    await one.send("b", Kind.KICK, {"character_id": 5}, "a")
    await wait_until(lambda: len(got_b) == 2 and len(got_a) == 1)
    assert got_a == [Envelope(Kind.CHAT, {"message": "hi"}, "a")]
    assert Envelope(Kind.KICK, {"character_id": 5}, "a") in got_b
    await one.send("nobody", Kind.KICK, {}, "a")  # no such server: dropped, no error
    await one.ping()


async def test_global_broadcasts_reach_every_server(buses):
    one, two = buses
    got_a, got_b = [], []
    await one.subscribe("a", got_a.append)
    await two.subscribe("b", got_b.append)
    await two.broadcast_global(Kind.CHAT, {"message": "hi all"}, "b")
    await wait_until(lambda: len(got_a) == 1 and len(got_b) == 1)
    assert got_a == got_b == [Envelope(Kind.CHAT, {"message": "hi all"}, "b")]


async def test_messages_to_a_player_go_where_it_is_present_and_nowhere_else(buses):
    one, two = buses
    got_a, got_b = [], []
    await one.subscribe("a", got_a.append)
    await two.subscribe("b", got_b.append)
    await two.present("b", {"Aria", "Bo"})
    whisper = {"to_name": "aria", "message": "psst"}
    assert await one.send_player("ARIA", None, Kind.WHISPER, whisper, "a")
    assert await one.send_player("aria", "local", Kind.WHISPER, whisper, "a")
    await wait_until(lambda: len(got_b) == 2)
    assert got_b == [Envelope(Kind.WHISPER, whisper, "a")] * 2 and got_a == []
    assert not await one.send_player("aria", "elsewhere", Kind.WHISPER, whisper, "a")
    assert not await one.send_player("Cy", None, Kind.WHISPER, whisper, "a")
    await two.present("b", {"Bo"})  # Aria left
    assert not await one.send_player("Aria", None, Kind.WHISPER, whisper, "a")
    assert await one.send_player("bo", None, Kind.WHISPER, whisper, "a")


async def test_servers_that_subscribe_before_the_bus_connects_all_receive(rabbitmq_url, ns):
    """Regression: `openmmo up` on RabbitMQ subscribed its two zones before the link was up
    and only the last one got a queue (global chat never reached the town)."""
    bus = RabbitBus(rabbitmq_url, ns)
    got_a, got_b = [], []
    await bus.subscribe("a", got_a.append)
    await bus.subscribe("b", got_b.append)
    await bus.wait_connected(10)
    await bus.present("a", {"Aria"})
    await bus.present("b", {"Bo"})
    await bus.broadcast(Kind.ANNOUNCE, {"message": "hi"}, "admin")
    assert await bus.send_player("aria", None, Kind.WHISPER, {"n": 1}, "x")
    assert await bus.send_player("bo", None, Kind.WHISPER, {"n": 2}, "x")
    await wait_until(lambda: len(got_a) == 2 and len(got_b) == 2)
    assert [e.payload for e in got_a] == [{"message": "hi"}, {"n": 1}]
    assert [e.payload for e in got_b] == [{"message": "hi"}, {"n": 2}]
    await bus.close()
