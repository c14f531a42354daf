"""Cross-server messages: global chat, whispers, announcements, kicks, transfer hand-offs.

Kind: **port + adapters**. A zone server subscribes with its server id and then receives every
broadcast and every message sent to it; the gateway and operator tools only publish.

Across regions (each region has its own broker): what is published with
:meth:`Bus.broadcast_global` and :meth:`Bus.send_player` reaches the other regions' servers
too, by the broker's own federation of two exchanges (``openmmo federation-definitions``
writes its definitions); :meth:`Bus.broadcast` and :meth:`Bus.send` stay in the region. A
server tells the bus which characters play on it (:meth:`Bus.present`): that is what routes a
whisper to a character in whatever region it plays, and what says it is not in the world.

Handlers run on the event loop and must not block. Delivery is at most once: these messages
are ephemeral (chat) or have another path to correctness (a kick that is lost is retried by
the joining server; a hand-off only reserves a seat). The in-memory adapter connects the servers
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
    CHAT = "chat"  # global chat line: {from, name, message, time_ms, region}
    # to one character: {to (its id) or to_name (+ to_region), from, name, message, time_ms,
    # region (the speaker's)}
    WHISPER = "whisper"
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


def player_keys(name: str, region: str) -> tuple[str, str]:
    """The routes to a character present on a server: by name in any region, and by name in
    its region (character names are unique within a region, not across regions)."""
    key = name.lower()
    return f"n.{key}", f"r.{region}.{key}"


def player_key(name: str, region: str | None) -> str:
    """The route a message to ``name`` (in ``region``, or in any region) takes."""
    keys = player_keys(name, region or "")
    return keys[0] if region is None else keys[1]


class Bus(Protocol):
    async def subscribe(self, server_id: str, handler: Handler) -> None:
        """Deliver broadcasts and messages sent to ``server_id`` to ``handler``."""
        ...

    async def broadcast(self, kind: Kind, payload: dict[str, Any], origin: str) -> None: ...

    async def send(
        self, server_id: str, kind: Kind, payload: dict[str, Any], origin: str
    ) -> None: ...

    async def broadcast_global(self, kind: Kind, payload: dict[str, Any], origin: str) -> None:
        """To every server of every region (this one's included)."""
        ...

    async def present(self, server_id: str, names: set[str]) -> None:
        """The characters playing on ``server_id`` now (replaces the last set)."""
        ...

    async def send_player(
        self, name: str, region: str | None, kind: Kind, payload: dict[str, Any], origin: str
    ) -> bool:
        """To the server(s) where a character of that name is present, in ``region`` or in
        any region; false when it is present nowhere."""
        ...

    async def ping(self) -> None:
        """Raise :class:`BusUnavailable` unless connected."""
        ...

    async def close(self) -> None: ...
