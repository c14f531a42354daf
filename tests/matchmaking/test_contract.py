"""The queue contract, against the in-memory queue and the machine's Redis."""

import asyncio

import pytest
from redis.asyncio import Redis

from openmmo.matchmaking import AlreadyQueued, Assignment, QueueTicket, Status
from openmmo.matchmaking.memory import MemoryMatchQueue
from openmmo.matchmaking.redis import RedisMatchQueue

TTL = 60.0


@pytest.fixture
async def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def queue(request, ns):
    if request.param == "memory":
        return MemoryMatchQueue()
    return RedisMatchQueue(request.getfixturevalue("redis"), ns)


def ticket(n, mode="dungeon", account=None):
    return QueueTicket(f"t{n}", mode, account or n, f"p{n}", 100 + n, 1000 + n, 10, 1e9 + n)


def assignment(*members):
    return Assignment("m1", 2, "zone2-a", "ws://zone2-a/ws", tuple(members), 1e9 + 99)


async def test_waiting_tickets_are_listed_oldest_first_per_mode(queue):
    for n in (1, 2, 3):
        await queue.enqueue(ticket(n), TTL)
    await queue.enqueue(ticket(4, mode="duel"), TTL)
    assert [t.ticket_id for t in await queue.pending("dungeon")] == ["t1", "t2", "t3"]
    assert await queue.pending("dungeon") == [ticket(1), ticket(2), ticket(3)]
    assert await queue.length("dungeon") == 3 and await queue.length("duel") == 1
    assert [t.ticket_id for t in await queue.pending("dungeon", limit=2)] == ["t1", "t2"]


async def test_one_waiting_ticket_per_account(queue):
    await queue.enqueue(ticket(1, account=7), TTL)
    with pytest.raises(AlreadyQueued) as refused:
        await queue.enqueue(ticket(2, account=7), TTL)
    assert refused.value.ticket_id == "t1"
    assert await queue.finish("t1", Status.CANCELLED, TTL)
    await queue.enqueue(ticket(3, account=7), TTL)  # after cancelling, again


async def test_a_claim_matches_every_ticket_or_none(queue):
    for n in (1, 2, 3):
        await queue.enqueue(ticket(n), TTL)
    assert await queue.finish("t3", Status.CANCELLED, TTL)
    assert not await queue.claim(["t1", "t2", "t3"], assignment(101, 102, 103), TTL)
    assert await queue.length("dungeon") == 2  # nothing changed
    assert (await queue.state("t1")).status is Status.QUEUED
    assert await queue.claim(["t1", "t2"], assignment(101, 102), TTL)
    state = await queue.state("t2")
    assert state.status is Status.MATCHED and state.assignment == assignment(101, 102)
    assert state.ticket == ticket(2)
    assert await queue.length("dungeon") == 0
    assert not await queue.claim(["t1", "t2"], assignment(101, 102), TTL)  # not twice
    assert not await queue.finish("t1", Status.CANCELLED, TTL)  # matched: too late to cancel
    await queue.enqueue(ticket(5, account=1), TTL)  # a matched account may queue again


async def test_concurrent_claims_of_one_ticket_have_one_winner(queue):
    for n in (1, 2, 3):
        await queue.enqueue(ticket(n), TTL)
    results = await asyncio.gather(
        queue.claim(["t1", "t2"], assignment(101, 102), TTL),
        queue.claim(["t2", "t3"], assignment(102, 103), TTL),
    )
    assert sorted(results) == [False, True]


async def test_expired_and_unknown_tickets(queue):
    await queue.enqueue(ticket(1), TTL)
    assert await queue.finish("t1", Status.EXPIRED, TTL)
    assert (await queue.state("t1")).status is Status.EXPIRED
    assert await queue.pending("dungeon") == []
    assert await queue.state("nope") is None
    assert not await queue.finish("nope", Status.CANCELLED, TTL)


async def test_a_ticket_whose_record_lapsed_leaves_the_queue(queue):
    await queue.enqueue(ticket(1), 0.05)
    await queue.enqueue(ticket(2), TTL)
    await asyncio.sleep(0.1)
    assert [t.ticket_id for t in await queue.pending("dungeon")] == ["t2"]
    assert await queue.length("dungeon") == 1
