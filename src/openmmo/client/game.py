"""A game connection: send actions, follow snapshots, measure action→ack latency.

Every action carries a sequence number. Moves are acknowledged by the ``ack`` field of a later
snapshot; attacks and chat by an immediate ``ack`` (or ``error``) message. The client records,
per action type, the time from sending to that acknowledgement (:meth:`GameClient.latencies`).

Incoming messages are kept in a bounded history, and the ``wait_*`` methods look at history
first, so a test never misses a message that arrived just before it started waiting.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from openmmo.protocol.codes import PROTOCOL_DELTA, Encoding, offer
from openmmo.protocol.delta import DeltaError, DeltaView
from openmmo.protocol.snapshot import FLAG_DEAD, entities_from_wire

HISTORY = 4096
Message = dict[str, Any]
Predicate = Callable[[Message], bool]


class GameError(Exception):
    """The server answered an action with an ``error`` message."""

    def __init__(self, message: Message):
        super().__init__(f"{message.get('code')}: {message.get('message')}")
        self.code: str = message.get("code", "")
        self.detail: Message = message


class ConnectionClosed(Exception):
    def __init__(self, code: int | None, reason: str):
        super().__init__(f"connection closed ({code}): {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EntityState:
    id: int
    x: float
    y: float
    hp: int
    hp_max: int
    kind: int
    flags: int
    level: int

    @property
    def dead(self) -> bool:
        return bool(self.flags & FLAG_DEAD)


class _Listener(WSListener):
    def __init__(self, client: GameClient):
        self.client = client

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            self.client._receive(json.loads(frame.get_payload_as_bytes()))
        elif frame.msg_type is WSMsgType.BINARY:
            self.client._receive(msgpack.unpackb(frame.get_payload_as_bytes(), raw=False))
        elif frame.msg_type is WSMsgType.CLOSE:
            self.client._closed(frame.get_close_code().value, frame.get_close_reason())

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.client._closed(None, "disconnected")


class GameClient:
    def __init__(self, encoding: Encoding, history: int = HISTORY, protocol: int = 1):
        self.encoding = encoding
        self.protocol = protocol  # offered; ``welcome.protocol`` says what was agreed
        self.view: DeltaView | None = None  # protocol v2: the view the deltas built
        self._transport: WSTransport | None = None
        self._seq = itertools.count(1)
        self.history: deque[Message] = deque(maxlen=history)
        self.events: deque[Message] = deque(maxlen=history)
        self._received = 0
        self.last_received_at = time.monotonic()  # when the server last sent anything
        self._waiters: list[tuple[Predicate, asyncio.Future[Message]]] = []
        self._pending: dict[int, tuple[str, float]] = {}  # seq -> (action type, sent at)
        self._latencies: dict[str, list[float]] = {}
        self._records: npt.NDArray[np.void] = entities_from_wire(b"")
        self._previous_ids: npt.NDArray[np.uint32] = self._records["id"]
        self._entities: dict[int, EntityState] | None = {}
        self.entity_id: int | None = None
        self.last_snapshot: Message | None = None
        self.snapshots = 0
        self.resyncs = 0  # v2 views found out of step (a server or client bug)
        self.close_code: int | None = None
        self.close_reason = ""
        self._closed_event = asyncio.Event()

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str | None = None,
        *,
        encoding: Encoding | str = Encoding.JSON,
        token_in: str = "query",
        timeout_s: float = 10.0,
        history: int = HISTORY,
        protocol: int = 1,
    ) -> GameClient:
        """Open a connection. ``token_in`` is ``query`` (``?token=``), ``header``
        (``Authorization: Bearer``) or ``message`` (an ``auth`` message after connecting).
        ``history`` bounds the messages and events kept for ``wait_*`` (bots keep few).
        ``protocol=2`` asks for delta snapshots (msgpack only), falling back to v1."""
        client = cls(Encoding(encoding), history, protocol)
        if protocol == PROTOCOL_DELTA:
            client.encoding = Encoding.MSGPACK  # v2 is msgpack only; v1 msgpack is the fallback
        headers = {"Sec-WebSocket-Protocol": offer(client.encoding, protocol)}
        if token is not None and token_in == "header":
            headers["Authorization"] = f"Bearer {token}"
        elif token is not None and token_in == "query":
            url = f"{url}{'&' if '?' in url else '?'}token={token}"
        transport, _ = await asyncio.wait_for(
            ws_connect(
                lambda: _Listener(client),
                url,
                extra_headers=headers,
                max_frame_size=16 * 1024 * 1024,
            ),
            timeout_s,
        )
        client._transport = transport
        if token is not None and token_in == "message":
            client.send({"type": "auth", "token": token})
        return client

    # --- sending --------------------------------------------------------------------------
    def send(self, message: Message) -> int:
        """Send a message now, numbering it; returns its seq."""
        if self._transport is None or self.close_code is not None:
            raise ConnectionClosed(self.close_code, self.close_reason or "not connected")
        seq = message.setdefault("seq", next(self._seq))
        self._pending[seq] = (message["type"], time.perf_counter())
        if len(self._pending) > 10_000:  # never acknowledged: forget the oldest
            del self._pending[next(iter(self._pending))]
        self.send_raw(self._encode(message), binary=self.encoding is Encoding.MSGPACK)
        return int(seq)

    def send_raw(
        self, payload: bytes, *, binary: bool, fin: bool = True, continuation: bool = False
    ) -> None:
        """Send bytes as one frame, as they are (for protocol tests): ``fin=False`` starts or
        continues a fragmented message, ``continuation=True`` sends a continuation frame."""
        assert self._transport is not None
        if continuation:
            msg_type = WSMsgType.CONTINUATION
        else:
            msg_type = WSMsgType.BINARY if binary else WSMsgType.TEXT
        self._transport.send(msg_type, payload, fin=fin)

    def send_close_frame(self, payload: bytes = b"") -> None:
        """Send a raw close frame (for protocol tests): empty means "no status code"."""
        assert self._transport is not None
        self._transport.send(WSMsgType.CLOSE, payload)

    def _encode(self, message: Message) -> bytes:
        if self.encoding is Encoding.MSGPACK:
            return msgpack.packb(message, use_bin_type=True)
        return json.dumps(message, separators=(",", ":")).encode()

    async def request(self, message: Message, timeout_s: float = 10.0) -> Message:
        """Send and wait for the reply carrying the same seq; ``error`` raises GameError."""
        seq = self.send(message)
        reply = await self.wait_for(
            lambda m: m.get("seq") == seq and m["type"] != "snapshot",
            timeout_s,
            since=self._received,
        )
        if reply["type"] == "error":
            raise GameError(reply)
        return reply

    async def join(
        self, map_id: int | None = None, character_id: int | None = None, timeout_s: float = 10.0
    ) -> Message:
        message: Message = {"type": "join_game"}
        if map_id is not None:
            message["map_id"] = map_id
        if character_id is not None:
            message["character_id"] = character_id
        if not any(m["type"] == "welcome" for m in self.history):
            await self.wait_for(lambda m: m["type"] == "welcome", timeout_s)
        joined = await self.request(message, timeout_s)
        self.entity_id = joined["entity_id"]
        return joined

    def move(self, x: float, y: float) -> int:
        return self.send({"type": "move", "x": x, "y": y})

    async def attack(self, target_id: int, skill_id: int = 1) -> Message:
        return await self.request({"type": "attack", "target_id": target_id, "skill_id": skill_id})

    async def chat(self, text: str, channel: str = "say") -> Message:
        return await self.request({"type": "chat", "message": text, "channel": channel})

    async def ping(self) -> Message:
        return await self.request({"type": "ping", "client_time": time.time()})

    async def inspect(self, ids: list[int]) -> Message:
        return await self.request({"type": "inspect", "ids": ids})

    async def whisper(self, to: str, text: str, region: str | None = None) -> Message:
        """To the character named ``to``, in ``region`` (the ``region`` of its chat events)
        or, by default, here first and then in any region."""
        message: Message = {"type": "chat", "channel": "whisper", "to": to, "message": text}
        if region is not None:
            message["region"] = region
        return await self.request(message)

    async def give(self, target_id: int, item: str, quantity: int) -> Message:
        return await self.request(
            {"type": "give", "target_id": target_id, "item": item, "quantity": quantity}
        )

    async def inventory(self) -> dict[str, int]:
        reply = await self.request({"type": "inventory"})
        return dict(reply["items"])

    async def use_item(self, item: str) -> Message:
        """Use one ``item`` of the inventory; the ``ack`` carries the game's result."""
        return await self.request({"type": "use_item", "item": item})

    async def send_game(self, message_type: str, **fields: Any) -> Message:
        """One of the game's own messages (``welcome.game.messages``); the ``ack``."""
        return await self.request({"type": message_type, **fields})

    async def command(self, line: str) -> Message:
        """A chat command such as ``/quest``; the ``ack`` carries ``result.reply``."""
        return await self.request({"type": "chat", "message": line})

    async def switch_channel(self, channel_id: str | None = None) -> Message:
        """Ask to move to another channel of this zone; returns the ``transfer`` message."""
        message: Message = {"type": "switch_channel"}
        if channel_id is not None:
            message["channel_id"] = channel_id
        return await self.request(message)

    async def follow(self, transfer: Message, timeout_s: float = 10.0) -> GameClient:
        """Connect to where a ``transfer`` message points and join there; the new client."""
        client = await GameClient.connect(
            transfer["ws_url"],
            transfer["ticket"],
            encoding=self.encoding,
            timeout_s=timeout_s,
            protocol=self.protocol,
        )
        await client.join(timeout_s=timeout_s)
        return client

    async def leave(self) -> None:
        self.send({"type": "leave"})
        await self.wait_closed()

    def drop(self) -> None:
        """Cut the TCP connection without a close frame, as a network failure does (the
        server sees the connection lost; tests and ``openmmo chaos`` use it)."""
        if self._transport is not None:
            self._transport.disconnect(graceful=False)

    async def close(self) -> None:
        if self._transport is not None and self.close_code is None:
            self._transport.send_close(WSCloseCode.OK)
            self._transport.disconnect()
            await self._transport.wait_disconnected()

    # --- receiving ------------------------------------------------------------------------
    def _receive(self, message: Message) -> None:
        now = time.perf_counter()
        self.last_received_at = time.monotonic()
        self._received += 1
        message["_n"] = self._received
        kind = message.get("type")
        if kind == "snapshot":
            self._apply_snapshot(message, now)
        elif kind == "welcome" and message.get("protocol") == PROTOCOL_DELTA:
            self.view = DeltaView()
        elif kind in (
            "ack",
            "error",
            "joined",
            "pong",
            "entity_info",
            "welcome",
            "transfer",
            "inventory",
        ):
            seq = message.get("seq")
            sent = self._pending.pop(seq, None) if seq is not None else None
            if sent is not None:
                self._latencies.setdefault(sent[0], []).append(now - sent[1])
        self.history.append(message)
        self._wake(message)

    def _apply_snapshot(self, message: Message, now: float) -> None:
        self.snapshots += 1
        self.last_snapshot = message
        # Parsed into objects only when asked for (see ``entities``): bots rarely look.
        self._previous_ids = self._records["id"]
        view = self.view
        if view is not None:
            if view.synced or message.get("full"):  # else: waiting for the asked keyframe
                try:
                    view.apply(message)
                    self._records = view.records()
                except DeltaError:
                    view.synced = False  # out of step: ask for a keyframe, wait for it
                    self.resyncs += 1
                    self.send({"type": "resync"})
        else:
            self._records = entities_from_wire(message["entities"])
        self._entities = None
        ack = message["ack"]
        for seq in [s for s, (kind, _) in self._pending.items() if kind == "move" and s <= ack]:
            kind, sent_at = self._pending.pop(seq)
            self._latencies.setdefault(kind, []).append(now - sent_at)
        for event in message["events"]:
            event["_n"] = self._received
            event["_event"] = True
            self.events.append(event)
            self._wake(event)

    def _wake(self, message: Message) -> None:
        for waiter in list(self._waiters):
            predicate, future = waiter
            if not future.done() and predicate(message):
                future.set_result(message)
                self._waiters.remove(waiter)

    def _closed(self, code: int | None, reason: str) -> None:
        if self.close_code is None and code is not None:
            self.close_code, self.close_reason = code, reason
        self._closed_event.set()
        for _predicate, future in self._waiters:
            if not future.done():
                future.set_exception(ConnectionClosed(self.close_code, self.close_reason))
        self._waiters.clear()

    def mark(self) -> int:
        """A position in the history: pass as ``since`` to wait only for newer messages."""
        return self._received

    async def wait_for(
        self, predicate: Predicate, timeout_s: float = 10.0, since: int = 0
    ) -> Message:
        """The first message (history included, newer than ``since``) matching
        ``predicate``; events inside snapshots count as messages too."""
        for message in itertools.chain(self.history, self.events):
            if message["_n"] > since and predicate(message):
                return message
        if self._closed_event.is_set():
            raise ConnectionClosed(self.close_code, self.close_reason)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        try:
            return await asyncio.wait_for(future, timeout_s)
        finally:
            if (predicate, future) in self._waiters:
                self._waiters.remove((predicate, future))

    async def wait_snapshot(
        self, predicate: Callable[[GameClient], bool] | None = None, timeout_s: float = 10.0
    ) -> Message:
        """The next snapshot after which ``predicate(self)`` holds."""
        return await self.wait_for(
            lambda m: m["type"] == "snapshot" and (predicate is None or predicate(self)),
            timeout_s,
            since=self._received,
        )

    async def wait_event(
        self, predicate: Predicate, timeout_s: float = 10.0, since: int = 0
    ) -> Message:
        """The first event (from any snapshot, history included) matching ``predicate``;
        the game's own event types count too."""
        return await self.wait_for(
            lambda m: bool(m.get("_event")) and predicate(m), timeout_s, since
        )

    async def wait_closed(self, timeout_s: float | None = 10.0) -> tuple[int | None, str]:
        await asyncio.wait_for(self._closed_event.wait(), timeout_s)
        return self.close_code, self.close_reason

    # --- measurements ---------------------------------------------------------------------
    def latencies(self) -> dict[str, list[float]]:
        """Seconds from sending each action to its acknowledgement, by action type."""
        return {kind: list(values) for kind, values in self._latencies.items()}

    @property
    def entities(self) -> dict[int, EntityState]:
        """Every entity in the last snapshot, by id."""
        if self._entities is None:
            self._entities = {int(r[0]): _entity(r) for r in self._records.tolist()}
        return self._entities

    def area_changes(self) -> tuple[set[int], set[int]]:
        """(entered, left): ids that appeared in, and vanished from, the area of interest
        between the last two snapshots."""
        now, before = set(self._records["id"].tolist()), set(self._previous_ids.tolist())
        return now - before, before - now

    def entity_ids(self) -> list[int]:
        return [int(i) for i in self._records["id"].tolist()]

    def me(self) -> EntityState | None:
        """This player's own entity in the last snapshot."""
        if self.entity_id is None:
            return None
        if self._entities is not None:
            return self._entities.get(self.entity_id)
        index = np.flatnonzero(self._records["id"] == self.entity_id)
        return _entity(self._records[int(index[0])].tolist()) if len(index) else None


def _entity(r: tuple[Any, ...]) -> EntityState:
    """An entity record (in ENTITY_FIELDS order) as an EntityState."""
    return EntityState(
        int(r[0]), float(r[1]), float(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6]), int(r[7])
    )
