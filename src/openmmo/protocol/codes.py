"""Wire names, error codes, close codes and limits: the one module clients and servers share.

``docs/reference/protocol.md`` documents every name here; a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

PROTOCOL_VERSION = 1  # v1: every snapshot is the full view
PROTOCOL_DELTA = 2  # v2: snapshots are deltas against what the client holds (msgpack only)


class Encoding(StrEnum):
    """How messages are framed on a WebSocket: JSON text frames or msgpack binary frames."""

    JSON = "json"
    MSGPACK = "msgpack"

    @property
    def subprotocol(self) -> str:
        return f"openmmo.v{PROTOCOL_VERSION}.{self.value}"


@dataclass(frozen=True, slots=True)
class Wire:
    """What a connection speaks: an encoding and a protocol version."""

    encoding: Encoding
    version: int = PROTOCOL_VERSION

    @property
    def subprotocol(self) -> str:
        return f"openmmo.v{self.version}.{self.encoding.value}"


def offer(encoding: Encoding, protocol: int = PROTOCOL_VERSION) -> str:
    """A client's ``Sec-WebSocket-Protocol`` value: v2 offers v1 msgpack second, so a server
    without v2 still answers (``welcome.protocol`` tells which one was agreed)."""
    if protocol == PROTOCOL_DELTA:
        v2, v1 = Wire(Encoding.MSGPACK, PROTOCOL_DELTA), Wire(Encoding.MSGPACK)
        return f"{v2.subprotocol}, {v1.subprotocol}"
    return Wire(encoding).subprotocol


SUBPROTOCOLS: dict[str, Wire] = {
    w.subprotocol: w
    for w in (Wire(Encoding.JSON), Wire(Encoding.MSGPACK), Wire(Encoding.MSGPACK, PROTOCOL_DELTA))
}


class ClientType(StrEnum):
    """Messages a client sends."""

    AUTH = "auth"
    JOIN_GAME = "join_game"
    MOVE = "move"
    ATTACK = "attack"
    CHAT = "chat"
    PING = "ping"
    INSPECT = "inspect"
    LEAVE = "leave"
    GIVE = "give"
    INVENTORY = "inventory"
    SWITCH_CHANNEL = "switch_channel"
    USE_ITEM = "use_item"
    RESYNC = "resync"
    # Not a wire name: the kind of every message a game declares (protocol.md, extensions).
    CUSTOM = "custom"


class ServerType(StrEnum):
    """Messages a server sends."""

    WELCOME = "welcome"
    JOINED = "joined"
    SNAPSHOT = "snapshot"
    ACK = "ack"
    ERROR = "error"
    PONG = "pong"
    ENTITY_INFO = "entity_info"
    NOTICE = "notice"
    TRANSFER = "transfer"
    INVENTORY = "inventory"


class EventType(StrEnum):
    """Events carried inside a snapshot's ``events`` list."""

    CHAT = "chat"
    HIT = "hit"
    DEATH = "death"
    RESPAWN = "respawn"
    XP = "xp"
    LEVEL_UP = "level_up"
    LOOT = "loot"
    RECEIVED = "received"
    ANNOUNCE = "announce"
    STATS = "stats"


class ChatChannel(StrEnum):
    SAY = "say"  # players near the speaker (their area of interest)
    ZONE = "zone"  # everyone on this channel of the zone
    GLOBAL = "global"  # everyone on every server, through the bus
    WHISPER = "whisper"  # one player, by character name, wherever they are


class ErrorCode(StrEnum):
    """``code`` of an ``error`` message. Stable: clients branch on them."""

    BAD_MESSAGE = "bad_message"  # not decodable, not an object, or a field is missing/wrong
    UNKNOWN_TYPE = "unknown_type"
    BAD_SEQ = "bad_seq"  # seq missing, not an integer, or not greater than the last one
    UNAUTHORIZED = "unauthorized"
    NOT_AUTHENTICATED = "not_authenticated"
    ALREADY_AUTHENTICATED = "already_authenticated"
    NOT_JOINED = "not_joined"
    ALREADY_JOINED = "already_joined"
    WRONG_ZONE = "wrong_zone"
    CHARACTER_NOT_FOUND = "character_not_found"
    SERVER_FULL = "server_full"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    INVALID_TARGET = "invalid_target"
    OUT_OF_RANGE = "out_of_range"
    COOLDOWN = "cooldown"
    TARGET_DEAD = "target_dead"
    YOU_ARE_DEAD = "you_are_dead"
    UNKNOWN_SKILL = "unknown_skill"
    PVP_DISABLED = "pvp_disabled"
    CHAT_TOO_LONG = "chat_too_long"
    PLAYER_OFFLINE = "player_offline"  # whisper to a character that is not in the world
    INSUFFICIENT_ITEMS = "insufficient_items"
    CHARACTER_BUSY = "character_busy"  # still in the world on another server; retry
    NO_CHANNEL_AVAILABLE = "no_channel_available"  # no channel to transfer to right now
    TRANSFERRING = "transferring"  # the character is on its way to another server
    BANNED = "banned"
    KICKED = "kicked"  # an operator disconnected the player (the console, the admin API)
    UNAVAILABLE = "unavailable"  # a dependency (database, bus) failed; retry later
    UNKNOWN_COMMAND = "unknown_command"  # a chat command the game does not know
    INTERNAL = "internal"


class CloseCode(IntEnum):
    """WebSocket close codes (RFC 6455 section 7.4 plus our 4xxx application range)."""

    NORMAL = 1000  # the client left, or the server ended the session on request
    GOING_AWAY = 1001  # no pong to the server's pings (picows keep-alive); proxies use it too
    PROTOCOL_ERROR = 1002  # broken WebSocket framing (e.g. interleaved fragmented messages)
    POLICY_VIOLATION = 1008  # too many protocol errors
    MESSAGE_TOO_BIG = 1009  # a message larger than ``max_message_bytes``
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012  # the server is draining: reconnect through the gateway
    TRY_AGAIN_LATER = 1013  # the server is full
    UNAUTHORIZED = 4001  # missing, malformed or expired token, or a reused join ticket
    FORBIDDEN = 4003  # a ticket for another server or zone, or the account is banned
    TRANSFERRED = 4007  # moved to another server: reconnect with the ``transfer`` ticket
    AUTH_TIMEOUT = 4008  # no ``auth`` message within ``auth_timeout_s``
    SESSION_REPLACED = 4009  # the same character joined from another connection
    JOIN_TIMEOUT = 4010  # authenticated, but no character joined within ``join_timeout_s``
    TOO_MANY_CONNECTIONS = 4028  # over the connections allowed per address or per account
    RATE_LIMITED = 4029  # kept flooding after ``rate_limited`` errors
    SLOW_CONSUMER = 4030  # could not read snapshots fast enough


@dataclass(frozen=True, slots=True)
class Limits:
    """Protocol limits. Those a client must respect are announced in ``welcome``; the rest
    (how much abuse closes a connection) are documented in protocol.md."""

    max_message_bytes: int = 4096
    max_messages_per_s: float = 40.0
    message_burst: int = 80
    max_chat_chars: int = 256
    chat_per_s: float = 0.5
    chat_burst: int = 5
    auth_timeout_s: float = 5.0
    join_timeout_s: float = 30.0  # in the lobby (authenticated, no character) at most this
    max_snapshot_entities: int = 512
    max_inspect_ids: int = 64
    max_errors_before_close: int = 50  # protocol errors within ``error_window_s``
    error_window_s: float = 10.0
    max_rate_limited_before_close: int = 200  # dropped messages within ``error_window_s``
    max_connections_per_address: int = 256  # 0: no limit
    max_connections_per_account: int = 8  # 0: no limit
