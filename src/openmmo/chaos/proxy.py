"""A fault-injecting TCP proxy in front of a dependency (this machine's kernel has no
``netem``): it forwards both ways and can add latency, emulate loss, or cut the link.

- ``latency_s``: every chunk, both ways, is held that long (the round trip grows by twice it).
- ``loss``: the share of chunks that are held an extra ``RETRANSMIT_S`` — what a lost TCP
  segment costs the application (the bytes are never lost: TCP retransmits them).
- ``partitioned``: nothing is forwarded and new connections are accepted but go nowhere, as
  behind a network partition (peers wait for their own timeouts; nothing is refused).
- ``latency_by_peer``: a connection from one of these addresses gets its latency instead of
  ``latency_s`` (one public address for a region, the delay by where the client is, as
  geography would have it).

Chunks of one direction are delivered in order whatever their delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket

RETRANSMIT_S = 0.2  # Linux's minimum retransmission timeout


class FaultProxy:
    def __init__(
        self,
        target_host: str,
        target_port: int,
        rng: random.Random | None = None,
        *,
        host: str = "127.0.0.1",
        latency_by_peer: dict[str, float] | None = None,
    ):
        self.target = (target_host, target_port)
        self.host = host
        self.latency_by_peer = latency_by_peer or {}
        self.latency_s = 0.0
        self.loss = 0.0
        self.partitioned = False
        self.rng = rng or random.Random()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._healed = asyncio.Event()
        self._healed.set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def set_faults(
        self, latency_s: float = 0.0, loss: float = 0.0, partitioned: bool = False
    ) -> None:
        if latency_s < 0 or not 0 <= loss <= 1:
            raise ValueError("latency_s must be >= 0 and loss within [0, 1]")
        self.latency_s, self.loss, self.partitioned = latency_s, loss, partitioned
        if partitioned:
            self._healed.clear()
        else:
            self._healed.set()

    def heal(self) -> None:
        self.set_faults()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            await self._healed.wait()  # behind a partition the connection goes nowhere
            up_reader, upstream = await asyncio.open_connection(*self.target)
            sock = upstream.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = writer.get_extra_info("peername")
            latency = self.latency_by_peer.get(peer[0]) if peer else None
            await asyncio.gather(
                self._pipe(reader, upstream, latency), self._pipe(up_reader, writer, latency)
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # closed by :meth:`close`: end quietly (asyncio's stream server calls
            # ``exception()`` on a handler task that ends cancelled, and logs what it raises)
            pass
        finally:
            self._links.discard(task)
            for w in (writer, upstream):
                if w is not None:
                    with contextlib.suppress(Exception):
                        w.close()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        latency_s: float | None = None,
    ) -> None:
        """Forward one direction: each chunk leaves ``latency`` (+ a retransmission, for the
        lost share) after it arrived, in order; nothing moves while partitioned."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            due_last = 0.0
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                due = max(due, due_last)  # in order
                due_last = due
                await asyncio.sleep(max(0.0, due - loop.time()))
                await self._healed.wait()
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                chunk = await reader.read(65536)
                delay = self.latency_s if latency_s is None else latency_s
                if chunk and self.loss and self.rng.random() < self.loss:
                    delay += RETRANSMIT_S
                await queue.put((loop.time() + delay, chunk))
                if not chunk:
                    break
            await sender
        finally:
            sender.cancel()
