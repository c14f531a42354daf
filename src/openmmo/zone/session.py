"""One game connection: its phase, identity, sequence numbers, limits and outgoing events.

Overflow policy of the event queue: at most ``MAX_PENDING_EVENTS`` events wait for the next
snapshot; beyond that the oldest are dropped. Events (chat lines, hits) are ephemeral and a
client that falls that far behind is about to be closed as a slow consumer anyway; snapshots
themselves are full state and are simply skipped while the client's socket is backed up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Protocol

from openmmo.protocol.codes import PROTOCOL_VERSION, Encoding, Limits
from openmmo.protocol.server import ServerMessage, encode_message
from openmmo.protocol.session import Event, Phase, next_phase
from openmmo.protocol.snapshot import WireEvent
from openmmo.ratelimit import TokenBucket
from openmmo.sim.world import Actor

# An enum member costs ~0.1 µs to look up on its class (Python 3.11), these properties run
# for every client every tick: looked up once.
_MSGPACK, _PLAYING, _CLOSED = Encoding.MSGPACK, Phase.PLAYING, Phase.CLOSED

MAX_PENDING_EVENTS = 256


class Transport(Protocol):
    """What a session needs from its connection (WebSocket today, raw TCP possible)."""

    remote: str  # "host:port", for logs
    address: str  # the host part: what per-address limits count

    def send(self, data: bytes, binary: bool) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


class Session:
    __slots__ = (
        "account_id",
        "ack_seq",
        "actor",
        "backlogged_since",
        "bytes_mark",
        "bytes_out",
        "character_id",
        "chat_bucket",
        "connected_at",
        "delta_base",
        "encoding",
        "epoch",
        "error_times",
        "events",
        "last_input_at",
        "last_seq",
        "last_snapshot_at",
        "limited_times",
        "lobby_since",
        "message_bucket",
        "next_limit_notice_at",
        "next_transfer_at",
        "phase",
        "progress_version",
        "protocol",
        "queued",
        "session_id",
        "ticket_character_id",
        "traceparent",
        "transfer_id",
        "transport",
        "unacked",
        "username",
        "writable",
    )

    def __init__(
        self,
        session_id: int,
        transport: Transport,
        encoding: Encoding,
        limits: Limits,
        now: float,
        protocol: int = PROTOCOL_VERSION,
    ):
        self.session_id = session_id
        self.transport = transport
        self.encoding = encoding
        self.protocol = protocol  # 2: snapshots are deltas (openmmo.protocol.delta)
        # v2: (cell, tick) of the view this client holds; None: its next snapshot is a keyframe.
        self.delta_base: tuple[int, int] | None = None
        self.phase = Phase.AUTH
        self.connected_at = now
        self.lobby_since = now  # when the connection last entered the lobby
        self.account_id: int | None = None
        self.username = ""
        self.ticket_character_id: int | None = None
        self.character_id: int | None = None
        self.actor: Actor | None = None
        self.transfer_id: str | None = None  # the join continues this transfer
        self.traceparent: str | None = None  # the join continues this trace (its ticket's)
        self.epoch = 0  # ownership epoch of the character, fences its saves
        self.progress_version = 0  # grows with every checkpoint and save
        self.next_transfer_at = 0.0
        self.last_input_at = 0.0  # when the last move was applied (monotonic)
        self.last_seq = 0  # the highest seq received
        self.ack_seq = 0  # the highest seq processed: what snapshots acknowledge
        self.queued = False  # inputs wait in the inbox for the next tick
        self.unacked = False  # a processed input waits for a snapshot to acknowledge it
        self.events: list[WireEvent] = []
        self.last_snapshot_at = 0.0
        self.writable = True
        self.bytes_out = 0  # everything sent to this connection (the console shows its rate)
        self.bytes_mark = 0  # bytes_out at the last per-second sample (the metric)
        self.backlogged_since: float | None = None
        self.message_bucket = TokenBucket(limits.max_messages_per_s, limits.message_burst, now)
        self.chat_bucket = TokenBucket(limits.chat_per_s, limits.chat_burst, now)
        self.error_times: deque[float] = deque()
        self.limited_times: deque[float] = deque()
        self.next_limit_notice_at = 0.0

    @property
    def binary(self) -> bool:
        return self.encoding is _MSGPACK

    @property
    def playing(self) -> bool:
        return self.phase is _PLAYING

    def apply(self, event: Event) -> None:
        """Change phase as :data:`openmmo.protocol.session.TRANSITIONS` says."""
        self.phase = next_phase(self.phase, event)

    def send(self, message: ServerMessage) -> int:
        """Encode and send one message now; returns the bytes sent (0 if closed)."""
        if self.phase is _CLOSED:
            return 0
        data = encode_message(message, self.encoding)
        self.transport.send(data, self.binary)
        self.bytes_out += len(data)
        return len(data)

    def push_event(self, event: WireEvent) -> None:
        push_event_to((self,), event)

    def close(self, code: int, reason: str) -> None:
        if self.phase is not Phase.CLOSED:
            self.apply(Event.CLOSE)
            self.transport.close(code, reason)


def push_event_to(sessions: Iterable[Session], event: WireEvent) -> None:
    """:meth:`Session.push_event` for a whole audience (one loop, no call per session: a
    nearby chat line in a crowd reaches hundreds)."""
    for session in sessions:
        events = session.events
        if len(events) >= MAX_PENDING_EVENTS:
            del events[0]
        events.append(event)


def count_recent(times: deque[float], now: float, window_s: float) -> int:
    """Record one occurrence at ``now`` and return how many fell within ``window_s``."""
    times.append(now)
    horizon = now - window_s
    while times and times[0] < horizon:
        times.popleft()
    return len(times)
