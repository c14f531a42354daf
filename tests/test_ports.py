"""Contract tests of the small ports (directory, bus, sessions, rate limits) against every
adapter this build has."""

import pytest

from openmmo.bus import ChatMessage
from openmmo.bus.memory import MemoryBus
from openmmo.directory import ChannelInfo, choose_channel
from openmmo.directory.memory import MemoryDirectory
from openmmo.ratelimit import TokenBucket
from openmmo.ratelimit.memory import MemoryRateLimiter
from openmmo.sessions import ConsumeResult, RefreshRecord
from openmmo.sessions.memory import MemorySessionStore
from openmmo.testing import ManualClock


def channel(
    server_id, zone_id=1, players=0, *, ready=True, draining=False, at=0.0, max_players=100
):
    return ChannelInfo(
        server_id, zone_id, "z", f"ws://{server_id}", players, max_players, ready, draining, at
    )


# --- directory ---------------------------------------------------------------------------
@pytest.fixture(params=["memory"])
def directory_and_clock(request):
    clock = ManualClock(start_time_s=1000.0)
    return MemoryDirectory(clock), clock


async def test_directory_lists_live_channels_and_forgets_dead_ones(directory_and_clock):
    directory, clock = directory_and_clock
    await directory.publish(channel("a", at=1000.0))
    await directory.publish(channel("b", zone_id=2, at=1000.0))
    assert [c.server_id for c in await directory.channels()] == ["a", "b"]
    clock.advance(4)
    await directory.publish(channel("b", zone_id=2, at=clock.time()))
    clock.advance(2)  # a's heartbeat is now 6 s old, past its 5 s TTL
    assert [c.server_id for c in await directory.channels()] == ["b"]
    await directory.remove("b")
    assert await directory.channels() == []


def test_choose_channel_picks_the_least_loaded_ready_one():
    channels = [
        channel("a", players=50),
        channel("b", players=10),
        channel("c", players=5, ready=False),
        channel("d", players=1, draining=True),
        channel("e", zone_id=2),
    ]
    assert choose_channel(channels, 1, now=0.0).server_id == "b"
    assert choose_channel(channels, 1, now=0.0, pending={"b": 45}).server_id == "a"
    assert choose_channel([channel("f", players=100)], 1, now=0.0) is None
    assert choose_channel(channels, 3, now=0.0) is None
    assert choose_channel([channel("g", at=0.0)], 1, now=60.0) is None


# --- bus ----------------------------------------------------------------------------------
@pytest.fixture(params=["memory"])
def bus(request):
    return MemoryBus()


async def test_bus_delivers_to_every_subscriber_until_unsubscribed(bus):
    got_a, got_b = [], []
    stop_a = bus.subscribe_chat(got_a.append)
    bus.subscribe_chat(got_b.append)
    message = ChatMessage("global", 1, "Aria", "hi", 5, "srv")
    await bus.publish_chat(message)
    stop_a()
    await bus.publish_chat(message)
    assert got_a == [message]
    assert got_b == [message, message]


# --- sessions -----------------------------------------------------------------------------
@pytest.fixture(params=["memory"])
def sessions(request):
    return MemorySessionStore()


async def test_refresh_tokens_are_single_use(sessions):
    record = RefreshRecord(1, "fam", expires_at=100.0)
    await sessions.put("h1", record)
    assert await sessions.consume("h1", now=10.0) == (ConsumeResult.VALID, record)
    assert await sessions.consume("h1", now=11.0) == (ConsumeResult.REUSED, None)


async def test_reuse_revokes_the_family(sessions):
    await sessions.put("h1", RefreshRecord(1, "fam", 100.0))
    await sessions.consume("h1", 1.0)
    await sessions.put("h2", RefreshRecord(1, "fam", 100.0))  # the rotated token
    await sessions.consume("h1", 2.0)  # a thief replays the old one
    assert await sessions.consume("h2", 3.0) == (ConsumeResult.UNKNOWN, None)


async def test_expired_and_revoked_tokens_are_unknown(sessions):
    await sessions.put("h1", RefreshRecord(1, "f1", 50.0))
    assert await sessions.consume("h1", 60.0) == (ConsumeResult.UNKNOWN, None)
    await sessions.put("h2", RefreshRecord(7, "f2", 500.0))
    await sessions.revoke_account(7)
    assert await sessions.consume("h2", 60.0) == (ConsumeResult.UNKNOWN, None)
    assert await sessions.consume("never", 60.0) == (ConsumeResult.UNKNOWN, None)


# --- rate limits --------------------------------------------------------------------------
def test_token_bucket_allows_bursts_then_the_rate():
    bucket = TokenBucket(rate_per_s=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after_s() == pytest.approx(0.5)
    assert bucket.take(0.5)
    assert not bucket.take(0.5)


@pytest.fixture(params=["memory"])
def limiter_and_clock(request):
    clock = ManualClock()
    return MemoryRateLimiter(clock, max_keys=3), clock


async def test_limiter_keeps_a_bucket_per_key(limiter_and_clock):
    limiter, clock = limiter_and_clock
    assert (await limiter.allow("a", 1.0, 1)) == (True, 0.0)
    allowed, retry = await limiter.allow("a", 1.0, 1)
    assert not allowed and retry == pytest.approx(1.0)
    assert (await limiter.allow("b", 1.0, 1))[0]
    clock.advance(1.0)
    assert (await limiter.allow("a", 1.0, 1))[0]
