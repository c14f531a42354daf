"""The matchmaker's rounds: placing groups on channels with room, expiring, racing replicas."""

import asyncio

import pytest

from openmmo.directory import ChannelInfo
from openmmo.directory.memory import MemoryDirectory
from openmmo.matchmaker import Matchmaker
from openmmo.matchmaking import MatchmakingUnavailable, MatchMode, QueueTicket, Status
from openmmo.matchmaking.memory import MemoryMatchQueue
from openmmo.testing import ManualClock

TRIO = {"dungeon": MatchMode("dungeon", zone_id=2, group_size=3, max_wait_s=60)}


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def queue(clock):
    return MemoryMatchQueue(clock)


@pytest.fixture
def directory(clock):
    return MemoryDirectory(clock)


async def channel(directory, clock, server_id, players, max_players=10, zone_id=2):
    await directory.publish(
        ChannelInfo(
            server_id,
            zone_id,
            "wilds",
            f"ws://{server_id}/ws",
            players,
            max_players,
            True,
            False,
            clock.time(),
        )
    )


async def enqueue(queue, clock, n, rating=1000):
    ticket = QueueTicket(f"t{n}", "dungeon", n, f"p{n}", 100 + n, rating, 10, clock.time())
    await queue.enqueue(ticket, 600)
    return ticket


async def test_groups_go_to_the_least_loaded_channel_with_room_for_all(queue, directory, clock):
    await channel(directory, clock, "a", players=8)  # room for 2: not for a group of 3
    await channel(directory, clock, "b", players=6)
    for n in range(1, 7):
        await enqueue(queue, clock, n)
    matchmaker = Matchmaker(queue, directory, clock, TRIO)
    assert await matchmaker.run_once() == 1  # b takes one group (6 -> 9); no room for another
    states = [await queue.state(f"t{n}") for n in range(1, 7)]
    assert [s.status for s in states] == [Status.MATCHED] * 3 + [Status.QUEUED] * 3
    assert {s.assignment.server_id for s in states[:3]} == {"b"}
    assert states[0].assignment.members == (101, 102, 103)
    await channel(directory, clock, "c", players=0)
    assert await matchmaker.run_once() == 1
    assert (await queue.state("t4")).assignment.server_id == "c"


async def test_no_channel_leaves_everyone_waiting(queue, directory, clock):
    await channel(directory, clock, "town", players=0, zone_id=1)  # the wrong zone
    for n in range(1, 4):
        await enqueue(queue, clock, n)
    assert await Matchmaker(queue, directory, clock, TRIO).run_once() == 0
    assert await queue.length("dungeon") == 3


async def test_tickets_expire_after_the_longest_wait(queue, directory, clock):
    await enqueue(queue, clock, 1)
    clock.advance(61)
    await enqueue(queue, clock, 2)
    await Matchmaker(queue, directory, clock, TRIO).run_once()
    assert (await queue.state("t1")).status is Status.EXPIRED
    assert (await queue.state("t2")).status is Status.QUEUED


async def test_two_replicas_never_place_a_player_twice(queue, directory, clock):
    await channel(directory, clock, "a", players=0, max_players=100)
    for n in range(1, 10):
        await enqueue(queue, clock, n)
    replicas = [Matchmaker(queue, directory, clock, TRIO) for _ in range(2)]
    placed = await asyncio.gather(*(r.run_once() for r in replicas))
    assert sum(placed) == 3
    matches = [(await queue.state(f"t{n}")).assignment.match_id for n in range(1, 10)]
    assert all(m is not None for m in matches)
    assert sorted(matches.count(m) for m in set(matches)) == [3, 3, 3]


async def test_the_loop_survives_an_unavailable_queue(directory, clock):
    class Broken(MemoryMatchQueue):
        async def pending(self, mode, limit=1000):
            raise MatchmakingUnavailable("redis is gone")

    stop = asyncio.Event()
    matchmaker = Matchmaker(Broken(clock), directory, clock, TRIO, interval_s=0.01)
    task = asyncio.create_task(matchmaker.run(stop))
    await asyncio.sleep(0.1)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 6)
