"""Coming back after a drop: which closes a client resumes after, a jittered backoff, and a
client that keeps one character in play through crashes, drains and transfers.

The policy (docs/reference/protocol.md §2.7 and §13): after ``4007`` follow the ``transfer``
just received; after ``1000`` (we left), ``4003`` (banned, or a ticket that can never work)
and ``4009`` (the character is played elsewhere: resuming would take it back, and the two
would replace each other in turn) stop; after anything else — a crash (``1006``, no close
frame), a drain (``1012``), a full channel (``1013``), a timeout or a limit — ask the gateway
for a new ticket for the character's zone and join again, waiting a jittered exponential
backoff between attempts (and at least what a ``Retry-After`` asks), so that every client
of a crashed server does not come back in the same instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openmmo.client.game import ConnectionClosed, GameClient, GameError
from openmmo.client.gateway import ApiError, GatewayClient
from openmmo.protocol.codes import CloseCode, Encoding

# Closes after which a client must not come back by itself.
FINAL = frozenset(
    {int(CloseCode.NORMAL), int(CloseCode.FORBIDDEN), int(CloseCode.SESSION_REPLACED)}
)
# Gateway answers that no retry can change.
FINAL_API = frozenset({"account_banned", "character_not_found", "zone_not_found", "no_character"})


def should_resume(code: int | None) -> bool:
    """Whether a client whose connection ended with ``code`` (``None``: no close frame)
    comes back by itself."""
    return code is None or code not in FINAL


@dataclass
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniformly in
    [0, min(cap_s, base_s * 2**n)], never less than a server's ``Retry-After``."""

    base_s: float = 0.25
    cap_s: float = 8.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self, retry_after_s: float | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * 2**self.attempt)
        self.attempt += 1
        return max(self.rng.uniform(0, ceiling), retry_after_s or 0.0)

    def reset(self) -> None:
        self.attempt = 0


class GaveUp(Exception):
    """The character could not be brought back: a final close or answer, or the deadline."""


class ResumingClient:
    """One character kept in play. ``game`` is the current connection (a new
    :class:`GameClient` after every resume); ``on_resumed`` is called with it.

    A server silent for ``silence_s`` (no snapshot, while they come at 10 Hz) is taken for
    a dead link: the connection is cut and resumed like a drop.

    Counts what an operator wants to know: ``reconnects`` (resumes that made it back),
    ``out_of_play_s`` (for each, seconds from the drop to ``joined``), ``drops`` (close
    codes seen; ``None`` is a connection lost without a close frame)."""

    def __init__(
        self,
        gateway: GatewayClient,
        character_id: int,
        *,
        encoding: Encoding | str = Encoding.JSON,
        backoff: Backoff | None = None,
        give_up_after_s: float = 120.0,
        silence_s: float = 3.0,
        on_resumed: Callable[[GameClient], Any] | None = None,
    ):
        self.gateway = gateway
        self.character_id = character_id
        self.encoding = Encoding(encoding)
        self.backoff = backoff or Backoff()
        self.give_up_after_s = give_up_after_s
        self.silence_s = silence_s
        self.on_resumed = on_resumed
        self.game: GameClient | None = None
        self.reconnects = 0
        self.out_of_play_s: list[float] = []
        self.drops: list[int | None] = []
        self.grants: list[tuple[float, str]] = []  # (wall-clock time, channel_id) per ticket
        self.silences = 0  # connections cut because the server went silent
        self.stopped: str | None = None  # why it stopped resuming, once it has
        self.playing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> GameClient:
        """Join (retrying as a resume would), then watch the connection in the background."""
        self.game = await self._rejoin(time.monotonic() + self.give_up_after_s)
        self.playing.set()
        self._task = asyncio.create_task(self._watch())
        return self.game

    async def wait_playing(self, timeout_s: float = 30.0) -> GameClient:
        """The connection once the character is in play (now, or after the resume)."""
        await asyncio.wait_for(self.playing.wait(), timeout_s)
        assert self.game is not None
        return self.game

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.game is not None:
            await self.game.close()

    async def _watch(self) -> None:
        while True:
            game = self.game
            assert game is not None
            code, dropped_at = await self._until_closed_or_silent(game)
            if self._closing:
                return
            self.playing.clear()
            self.drops.append(code)
            if not should_resume(code):
                self.stopped = f"closed {code}"
                return
            try:
                self.game = await self._resume(game, code, dropped_at + self.give_up_after_s)
            except GaveUp as exc:
                self.stopped = str(exc)
                return
            self.reconnects += 1
            self.out_of_play_s.append(time.monotonic() - dropped_at)
            self.playing.set()
            if self.on_resumed is not None:
                self.on_resumed(self.game)

    async def _until_closed_or_silent(self, game: GameClient) -> tuple[int | None, float]:
        """The connection's close code, once it ends — or once the server has been silent
        for ``silence_s`` while playing (snapshots come at least 10 times a second): a link
        cut without a FIN or RST (a partition, a NAT that forgot us) looks like nothing at
        all to TCP, so the client cuts it itself and resumes. Also when it ended: the player
        has been out of play since the last message of a silent server."""
        while True:
            with contextlib.suppress(TimeoutError):
                code, _ = await game.wait_closed(timeout_s=min(1.0, self.silence_s / 2))
                return code, time.monotonic()
            if time.monotonic() - game.last_received_at > self.silence_s:
                self.silences += 1
                game.drop()
                with contextlib.suppress(TimeoutError):
                    await game.wait_closed(timeout_s=2.0)
                return None, game.last_received_at

    async def _resume(self, game: GameClient, code: int | None, deadline: float) -> GameClient:
        if code == CloseCode.TRANSFERRED:
            transfer = next((m for m in reversed(game.history) if m["type"] == "transfer"), None)
            if transfer is not None:
                self.grants.append((time.time(), transfer["channel_id"]))
                with contextlib.suppress(OSError, TimeoutError, GameError, ConnectionClosed):
                    return await game.follow(transfer)
        return await self._rejoin(deadline)

    async def _rejoin(self, deadline: float) -> GameClient:
        """New tickets from the gateway until the character is in play or ``deadline``;
        each asks to pass over the channel last lost (a crashed server stays listed until
        it has missed its heartbeats)."""
        self.backoff.reset()
        problem = "no attempt"
        while True:
            retry_after: float | None = None
            try:
                return await self._join_once()
            except ApiError as exc:
                if exc.code in FINAL_API:
                    raise GaveUp(f"gateway: {exc.code}") from exc
                if exc.status == 401:
                    with contextlib.suppress(ApiError, OSError):
                        await self.gateway.refresh()
                retry_after, problem = exc.retry_after_s, f"gateway: {exc.code}"
            except GameError as exc:
                problem = f"join: {exc.code}"
            except ConnectionClosed as exc:
                if not should_resume(exc.code):
                    raise GaveUp(f"closed {exc.code}") from exc
                problem = f"closed {exc.code}"
            except (OSError, TimeoutError) as exc:
                problem = f"connect: {type(exc).__name__}"
            except Exception as exc:  # httpx transport errors and the like
                problem = f"{type(exc).__name__}: {exc}"
            delay = self.backoff.next_delay(retry_after)
            if time.monotonic() + delay > deadline:
                raise GaveUp(f"not back in play in time ({problem})")
            await asyncio.sleep(delay)

    async def _join_once(self) -> GameClient:
        avoid = self.grants[-1][1] if self.grants else None
        grant = await self.gateway.join_character(self.character_id, avoid)
        self.grants.append((time.time(), grant["channel_id"]))
        game = await GameClient.connect(grant["ws_url"], grant["ticket"], encoding=self.encoding)
        try:
            await game.join(character_id=self.character_id)
        except BaseException:
            await game.close()
            raise
        return game
