"""In-process bus: delivers to the handlers of this process, synchronously. One region: a
global broadcast is a broadcast."""

from __future__ import annotations

from typing import Any

from openmmo.bus import Envelope, Handler, Kind, player_key, player_keys


class MemoryBus:
    def __init__(self, region: str = "local") -> None:
        self._region = region
        self._handlers: dict[str, Handler] = {}
        self._present: dict[str, set[str]] = {}  # server id -> its players' routing keys

    async def subscribe(self, server_id: str, handler: Handler) -> None:
        self._handlers[server_id] = handler

    async def broadcast(self, kind: Kind, payload: dict[str, Any], origin: str) -> None:
        envelope = Envelope(kind, payload, origin)
        for handler in list(self._handlers.values()):
            handler(envelope)

    async def broadcast_global(self, kind: Kind, payload: dict[str, Any], origin: str) -> None:
        await self.broadcast(kind, payload, origin)

    async def send(self, server_id: str, kind: Kind, payload: dict[str, Any], origin: str) -> None:
        handler = self._handlers.get(server_id)
        if handler is not None:
            handler(Envelope(kind, payload, origin))

    async def present(self, server_id: str, names: set[str]) -> None:
        self._present[server_id] = {k for n in names for k in player_keys(n, self._region)}

    async def send_player(
        self, name: str, region: str | None, kind: Kind, payload: dict[str, Any], origin: str
    ) -> bool:
        key = player_key(name, region)
        found = [s for s, keys in self._present.items() if key in keys and s in self._handlers]
        for server_id in found:
            self._handlers[server_id](Envelope(kind, payload, origin))
        return bool(found)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._handlers.clear()
        self._present.clear()
