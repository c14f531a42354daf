"""Server messages as typed values, and the one encoder for them.

Each message a server sends (except ``snapshot``, assembled from shared parts by
:mod:`openmmo.protocol.snapshot`) is a small frozen class whose :meth:`body` is its wire
form; :func:`encode_message` turns any of them into a frame in either encoding. The field
tables in ``docs/reference/protocol.md`` §7 describe exactly these bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from openmmo.protocol.codec import encode
from openmmo.protocol.codes import Encoding, ServerType


def _with_seq(body: dict[str, Any], seq: int | None) -> dict[str, Any]:
    if seq is not None:
        body["seq"] = seq
    return body


@dataclass(frozen=True, slots=True)
class Welcome:
    type: ClassVar[ServerType] = ServerType.WELCOME
    server_id: str
    encoding: str
    account_id: int
    zone: Mapping[str, Any]
    tick_rate_hz: float
    snapshot_rate_hz: float
    limits: Mapping[str, Any]
    game: Mapping[str, Any]
    seq: int | None = None
    protocol: int = 1

    def body(self) -> dict[str, Any]:
        return _with_seq(
            {
                "type": self.type.value,
                "protocol": self.protocol,
                "server_id": self.server_id,
                "encoding": self.encoding,
                "account_id": self.account_id,
                "zone": dict(self.zone),
                "tick_rate_hz": self.tick_rate_hz,
                "snapshot_rate_hz": self.snapshot_rate_hz,
                "limits": dict(self.limits),
                "game": dict(self.game),
            },
            self.seq,
        )


@dataclass(frozen=True, slots=True)
class Joined:
    type: ClassVar[ServerType] = ServerType.JOINED
    seq: int
    entity_id: int
    character: Mapping[str, Any]
    inventory: Mapping[str, int]
    zone: Mapping[str, Any]
    channel_id: str
    tick: int

    def body(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "seq": self.seq,
            "entity_id": self.entity_id,
            "character": dict(self.character),
            "inventory": dict(self.inventory),
            "zone": dict(self.zone),
            "channel_id": self.channel_id,
            "tick": self.tick & 0xFFFFFFFF,
        }


@dataclass(frozen=True, slots=True)
class Ack:
    type: ClassVar[ServerType] = ServerType.ACK
    seq: int
    result: Mapping[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type.value, "seq": self.seq}
        if self.result is not None:
            body["result"] = dict(self.result)
        return body


@dataclass(frozen=True, slots=True)
class Error:
    """``code`` is a core :class:`~openmmo.protocol.codes.ErrorCode` or one the game
    declared (announced in ``welcome.game.errors``)."""

    type: ClassVar[ServerType] = ServerType.ERROR
    code: str
    message: str
    seq: int | None = None

    def body(self) -> dict[str, Any]:
        return _with_seq(
            {"type": self.type.value, "code": self.code, "message": self.message}, self.seq
        )


@dataclass(frozen=True, slots=True)
class Pong:
    type: ClassVar[ServerType] = ServerType.PONG
    seq: int
    client_time: float | None
    server_time_ms: int

    def body(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "seq": self.seq,
            "client_time": self.client_time,
            "server_time_ms": self.server_time_ms,
        }


@dataclass(frozen=True, slots=True)
class EntityInfo:
    type: ClassVar[ServerType] = ServerType.ENTITY_INFO
    seq: int
    entities: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"type": self.type.value, "seq": self.seq, "entities": self.entities}


@dataclass(frozen=True, slots=True)
class Notice:
    type: ClassVar[ServerType] = ServerType.NOTICE
    code: str
    message: str

    def body(self) -> dict[str, Any]:
        return {"type": self.type.value, "code": self.code, "message": self.message}


SESSION_REPLACED_HERE = Notice("session_replaced", "this character joined from another connection")
SESSION_REPLACED_ELSEWHERE = Notice("session_replaced", "this character is now played elsewhere")
SERVER_RESTART = Notice("server_restart", "this server is restarting; reconnect via the gateway")


@dataclass(frozen=True, slots=True)
class Transfer:
    type: ClassVar[ServerType] = ServerType.TRANSFER
    zone_id: int
    channel_id: str
    ws_url: str
    ticket: str
    seq: int | None = None

    def body(self) -> dict[str, Any]:
        return _with_seq(
            {
                "type": self.type.value,
                "zone_id": self.zone_id,
                "channel_id": self.channel_id,
                "ws_url": self.ws_url,
                "ticket": self.ticket,
            },
            self.seq,
        )


@dataclass(frozen=True, slots=True)
class Inventory:
    type: ClassVar[ServerType] = ServerType.INVENTORY
    seq: int
    items: Mapping[str, int]

    def body(self) -> dict[str, Any]:
        return {"type": self.type.value, "seq": self.seq, "items": dict(self.items)}


ServerMessage = Welcome | Joined | Ack | Error | Pong | EntityInfo | Notice | Transfer | Inventory


def encode_message(message: ServerMessage, encoding: Encoding) -> bytes:
    return encode(message.body(), encoding)
