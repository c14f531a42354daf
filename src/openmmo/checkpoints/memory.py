"""In-process checkpoints: they survive a zone server's restart only within one process
(`openmmo up`), which is all the embedded world needs."""

from __future__ import annotations

from openmmo.checkpoints import HotCheckpoint


class MemoryCheckpoints:
    def __init__(self) -> None:
        self._checkpoints: dict[int, HotCheckpoint] = {}

    async def write(self, checkpoints: list[HotCheckpoint]) -> None:
        for checkpoint in checkpoints:
            self._checkpoints[checkpoint.character_id] = checkpoint

    async def read(self, character_id: int) -> HotCheckpoint | None:
        return self._checkpoints.get(character_id)

    async def close(self) -> None:
        self._checkpoints.clear()
