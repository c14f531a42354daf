"""Client messages: validation of decoded frames into typed values.

A decoded frame (a ``dict`` from either encoding) becomes one of the frozen message classes
below, or :class:`ProtocolError` names what is wrong. Validation is hand-written rather than
model-driven because it runs for every move of every player (see docs/topics/performance.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from openmmo.protocol.codes import ChatChannel, ClientType, ErrorCode

MAX_SEQ = 2**32 - 1
MAX_ID = 2**32 - 1
MAX_TOKEN_CHARS = 4096
MAX_QUANTITY = 1_000_000
MAX_ITEM_CHARS = 32
MAX_NAME_CHARS = 16
_REGION = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")  # as REGIONS' names


class ProtocolError(Exception):
    """A client message broke the protocol. ``seq`` is the message's seq when it had one."""

    def __init__(self, code: ErrorCode, message: str, seq: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.seq = seq


@dataclass(frozen=True, slots=True)
class Auth:
    kind: ClassVar[ClientType] = ClientType.AUTH
    seq: int
    token: str


@dataclass(frozen=True, slots=True)
class JoinGame:
    kind: ClassVar[ClientType] = ClientType.JOIN_GAME
    seq: int
    map_id: int | None
    character_id: int | None


@dataclass(frozen=True, slots=True)
class Move:
    kind: ClassVar[ClientType] = ClientType.MOVE
    seq: int
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Attack:
    kind: ClassVar[ClientType] = ClientType.ATTACK
    seq: int
    target_id: int
    skill_id: int


@dataclass(frozen=True, slots=True)
class Chat:
    kind: ClassVar[ClientType] = ClientType.CHAT
    seq: int
    channel: ChatChannel
    message: str
    to: str | None = None  # the character name of a whisper
    region: str | None = None  # the region the whisper's recipient plays in (None: any)


@dataclass(frozen=True, slots=True)
class Ping:
    kind: ClassVar[ClientType] = ClientType.PING
    seq: int
    client_time: float | None


@dataclass(frozen=True, slots=True)
class Resync:
    """Protocol v2: send me my whole view (a keyframe) with the next snapshot."""

    kind: ClassVar[ClientType] = ClientType.RESYNC
    seq: int


@dataclass(frozen=True, slots=True)
class Inspect:
    kind: ClassVar[ClientType] = ClientType.INSPECT
    seq: int
    ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Give:
    kind: ClassVar[ClientType] = ClientType.GIVE
    seq: int
    target_id: int
    item: str
    quantity: int


@dataclass(frozen=True, slots=True)
class InventoryRequest:
    kind: ClassVar[ClientType] = ClientType.INVENTORY
    seq: int


@dataclass(frozen=True, slots=True)
class SwitchChannel:
    kind: ClassVar[ClientType] = ClientType.SWITCH_CHANNEL
    seq: int
    channel_id: str | None


@dataclass(frozen=True, slots=True)
class Leave:
    kind: ClassVar[ClientType] = ClientType.LEAVE
    seq: int


@dataclass(frozen=True, slots=True)
class UseItem:
    kind: ClassVar[ClientType] = ClientType.USE_ITEM
    seq: int
    item: str


@dataclass(frozen=True, slots=True)
class Custom:
    """A message the game declared (protocol.md, extensions): ``name`` and its checked data."""

    kind: ClassVar[ClientType] = ClientType.CUSTOM
    seq: int
    name: str
    data: dict[str, Any]


class Extension(Protocol):
    """A game's declaration of a custom message (:class:`openmmo.game.Message`)."""

    def parse(self, body: Mapping[str, Any]) -> dict[str, Any]: ...


ClientMessage = (
    Auth
    | JoinGame
    | Move
    | Attack
    | Chat
    | Ping
    | Resync
    | Inspect
    | Leave
    | Give
    | InventoryRequest
    | SwitchChannel
    | UseItem
    | Custom
)

NO_EXTENSIONS: Mapping[str, Extension] = {}


def parse_client_message(
    obj: Any, *, max_inspect_ids: int = 64, extensions: Mapping[str, Extension] = NO_EXTENSIONS
) -> ClientMessage:
    """Validate one decoded client message. Unknown fields are ignored (forward compatible).
    ``extensions`` are the game's custom messages, by type."""
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "a message must be an object")
    kind = obj.get("type")
    seq = _seq(obj)
    if kind == "move":  # the hot path first
        return Move(seq, _coordinate(obj, "x", seq), _coordinate(obj, "y", seq))
    if kind == "attack":
        return Attack(seq, _int(obj, "target_id", seq), _int(obj, "skill_id", seq))
    if kind == "chat":
        channel = _channel(obj, seq)
        to = region = None
        if channel is ChatChannel.WHISPER:
            to = _str(obj, "to", seq)
            if not 0 < len(to) <= MAX_NAME_CHARS:
                raise _bad(seq, "a whisper needs 'to': a character name")
            if obj.get("region") is not None:
                region = _str(obj, "region", seq)
                if not _REGION.fullmatch(region):
                    raise _bad(seq, "'region' must be a region name (a-z, 0-9, '-')")
        return Chat(seq, channel, _str(obj, "message", seq), to, region)
    if kind == "ping":
        client_time = obj.get("client_time")
        if client_time is not None and not _is_finite_number(client_time):
            raise _bad(seq, "client_time must be a number")
        return Ping(seq, None if client_time is None else float(client_time))
    if kind == "resync":
        return Resync(seq)
    if kind == "join_game":
        return JoinGame(
            seq, _optional_int(obj, "map_id", seq), _optional_int(obj, "character_id", seq)
        )
    if kind == "auth":
        token = _str(obj, "token", seq)
        if len(token) > MAX_TOKEN_CHARS:
            raise _bad(seq, "token is too long")
        return Auth(seq, token)
    if kind == "inspect":
        return Inspect(seq, _ids(obj, seq, max_inspect_ids))
    if kind == "leave":
        return Leave(seq)
    if kind == "give":
        quantity = _int(obj, "quantity", seq)
        item = _str(obj, "item", seq)
        if not 0 < quantity <= MAX_QUANTITY or not 0 < len(item) <= MAX_ITEM_CHARS:
            raise _bad(seq, f"give needs an item name and a quantity of 1..{MAX_QUANTITY}")
        return Give(seq, _int(obj, "target_id", seq), item, quantity)
    if kind == "inventory":
        return InventoryRequest(seq)
    if kind == "use_item":
        item = _str(obj, "item", seq)
        if not 0 < len(item) <= MAX_ITEM_CHARS:
            raise _bad(seq, f"field 'item' must be an item name of 1..{MAX_ITEM_CHARS} characters")
        return UseItem(seq, item)
    if kind == "switch_channel":
        channel_id: Any = obj.get("channel_id")
        if channel_id is not None and (not isinstance(channel_id, str) or len(channel_id) > 128):
            raise _bad(seq, "field 'channel_id' must be a string")
        return SwitchChannel(seq, channel_id)
    if not isinstance(kind, str):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "field 'type' must be a string", seq)
    extension = extensions.get(kind)
    if extension is not None:
        try:
            return Custom(seq, kind, extension.parse(obj))
        except ValueError as exc:
            raise _bad(seq, f"{kind}: {exc}") from None
    names = [t.value for t in ClientType if t is not ClientType.CUSTOM]
    known = ", ".join([*names, *extensions])
    raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown type {kind[:40]!r} (known: {known})", seq)


def _seq(obj: dict[str, Any]) -> int:
    seq = obj.get("seq")
    if type(seq) is not int or not 0 < seq <= MAX_SEQ:
        raise ProtocolError(ErrorCode.BAD_SEQ, "field 'seq' must be an integer in 1..2^32-1")
    return seq


def _bad(seq: int, message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_MESSAGE, message, seq)


def _is_finite_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _coordinate(obj: dict[str, Any], name: str, seq: int) -> float:
    value: Any = obj.get(name)
    if not _is_finite_number(value):
        raise _bad(seq, f"field {name!r} must be a finite number")
    return float(value)


def _int(obj: dict[str, Any], name: str, seq: int) -> int:
    value = obj.get(name)
    if type(value) is not int or not 0 <= value <= MAX_ID:
        raise _bad(seq, f"field {name!r} must be an integer in 0..2^32-1")
    return value


def _optional_int(obj: dict[str, Any], name: str, seq: int) -> int | None:
    return None if obj.get(name) is None else _int(obj, name, seq)


def _str(obj: dict[str, Any], name: str, seq: int) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise _bad(seq, f"field {name!r} must be a string")
    return value


def _channel(obj: dict[str, Any], seq: int) -> ChatChannel:
    value: Any = obj.get("channel")
    if value is None:
        return ChatChannel.SAY
    try:
        return ChatChannel(value)
    except ValueError:
        names = ", ".join(c.value for c in ChatChannel)
        raise _bad(seq, f"field 'channel' must be one of: {names}") from None


def _ids(obj: dict[str, Any], seq: int, max_ids: int) -> tuple[int, ...]:
    ids = obj.get("ids")
    if not isinstance(ids, list) or len(ids) > max_ids:
        raise _bad(seq, f"field 'ids' must be a list of at most {max_ids} ids")
    if not all(type(i) is int and 0 <= i <= MAX_ID for i in ids):
        raise _bad(seq, "field 'ids' must hold integers in 0..2^32-1")
    return tuple(ids)
