"""In-process bus: delivers to the handlers of this process, synchronously."""

from __future__ import annotations

from typing import Any

from openmmo.bus import Envelope, Handler, Kind


class MemoryBus:
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    async def subscribe(self, server_id: str, handler: Handler) -> None:
        self._handlers[server_id] = handler

    async def broadcast(self, kind: Kind, payload: dict[str, Any], origin: str) -> None:
        envelope = Envelope(kind, payload, origin)
        for handler in list(self._handlers.values()):
            handler(envelope)

    async def send(self, server_id: str, kind: Kind, payload: dict[str, Any], origin: str) -> None:
        handler = self._handlers.get(server_id)
        if handler is not None:
            handler(Envelope(kind, payload, origin))

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._handlers.clear()
