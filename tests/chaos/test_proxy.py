"""The fault-injecting proxy the latency and partition scenarios put in front of a
dependency: it forwards, delays, emulates loss and cuts the link, in order."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from openmmo.chaos.proxy import RETRANSMIT_S, FaultProxy


@pytest.fixture
async def echo():
    async def handle(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
async def proxy(echo):
    proxy = FaultProxy("127.0.0.1", echo, rng=random.Random(3))
    await proxy.start()
    yield proxy
    await proxy.close()


async def _round_trip(reader, writer, payload=b"ping") -> float:
    started = time.monotonic()
    writer.write(payload)
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(len(payload)), 5) == payload
    return time.monotonic() - started


async def test_it_forwards_both_ways_and_adds_the_latency_asked_for(proxy):
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    assert await _round_trip(reader, writer) < 0.1
    proxy.set_faults(latency_s=0.15)
    assert 0.3 <= await _round_trip(reader, writer) < 0.6  # each way
    proxy.heal()
    assert await _round_trip(reader, writer) < 0.1
    writer.close()


async def test_loss_holds_some_chunks_a_retransmission_and_keeps_the_order(proxy):
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    proxy.set_faults(loss=0.5)
    times = [await _round_trip(reader, writer, b"%03d" % i) for i in range(20)]
    held = [t for t in times if t >= RETRANSMIT_S]
    assert 3 <= len(held) <= 19  # some, not all (p = 0.5 each way)
    writer.write(b"".join(b"%03d" % i for i in range(50)))  # a burst arrives in order
    expected = b"".join(b"%03d" % i for i in range(50))
    assert await asyncio.wait_for(reader.readexactly(len(expected)), 10) == expected
    writer.close()


async def test_a_partition_holds_everything_until_it_heals(proxy):
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    assert await _round_trip(reader, writer) < 0.1
    proxy.set_faults(partitioned=True)
    writer.write(b"held")
    late_reader, late_writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    late_writer.write(b"new")  # accepted, but goes nowhere
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readexactly(4), 0.5)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(late_reader.readexactly(3), 0.2)
    proxy.heal()
    assert await asyncio.wait_for(reader.readexactly(4), 2) == b"held"
    assert await asyncio.wait_for(late_reader.readexactly(3), 2) == b"new"
    writer.close()
    late_writer.close()


def test_bad_faults_are_refused():
    proxy = FaultProxy("127.0.0.1", 1)
    with pytest.raises(ValueError):
        proxy.set_faults(latency_s=-1)
    with pytest.raises(ValueError):
        proxy.set_faults(loss=1.5)


async def test_the_latency_can_depend_on_where_the_client_comes_from(echo):
    proxy = FaultProxy("127.0.0.1", echo, latency_by_peer={"127.0.0.2": 0.1})
    await proxy.start()
    near = await asyncio.open_connection("127.0.0.1", proxy.port)
    far = await asyncio.open_connection("127.0.0.1", proxy.port, local_addr=("127.0.0.2", 0))
    assert await _round_trip(*near) < 0.1
    assert 0.2 <= await _round_trip(*far) < 0.5  # 0.1 s each way
    for _, writer in (near, far):
        writer.close()
    await proxy.close()
