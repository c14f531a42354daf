"""The spectator socket (``/spectate``): a live, read-only view of a whole zone server for
the web console, for admins only.

Its cost to the zone is bounded whatever the number of players: at most
:data:`MAX_SPECTATORS` sockets, one ``world`` frame every :data:`SPECTATE_INTERVAL_S` built
once and sent to all of them (it reuses the tick's packed entity records, the bytes the
snapshots are cut from), at most :data:`MAX_SPECTATE_RECORDS` entities in it, skipped for a
spectator that is not reading, and a rate limit on what a spectator may ask. The format is
in docs/reference/protocol.md §16.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import msgpack
from picows import WSFrame, WSListener, WSMsgType, WSTransport

from openmmo.auth.tokens import TokenError
from openmmo.logs import get_logger
from openmmo.protocol.codes import CloseCode
from openmmo.protocol.snapshot import ENTITY_RECORD_BYTES
from openmmo.ratelimit import TokenBucket
from openmmo.sim.world import EntityKind
from openmmo.storage import StorageUnavailable

if TYPE_CHECKING:
    from openmmo.zone.runtime import ZoneRuntime
    from openmmo.zone.transport import WsTransport

log = get_logger("openmmo.zone")

SPECTATE_PATH = "/spectate"
MAX_SPECTATORS = 4
SPECTATE_INTERVAL_S = 0.25  # four world frames a second
MAX_SPECTATE_RECORDS = 10_000  # 200 KB a frame at most
AUTH_TIMEOUT_S = 5.0
MESSAGES_PER_S, MESSAGE_BURST = 5.0, 10  # what a spectator may ask (inspect)
MAX_MESSAGE_BYTES = 1024
RTT_TIMEOUT_S = 1.0


class Spectator:
    __slots__ = ("account_id", "authed", "bucket", "connected_at", "marks", "transport", "writable")

    def __init__(self, transport: WsTransport, now: float):
        self.transport = transport
        self.connected_at = now
        self.authed = False
        self.account_id: int | None = None
        self.writable = True
        self.bucket = TokenBucket(MESSAGES_PER_S, MESSAGE_BURST, now)
        # entity id -> (time, bytes sent to it) at the last inspect: its bytes/s since then
        self.marks: dict[int, tuple[float, int]] = {}

    def send(self, message: dict[str, Any]) -> None:
        self.transport.send(msgpack.packb(message), True)


class Spectators:
    def __init__(self, runtime: ZoneRuntime):
        self.rt = runtime
        self.all: set[Spectator] = set()
        self.frames_sent = 0
        self._next_at = 0.0

    # --- connections ------------------------------------------------------------------------
    def connect(self, transport: WsTransport) -> Spectator | None:
        now = self.rt.clock.monotonic()
        spectator = Spectator(transport, now)
        if len(self.all) >= MAX_SPECTATORS:
            spectator.send(_error("too_many_spectators", f"at most {MAX_SPECTATORS} at a time"))
            transport.close(CloseCode.RATE_LIMITED, "too many spectators")
            return None
        self.all.add(spectator)
        return spectator

    def disconnect(self, spectator: Spectator) -> None:
        self.all.discard(spectator)

    def close(self, spectator: Spectator, code: int, reason: str) -> None:
        self.all.discard(spectator)
        spectator.transport.close(code, reason)

    def on_message(self, spectator: Spectator, payload: bytes, binary: bool) -> None:
        if spectator not in self.all:
            return
        if not spectator.bucket.take(self.rt.clock.monotonic()):
            spectator.send(_error("rate_limited", f"at most {MESSAGES_PER_S:g} messages/s"))
            self.close(spectator, CloseCode.RATE_LIMITED, "too many messages")
            return
        try:
            message = msgpack.unpackb(payload) if binary else _json(payload)
        except Exception:
            spectator.send(_error("bad_message", "not a msgpack (binary) or JSON (text) map"))
            return
        kind = message.get("type") if isinstance(message, dict) else None
        seq = message.get("seq") if isinstance(message, dict) else None
        if not spectator.authed:
            token = message.get("token") if kind == "auth" else None
            if not isinstance(token, str):
                spectator.send(_error("not_authenticated", "send auth with an admin's token"))
                self.close(spectator, CloseCode.AUTH_TIMEOUT, "not authenticated")
                return
            self.rt.spawn(self._authenticate(spectator, token))
        elif kind == "inspect" and isinstance(message.get("id"), int):
            self.rt.spawn(self._inspect(spectator, message["id"], seq))
        else:
            spectator.send(_error("bad_message", "expected inspect with an integer id", seq))

    async def _authenticate(self, spectator: Spectator, token: str) -> None:
        rt = self.rt
        try:
            claims = rt.tokens.verify_access(token)
            account = await rt.storage.account_by_id(claims.account_id)
        except TokenError as exc:
            spectator.send(_error("unauthorized", str(exc)))
            self.close(spectator, CloseCode.UNAUTHORIZED, "unauthorized")
            return
        except StorageUnavailable:
            spectator.send(_error("unavailable", "the account store is unavailable; retry"))
            self.close(spectator, CloseCode.TRY_AGAIN_LATER, "unavailable")
            return
        if account is None or not account.admin or account.banned:
            spectator.send(_error("forbidden", "the spectator socket is for admins"))
            self.close(spectator, CloseCode.FORBIDDEN, "forbidden")
            return
        if spectator not in self.all:
            return  # gone while we looked
        spectator.authed = True
        spectator.account_id = account.account_id
        log.info("spectator_joined", zone=rt.spec.name, account=account.username)
        spectator.send(
            {
                "type": "welcome",
                "server_id": rt.config.server_id,
                "zone": rt.zone_info(),
                "rate_hz": round(1 / SPECTATE_INTERVAL_S, 3),
                "max_entities": MAX_SPECTATE_RECORDS,
            }
        )

    # --- the tick ---------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """After the tick's snapshots: a world frame to every spectator, when one is due."""
        if not self.all:
            return
        deadline = self.rt.clock.monotonic() - AUTH_TIMEOUT_S
        for spectator in [s for s in self.all if not s.authed and s.connected_at < deadline]:
            spectator.send(_error("not_authenticated", f"no auth within {AUTH_TIMEOUT_S:g}s"))
            self.close(spectator, CloseCode.AUTH_TIMEOUT, "not authenticated")
        if now < self._next_at:
            return
        watching = [s for s in self.all if s.authed and s.writable]
        view = self.rt.replicator.last_view
        if not watching or view is None:
            return
        self._next_at = now + SPECTATE_INTERVAL_S
        world = self.rt.play.world
        frame = msgpack.packb(
            {
                "type": "world",
                "tick": world.tick,
                "time_ms": int(self.rt.clock.time() * 1000),
                "players": len(self.rt.sessions.players),
                "entities": view.blob[: MAX_SPECTATE_RECORDS * ENTITY_RECORD_BYTES],
            }
        )
        for spectator in watching:
            spectator.transport.send(frame, True)
        self.frames_sent += 1

    # --- inspect ----------------------------------------------------------------------------
    async def _inspect(self, spectator: Spectator, entity_id: int, seq: Any) -> None:
        rt = self.rt
        world = rt.play.world
        actor = world.actors.get(entity_id)
        if actor is None:
            spectator.send(_error("not_found", f"no entity {entity_id} here", seq))
            return
        slot = actor.slot
        info: dict[str, Any] = {
            "type": "entity",
            "id": entity_id,
            "kind": int(actor.kind),
            "name": actor.name,
            "level": int(world.level[slot]),
            "hp": int(world.hp[slot]),
            "hp_max": int(world.hp_max[slot]),
            "x": round(float(world.x[slot]), 2),
            "y": round(float(world.y[slot]), 2),
            "zone": rt.spec.name,
            "zone_id": rt.spec.zone_id,
            "channel_id": rt.config.server_id,
        }
        if seq is not None:
            info["seq"] = seq
        session = rt.sessions.players.get(entity_id)
        if actor.kind is EntityKind.PLAYER and session is not None:
            now = rt.clock.monotonic()
            since, sent = spectator.marks.get(entity_id, (session.connected_at, 0))
            spectator.marks = {entity_id: (now, session.bytes_out)}  # one mark: bounded
            info["bytes_per_s"] = round((session.bytes_out - sent) / max(now - since, 1e-3))
            info["character_id"] = session.character_id
            info["latency_ms"] = await _round_trip_ms(session.transport)
        if spectator in self.all:
            spectator.send(info)


class SpectatorListener(WSListener):
    def __init__(self, spectators: Spectators):
        self._spectators = spectators
        self._spectator: Spectator | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        from openmmo.zone.transport import WsTransport

        self._spectator = self._spectators.connect(WsTransport(transport))

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        spectator = self._spectator
        if frame.msg_type is WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif spectator is not None and frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            if not frame.fin or frame.payload_size > MAX_MESSAGE_BYTES:
                self._spectators.close(spectator, CloseCode.MESSAGE_TOO_BIG, "message too big")
                return
            self._spectators.on_message(
                spectator, frame.get_payload_as_bytes(), frame.msg_type is WSMsgType.BINARY
            )

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._spectator is not None:
            self._spectators.disconnect(self._spectator)

    def pause_writing(self) -> None:
        if self._spectator is not None:
            self._spectator.writable = False

    def resume_writing(self) -> None:
        if self._spectator is not None:
            self._spectator.writable = True


async def _round_trip_ms(transport: Any) -> float | None:
    """The player's network round trip, by a WebSocket ping (None if it does not answer)."""
    measure = getattr(transport, "round_trip_s", None)
    if measure is None:
        return None
    with contextlib.suppress(Exception):
        async with asyncio.timeout(RTT_TIMEOUT_S):
            rtt: float = await measure()
            return round(rtt * 1000, 1)
    return None


def _error(code: str, message: str, seq: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if seq is not None:
        error["seq"] = seq
    return error


def _json(payload: bytes) -> Any:
    import json

    return json.loads(payload)
