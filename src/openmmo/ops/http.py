"""Serving an ASGI app with uvicorn inside our own event loop and lifespan.

uvicorn is used as a library: we bind the sockets (so port 0 works and the real port is
known), we own signal handling (uvicorn's is turned off), and the server runs as a task of the
process's TaskGroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from openmmo.logs import get_logger
from openmmo.metrics import HTTP_REJECTED

log = get_logger("openmmo.http")


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one client connection may cost before it has said what it wants.

    ``max_header_bytes`` bounds the request line plus headers (``431``), ``header_timeout_s``
    the time from the connection (or the first byte of a keep-alive request) to the end of
    the headers (``408``), ``keep_alive_s`` how long an idle connection stays open."""

    max_header_bytes: int = 16 * 1024
    header_timeout_s: float = 10.0
    keep_alive_s: float = 5.0


class _BoundedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on header size and header time.

    httptools (llhttp) accepts headers of any size and uvicorn stops every timer once a
    byte arrives, so a client could hold megabytes per connection, or a connection forever
    by sending a byte every few seconds. Both are answered here, before any ASGI code runs,
    with the API's error body and ``Connection: close``."""

    limits = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self.timeout_keep_alive = self.limits.keep_alive_s  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()  # a connection that never sends a request is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        if self._header_timer is None:
            self._arm_header_timer()

    # Once answered (431), the rest of what the parser still holds is ignored: the connection
    # is closing and no request may start on it.

    def on_url(self, url: bytes) -> None:
        if self._count(len(url)):
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._count(len(name) + len(value) + 4):  # ": " and CRLF
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        if not self.transport.is_closing():
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.cycle is not None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self.cycle is not None:
            super().on_message_complete()

    def _count(self, n: int) -> bool:
        """Adds ``n`` header bytes; False once the request is (or was) refused."""
        if self.transport.is_closing():
            return False
        self._header_bytes += n
        if self._header_bytes <= self.limits.max_header_bytes:
            return True
        self._reject(
            431,
            "Request Header Fields Too Large",
            "headers_too_large",
            f"request line and headers are limited to {self.limits.max_header_bytes} bytes",
        )
        return False

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(
            self.limits.header_timeout_s, self._header_timeout
        )

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered; it is not waiting for headers
        self._reject(
            408,
            "Request Timeout",
            "request_timeout",
            f"the request headers did not arrive within {self.limits.header_timeout_s:g}s",
        )

    def _reject(self, status: int, phrase: str, code: str, message: str) -> None:
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        HTTP_REJECTED.labels(code).inc()
        log.debug("http_request_rejected", status=status, code=code, client=client)
        body = json.dumps({"code": code, "message": message}).encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, phrase.encode(), len(body), body)
        )
        self.transport.close()


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the process lifespan handles SIGINT/SIGTERM


def bind(host: str, port: int, reuse_port: bool = False, listen: bool = True) -> socket.socket:
    """A listening socket; with ``reuse_port``, one of several processes' on the same port
    (the kernel spreads the connections across them). Without ``listen`` it only holds the
    port and takes no connections (see openmmo.workers)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    if listen:
        sock.listen(1024)
    sock.setblocking(False)
    return sock


class HttpServer:
    def __init__(
        self,
        app: ASGIApp,
        sockets: list[socket.socket],
        forwarded_allow_ips: str = "",
        limits: HttpLimits | None = None,
    ):
        self._sockets = sockets
        protocol = type("BoundedProtocol", (_BoundedProtocol,), {"limits": limits or HttpLimits()})
        config = uvicorn.Config(
            app,
            proxy_headers=bool(forwarded_allow_ips),
            forwarded_allow_ips=forwarded_allow_ips or None,
            lifespan="off",
            log_config=None,
            access_log=False,
            loop="none",
            http=protocol,
            ws="none",
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=5,
            limit_concurrency=None,
        )
        self._server = _EmbeddedServer(config)

    @property
    def ports(self) -> list[int]:
        return [s.getsockname()[1] for s in self._sockets]

    async def serve(self) -> None:
        """Run until :meth:`stop`; closes the sockets when done."""
        try:
            await self._server.serve(sockets=self._sockets)
        finally:
            for sock in self._sockets:
                sock.close()

    def stop(self) -> None:
        self._server.should_exit = True
