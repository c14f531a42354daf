"""Cross-server messages: global chat, whispers, announcements, kicks, transfer hand-offs.

Kind: **port + adapters**. A zone server subscribes with its server id and then receives every
broadcast and every message sent to it; the gateway and operator tools only publish. Handlers
run on the event loop and must not block. Delivery is at most once: these messages are
ephemeral (chat) or have another path to correctness (a kick that is lost is retried by the
joining server; a hand-off only reserves a seat). The in-memory adapter connects the servers
of one process (`openmmo up`); RabbitMQ connects processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class BusUnavailable(Exception):
    """The message broker cannot be reached; the message was not sent."""


class Kind(StrEnum):
    CHAT = "chat"  # global chat line: {from, name, message, time_ms}
    WHISPER = "whisper"  # to one character: {to, from, name, message, time_ms}
    ANNOUNCE = "announce"  # operator announcement: {message}
    KICK = "kick"  # {character_id, reason}: save, release and disconnect the character
    HANDOFF = "handoff"  # {transfer_id, character_id}: a transferring player is on the way
    DRAIN = "drain"  # {drain: bool}: stop taking players and move them off (or take them again)


@dataclass(frozen=True, slots=True)
class Envelope:
    kind: Kind
    payload: dict[str, Any]
    origin: str  # server id of the sender, or "gateway"/"admin"


Handler = Callable[[Envelope], None]


class Bus(Protocol):
    async def subscribe(self, server_id: str, handler: Handler) -> None:
        """Deliver broadcasts and messages sent to ``server_id`` to ``handler``."""
        ...

    async def broadcast(self, kind: Kind, payload: dict[str, Any], origin: str) -> None: ...

    async def send(
        self, server_id: str, kind: Kind, payload: dict[str, Any], origin: str
    ) -> None: ...

    async def ping(self) -> None:
        """Raise :class:`BusUnavailable` unless connected."""
        ...

    async def close(self) -> None: ...
