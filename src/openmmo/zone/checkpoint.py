"""Saving characters: staged progress, flushed in batches, kept until the database has it.

Progress is staged on leave (and for every online character each ``save_interval_s``) and
flushed in one transaction. A failed flush keeps the batch (unless newer progress for the same
character was staged meanwhile) and retries with backoff, so a database outage delays saves but
loses nothing the server still holds. A character that rejoins while its save is pending is
loaded from the staged progress, which is newer than the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from openmmo.logs import get_logger
from openmmo.metrics import SAVE_DURATION, SAVES
from openmmo.storage import CharacterProgress, Storage, StorageUnavailable

log = get_logger("openmmo.zone.checkpoint")

MAX_BACKOFF_S = 30.0


class Checkpointer:
    def __init__(self, storage: Storage, zone_label: str):
        self.storage = storage
        self.pending: dict[int, CharacterProgress] = {}
        self._label = zone_label
        self._wake = asyncio.Event()

    def stage(self, progress: CharacterProgress) -> None:
        self.pending[progress.character_id] = progress

    def request_flush(self) -> None:
        self._wake.set()

    async def flush(self) -> bool:
        """Save everything staged. False (and the batch kept) when the database failed."""
        if not self.pending:
            return True
        batch, self.pending = self.pending, {}
        started = time.perf_counter()
        try:
            await self.storage.save_progress(list(batch.values()))
        except StorageUnavailable as exc:
            for character_id, progress in batch.items():
                self.pending.setdefault(character_id, progress)
            SAVES.labels(self._label, "failed").inc(len(batch))
            log.warning("save_failed", characters=len(batch), error=str(exc)[:200])
            return False
        SAVE_DURATION.labels(self._label).observe(time.perf_counter() - started)
        SAVES.labels(self._label, "ok").inc(len(batch))
        return True

    async def run(self, interval_s: float, online: Callable[[], list[CharacterProgress]]) -> None:
        """Flush when asked and checkpoint everyone online every ``interval_s``; forever."""
        loop = asyncio.get_running_loop()
        next_full = loop.time() + interval_s
        backoff = 1.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(next_full - loop.time(), 0.0))
            self._wake.clear()
            if loop.time() >= next_full:
                for progress in online():
                    self.stage(progress)
                next_full = loop.time() + interval_s
            if await self.flush():
                backoff = 1.0
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                self._wake.set()
