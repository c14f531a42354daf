"""In-process directory: for the embedded world (`openmmo up`) and tests."""

from __future__ import annotations

from openmmo.clock import SYSTEM_CLOCK, Clock
from openmmo.directory import ChannelInfo


class MemoryDirectory:
    def __init__(self, clock: Clock = SYSTEM_CLOCK):
        self._clock = clock
        self._channels: dict[str, ChannelInfo] = {}

    async def publish(self, info: ChannelInfo) -> None:
        self._channels[info.server_id] = info

    async def remove(self, server_id: str) -> None:
        self._channels.pop(server_id, None)

    async def channels(self) -> list[ChannelInfo]:
        now = self._clock.time()
        for server_id in [s for s, c in self._channels.items() if not c.alive(now)]:
            del self._channels[server_id]
        return sorted(self._channels.values(), key=lambda c: (c.zone_id, c.server_id))

    async def close(self) -> None:
        self._channels.clear()
