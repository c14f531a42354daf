"""WebSocket transport on picows: upgrade negotiation, message assembly, flow control.

picows was chosen by measurement (docs/topics/performance.md): it costs about a third of the
CPU per message of the ``websockets`` library. It hands us frames, not messages, so this
module reassembles fragmented messages, enforcing ``max_message_bytes`` on the whole message
(close 1009), and answers a close frame with a close frame (RFC 6455 section 5.5.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from picows import (
    WSCloseCode,
    WSFrame,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)

from openmmo.protocol.codes import SUBPROTOCOLS, CloseCode, Encoding, Wire
from openmmo.zone.fastpath import FastGameListener
from openmmo.zone.spectate import SPECTATE_PATH, SpectatorListener

if TYPE_CHECKING:
    from openmmo.zone.runtime import ZoneRuntime
    from openmmo.zone.session import Session, Transport

GAME_PATH = "/ws"


# After our close frame, how long the peer has to answer with its own before the TCP
# connection is closed anyway (RFC 6455 section 7.1.1: the server waits for the close).
CLOSE_WAIT_S = 2.0

# The kernel's send buffer of a game connection. Left to autotuning it grows to 4 MiB on
# Linux, which a client that stops reading fills before the server notices it at all (the
# slow-consumer timer starts when writes back up): 256 KiB is ten seconds of the busiest
# crowd's snapshots, and bounds what each stalled client costs.
SEND_BUFFER_BYTES = 256 * 1024

_BINARY, _TEXT = WSMsgType.BINARY, WSMsgType.TEXT  # looked up once: send runs per snapshot


class WsTransport:
    """:class:`openmmo.zone.session.Transport` over a picows connection.

    Closing sends the close frame and keeps reading (and discarding) until the peer's close
    frame arrives or ``CLOSE_WAIT_S`` passes, then closes the TCP connection. Closing at once
    would, with unread input in the socket (a client that flooded), make the kernel answer
    with a reset that throws away what was still to be sent — the replies owed and the close
    frame itself: the client saw 1006 instead of the documented code."""

    __slots__ = ("_ws", "address", "remote")

    def __init__(self, ws: WSTransport):
        self._ws = ws
        peer = ws.underlying_transport.get_extra_info("peername")
        self.address = str(peer[0]) if peer else "unknown"
        self.remote = f"{peer[0]}:{peer[1]}" if peer else "unknown"

    def send(self, data: bytes, binary: bool) -> None:
        self._ws.send(_BINARY if binary else _TEXT, data)

    def close(self, code: int, reason: str) -> None:
        if self._ws.is_close_frame_sent:
            return
        # picows accepts any int here; its stub only lists the RFC 6455 codes.
        self._ws.send_close(code, reason.encode()[:120])  # type: ignore[arg-type]
        asyncio.get_running_loop().call_later(CLOSE_WAIT_S, self._ws.disconnect, True)

    async def round_trip_s(self) -> float:
        """One WebSocket ping's round trip (the player's network latency)."""
        (rtt,) = await self._ws.measure_roundtrip_time(1)
        return rtt


class GameListener(FastGameListener):
    """Feeds one connection's messages to the zone's sessions.

    The compiled base (:mod:`openmmo.zone.fastpath`) reads moves of a msgpack session itself
    and hands every other frame to :meth:`on_frame`; without it every frame comes here."""

    def __init__(self, runtime: ZoneRuntime, wire: Wire, token: str | None):
        self._sessions = runtime.sessions
        self._wire = wire
        self._token = token
        self._max_bytes = runtime.config.limits.max_message_bytes
        self.parts = []  # a fragmented message's frames so far (the compiled base reads it)
        self._parts_binary = False
        self._parts_size = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        sock = transport.underlying_transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        self.attach(WsTransport(transport))

    def attach(self, transport: Transport) -> None:
        """The connection is open: its session starts (tests attach a recording transport)."""
        self.session = self._sessions.connect(transport, self._wire, self._token)
        if self._wire.encoding is Encoding.MSGPACK:
            self.moves = self._sessions.moves  # None: the compiled path is off or not built

    def on_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        session: Session | None = self.session
        if session is None:
            return
        msg_type = frame.msg_type
        if msg_type is WSMsgType.TEXT or msg_type is WSMsgType.BINARY:
            if self.parts:  # RFC 6455 5.4: no new message inside a fragmented one
                self.parts = []
                session.close(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one")
            elif frame.fin:
                self._sessions.on_message(
                    session, frame.get_payload_as_bytes(), msg_type is WSMsgType.BINARY
                )
            else:
                self.parts = [frame.get_payload_as_bytes()]
                self._parts_binary = msg_type is WSMsgType.BINARY
                self._parts_size = frame.payload_size
        elif msg_type is WSMsgType.CONTINUATION:
            self._continue(session, frame)
        elif msg_type is WSMsgType.CLOSE:
            # RFC 6455 5.5.1: answer a close with a close (unless ours went first), echoing
            # the code; a close without a code is answered without one.
            if not transport.is_close_frame_sent:
                code = frame.get_close_code()
                if code is WSCloseCode.NO_INFO:  # picows would write code 0, which is invalid
                    transport.send(WSMsgType.CLOSE, b"")
                else:
                    transport.send_close(code)
            transport.disconnect()

    def _continue(self, session: Session, frame: WSFrame) -> None:
        if not self.parts:
            session.close(CloseCode.POLICY_VIOLATION, "continuation frame without a message")
            return
        self._parts_size += frame.payload_size
        if self._parts_size > self._max_bytes:
            self.parts = []
            session.close(
                CloseCode.MESSAGE_TOO_BIG, f"messages are limited to {self._max_bytes} bytes"
            )
            return
        self.parts.append(frame.get_payload_as_bytes())
        if frame.fin:
            payload = b"".join(self.parts)
            self.parts = []
            self._sessions.on_message(session, payload, self._parts_binary)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.session is not None:
            self._sessions.disconnect(self.session)

    def pause_writing(self) -> None:
        if self.session is not None:
            self._sessions.set_writable(self.session, False)

    def resume_writing(self) -> None:
        if self.session is not None:
            self._sessions.set_writable(self.session, True)


def negotiate(request: WSUpgradeRequest) -> tuple[Wire | None, str | None, str | None]:
    """(wire, token, problem) from the upgrade request.

    The encoding and protocol version come from ``Sec-WebSocket-Protocol`` (first supported
    entry), else from ``?encoding=`` (protocol v1), else JSON v1. The token from
    ``Authorization: Bearer``, else ``?token=``.
    """
    _, _, query = request.path.decode("latin-1").partition("?")
    params = parse_qs(query)
    offered = request.headers.get("Sec-WebSocket-Protocol")
    wire: Wire | None = Wire(Encoding.JSON)
    if offered:
        names = [p.strip() for p in offered.split(",")]
        wire = next((SUBPROTOCOLS[n] for n in names if n in SUBPROTOCOLS), None)
        if wire is None:
            return None, None, "unsupported subprotocol; supported: " + ", ".join(SUBPROTOCOLS)
    elif "encoding" in params:
        try:
            wire = Wire(Encoding(params["encoding"][0]))
        except ValueError:
            return None, None, "encoding must be json or msgpack"
    token = None
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        token = value.strip()
    elif params.get("token"):
        token = params["token"][0]
    return wire, token, None


def listener_factory(
    runtime: ZoneRuntime,
) -> Callable[[WSUpgradeRequest], WSUpgradeResponseWithListener]:
    def factory(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
        path = request.path.decode("latin-1").partition("?")[0]
        if path == SPECTATE_PATH:
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_101_response(), SpectatorListener(runtime.spectators)
            )
        if path != GAME_PATH:
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_error_response(404, b"the game endpoint is /ws\n"), None
            )
        wire, token, problem = negotiate(request)
        if wire is None:
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_error_response(400, (problem or "").encode() + b"\n"), None
            )
        headers = {}
        if request.headers.get("Sec-WebSocket-Protocol"):
            headers["Sec-WebSocket-Protocol"] = wire.subprotocol
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_101_response(extra_headers=headers),
            GameListener(runtime, wire, token),
        )

    return factory
