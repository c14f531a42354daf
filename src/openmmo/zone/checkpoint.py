"""Saving characters: durable saves to the database, hot checkpoints to the checkpoint store.

Durable saves. Progress is staged on leave (with ``release``: the save also gives up
ownership), for every online character each ``save_interval_s``, and flushed in one
transaction. A failed flush keeps the batch (unless newer progress for the same character was
staged meanwhile) and retries with backoff, so a database outage delays saves but loses
nothing the server still holds. Saves are fenced by ownership epoch: a save the database
refuses means another server owns the character now, and ``on_refused`` is told so the
session can be closed. A character that rejoins while its save is staged is taken back from
the staged progress (newer than the database, and still ours); while its save is in flight,
the join waits for it (:meth:`settled`).

Hot checkpoints. Every ``checkpoint_interval_s`` the state of every online character goes to
the checkpoint store (Redis), so a crash loses at most that interval; see
:mod:`openmmo.checkpoints`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from openmmo.checkpoints import Checkpoints, CheckpointsUnavailable, HotCheckpoint
from openmmo.logs import get_logger
from openmmo.metrics import CHECKPOINTS, SAVE_DURATION, SAVES
from openmmo.storage import CharacterProgress, Storage

log = get_logger("openmmo.zone.checkpoint")

# Failed saves are retried after 1, 2, 4, then every 5 s: one cheap attempt while the
# database is away, and saves land within seconds of its return.
MAX_BACKOFF_S = 5.0


class Checkpointer:
    def __init__(
        self,
        storage: Storage,
        zone_label: str,
        server_id: str,
        checkpoints: Checkpoints | None = None,
        on_refused: Callable[[list[int]], None] | None = None,
    ):
        self.storage = storage
        self.checkpoints = checkpoints
        self.server_id = server_id
        self._pending: dict[int, CharacterProgress] = {}
        self.on_refused = on_refused or (lambda ids: None)
        self._in_flight: set[int] = set()
        self._landed = asyncio.Condition()
        self._label = zone_label
        self._wake = asyncio.Event()
        self._checkpoint_failures = 0

    def stage(self, progress: CharacterProgress) -> None:
        self._pending[progress.character_id] = progress

    def take_staged(self, character_id: int) -> CharacterProgress | None:
        """Take back a staged save that has not been flushed (a character rejoining before
        its leave was saved: the staged progress is newer than the database)."""
        return self._pending.pop(character_id, None)

    @property
    def unsaved(self) -> int:
        return len(self._pending)

    def request_flush(self) -> None:
        self._wake.set()

    async def saved(self, character_id: int, timeout_s: float) -> bool:
        """Wait until nothing of ``character_id`` is staged or in flight (its save landed);
        False if that took longer than ``timeout_s`` (the database is down: it lands later)."""
        try:
            async with asyncio.timeout(timeout_s), self._landed:
                await self._landed.wait_for(
                    lambda: (
                        character_id not in self._pending and character_id not in self._in_flight
                    )
                )
        except TimeoutError:
            return False
        return True

    def _holds(self, character_id: int) -> bool:
        return character_id in self._pending or character_id in self._in_flight

    async def settled(self, character_id: int) -> None:
        """Return once no save of ``character_id`` is in flight."""
        async with self._landed:
            await self._landed.wait_for(lambda: character_id not in self._in_flight)

    async def flush(self) -> bool:
        """Save everything staged. False (and the batch kept) when the database failed."""
        if not self._pending:
            return True
        batch, self._pending = self._pending, {}
        self._in_flight.update(batch)
        started = time.perf_counter()
        try:
            refused = await self.storage.save_progress(list(batch.values()), self.server_id)
        except Exception as exc:  # unreachable database, or any surprise: keep the batch
            for character_id, progress in batch.items():
                self._pending.setdefault(character_id, progress)
            SAVES.labels(self._label, "failed").inc(len(batch))
            log.warning("save_failed", characters=len(batch), error=str(exc)[:200])
            return False
        finally:
            self._in_flight.difference_update(batch)
            async with self._landed:
                self._landed.notify_all()
        SAVE_DURATION.labels(self._label).observe(time.perf_counter() - started)
        SAVES.labels(self._label, "ok").inc(len(batch) - len(refused))
        if refused:
            SAVES.labels(self._label, "refused").inc(len(refused))
            log.warning("save_refused_not_owner", characters=refused)
            self.on_refused(refused)
        return True

    async def run(self, interval_s: float, online: Callable[[], list[CharacterProgress]]) -> None:
        """Flush when asked and save everyone online every ``interval_s``; forever."""
        loop = asyncio.get_running_loop()
        next_full = loop.time() + interval_s
        backoff = 1.0
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that
            # arrives as the wait completes, and this loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(next_full - loop.time(), 0.0)):
                    await self._wake.wait()
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

    async def write_checkpoints(self, checkpoints: list[HotCheckpoint]) -> None:
        if self.checkpoints is None or not checkpoints:
            return
        try:
            await self.checkpoints.write(checkpoints)
        except CheckpointsUnavailable as exc:
            CHECKPOINTS.labels(self._label, "failed").inc(len(checkpoints))
            self._checkpoint_failures += 1
            if self._checkpoint_failures % 30 == 1:  # once per ~30 s of outage
                log.warning("checkpoint_failed", error=str(exc)[:200])
            return
        self._checkpoint_failures = 0
        CHECKPOINTS.labels(self._label, "ok").inc(len(checkpoints))

    async def run_checkpoints(
        self, interval_s: float, online: Callable[[], list[HotCheckpoint]]
    ) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.write_checkpoints(online())
