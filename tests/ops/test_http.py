"""The HTTP server every service runs: bounded headers, header time and idle keep-alive, and
X-Forwarded-For trusted only from configured proxies (issue 11, bugs 3 and 6)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from openmmo.ops.http import HttpLimits, HttpServer, bind

LIMITS = HttpLimits(max_header_bytes=4096, header_timeout_s=0.5, keep_alive_s=0.5)


async def _echo(request: Request) -> JSONResponse:
    body = await request.body()
    client = request.client.host if request.client else None
    return JSONResponse({"client": client, "body": len(body)})


APP = Starlette(routes=[Route("/", _echo, methods=["GET", "POST"])])


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., asyncio.Future[int]]]:
    servers: list[tuple[HttpServer, asyncio.Task[None]]] = []

    async def start(**kwargs: object) -> int:
        server = HttpServer(APP, [bind("127.0.0.1", 0)], **kwargs)  # type: ignore[arg-type]
        servers.append((server, asyncio.create_task(server.serve())))
        await asyncio.sleep(0.05)
        return server.ports[0]

    yield start  # type: ignore[misc]
    for server, task in servers:
        server.stop()
        await asyncio.wait_for(task, 10)


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, body


async def _closed(reader: asyncio.StreamReader, within_s: float) -> float:
    """Seconds until the server closed the connection (fails if it did not in time)."""
    start = time.monotonic()
    assert await asyncio.wait_for(reader.read(), within_s) == b""
    return time.monotonic() - start


async def test_headers_over_the_limit_get_431_and_the_connection_closed(serve):
    port = await serve(limits=LIMITS)
    reader, writer = await _connect(port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8192 + b"\r\n\r\n")
    status, headers, body = await _response(reader)
    assert status == 431
    assert headers["connection"] == "close"
    assert json.loads(body)["code"] == "headers_too_large"
    await _closed(reader, 2)
    writer.close()


async def test_a_request_within_the_limits_is_served_with_a_body_of_any_allowed_size(serve):
    """Only the request line and headers count: a body in the same packet is not a header."""
    port = await serve(limits=LIMITS)
    reader, writer = await _connect(port)
    body = b"z" * 20_000
    writer.write(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nX-Pad: " % len(body)
        + b"p" * 3000
        + b"\r\n\r\n"
        + body
    )
    status, _, answer = await _response(reader)
    assert status == 200
    assert json.loads(answer)["body"] == len(body)
    writer.close()


async def test_headers_sent_slowly_get_408_after_the_header_timeout(serve):
    """Regression: a byte every few seconds held a connection forever (slow headers)."""
    port = await serve(limits=LIMITS)
    reader, writer = await _connect(port)
    writer.write(b"GET / HTTP/1.1\r\n")
    start = time.monotonic()

    async def dribble() -> None:
        for i in range(50):
            writer.write(b"X-%d: y\r\n" % i)
            await asyncio.sleep(0.1)

    dribbler = asyncio.create_task(dribble())
    status, _, body = await _response(reader)
    dribbler.cancel()
    assert status == 408
    assert json.loads(body)["code"] == "request_timeout"
    assert 0.4 <= time.monotonic() - start < 2.0
    writer.close()


async def test_a_connection_that_never_sends_a_request_is_closed(serve):
    port = await serve(limits=LIMITS)
    reader, writer = await _connect(port)
    status, _, _ = await _response(reader)
    assert status == 408
    await _closed(reader, 2)
    writer.close()


async def test_an_idle_keep_alive_connection_is_closed_after_keep_alive_s(serve):
    port = await serve(limits=HttpLimits(header_timeout_s=30, keep_alive_s=0.5))
    reader, writer = await _connect(port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, _ = await _response(reader)
    assert status == 200
    assert 0.3 <= await _closed(reader, 3) < 2.5
    writer.close()


async def test_a_keep_alive_connection_serves_several_requests(serve):
    port = await serve(limits=LIMITS)
    reader, writer = await _connect(port)
    for _ in range(3):
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = await _response(reader)
        assert status == 200
        await asyncio.sleep(0.2)  # idle, but within keep_alive_s each time
    writer.close()


async def _client_seen(port: int, forwarded: str) -> str:
    reader, writer = await _connect(port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\n\r\n" % forwarded.encode())
    status, _, body = await _response(reader)
    writer.close()
    assert status == 200
    return str(json.loads(body)["client"])


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_configured_proxy(serve):
    """Regression (bug 6): 127.0.0.1 was trusted by default, so anyone on the host chose the
    address the per-address login limit saw."""
    untrusting = await serve(limits=LIMITS)
    assert await _client_seen(untrusting, "203.0.113.9") == "127.0.0.1"
    other_proxy = await serve(limits=LIMITS, forwarded_allow_ips="10.0.0.1")
    assert await _client_seen(other_proxy, "203.0.113.9") == "127.0.0.1"
    trusting = await serve(limits=LIMITS, forwarded_allow_ips="127.0.0.1")
    assert await _client_seen(trusting, "203.0.113.9") == "203.0.113.9"
