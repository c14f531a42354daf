"""Serving an ASGI app with uvicorn inside our own event loop and lifespan.

uvicorn is used as a library: we bind the sockets (so port 0 works and the real port is
known), we own signal handling (uvicorn's is turned off), and the server runs as a task of the
process's TaskGroup.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the process lifespan handles SIGINT/SIGTERM


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class HttpServer:
    def __init__(
        self, app: ASGIApp, sockets: list[socket.socket], forwarded_allow_ips: str = "127.0.0.1"
    ):
        self._sockets = sockets
        config = uvicorn.Config(
            app,
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
            lifespan="off",
            log_config=None,
            access_log=False,
            loop="none",
            http="httptools",
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
