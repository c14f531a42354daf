"""Cross-server messages: global chat, whispers, announcements.

Kind: **port + adapters**. A zone server publishes with :meth:`Bus.publish_chat` and receives
every message (its own included) through the handler it subscribed; handlers run on the event
loop and must not block. The in-memory adapter connects the servers of one process
(`openmmo up`); RabbitMQ connects processes (production backends).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class BusUnavailable(Exception):
    """The message broker cannot be reached; the message was not sent."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    channel: str  # "global" (zone-local channels never leave their server)
    from_id: int
    from_name: str
    message: str
    time_ms: int
    origin_server: str


ChatHandler = Callable[[ChatMessage], None]


class Bus(Protocol):
    async def publish_chat(self, message: ChatMessage) -> None: ...

    def subscribe_chat(self, handler: ChatHandler) -> Callable[[], None]:
        """Start delivering chat to ``handler``; returns the function that stops it."""
        ...

    async def close(self) -> None: ...
