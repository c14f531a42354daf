"""Hot checkpoints: the last second of every online character's progress, off the database.

Kind: **port + adapters**. A zone server writes checkpoints every ``CHECKPOINT_INTERVAL_S``
(default 1 s) and durable saves to the database far less often. When a server dies, the next
owner of a character loads the database row and takes the checkpoint instead if it is newer
and was written by the previous owner (same epoch), so a crash loses at most the last second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from openmmo.sim.schema import CharacterState


class CheckpointsUnavailable(Exception):
    """The checkpoint store cannot be reached; durable saves still happen."""


@dataclass(frozen=True, slots=True)
class HotCheckpoint:
    character_id: int
    epoch: int  # ownership epoch of the server that wrote it
    version: int  # progress version: higher is newer
    state: CharacterState


class Checkpoints(Protocol):
    async def write(self, checkpoints: list[HotCheckpoint]) -> None: ...

    async def read(self, character_id: int) -> HotCheckpoint | None: ...

    async def close(self) -> None: ...
