"""Players under a fault: each keeps one character in play through
:class:`openmmo.client.ResumingClient`, walks at 10 Hz, and remembers the last position a
snapshot confirmed, so a scenario can tell how much progress a fault cost."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from openmmo.client import ApiError, GatewayClient, ResumingClient

STEP = 0.4  # units per move, 10 moves a second
MOVE_PER_S = STEP * 10
PASSWORD = "correct horse battery"
_names = itertools.count(1)
T = TypeVar("T")


@dataclass
class Player:
    name: str
    gateway: GatewayClient
    client: ResumingClient
    character_id: int
    channel: str  # where it played when the fault came (set by the scenario)
    confirmed: tuple[float, float] = (0.0, 0.0)
    mover: asyncio.Task[None] | None = None
    moves: int = 0

    def position(self) -> tuple[float, float] | None:
        game = self.client.game
        me = game.me() if game is not None and self.client.playing.is_set() else None
        return (me.x, me.y) if me is not None else None

    def lost_movement_s(self) -> float:
        """Seconds of walking between the last confirmed position and where it is now."""
        here = self.position()
        return math.nan if here is None else math.dist(self.confirmed, here) / MOVE_PER_S

    def remember(self) -> None:
        self.confirmed = self.position() or self.confirmed
        self.channel = self.client.grants[-1][1] if self.client.grants else self.channel


class Crowd:
    """``n`` players on the gateway at ``gateway_url``, joined wherever it sends them."""

    def __init__(self, gateway_url: str, prefix: str = "chaos"):
        self.gateway_url = gateway_url
        self.prefix = prefix
        self.players: list[Player] = []

    async def join(self, n: int, give_up_after_s: float = 60.0) -> list[Player]:
        async def one() -> Player:
            name = f"{self.prefix}_{next(_names)}"
            gateway = GatewayClient(self.gateway_url)
            await _retrying(lambda: gateway.register(name, PASSWORD))
            hero = await _retrying(
                lambda: gateway.create_character(name.replace("_", "").capitalize()[:16])
            )
            client = ResumingClient(gateway, hero["character_id"], give_up_after_s=give_up_after_s)
            await client.start()
            player = Player(name, gateway, client, hero["character_id"], client.grants[-1][1])
            player.mover = asyncio.create_task(_walk(player))
            return player

        joined = list(await asyncio.gather(*(one() for _ in range(n))))
        self.players.extend(joined)
        return joined

    def playing(self) -> int:
        return sum(1 for p in self.players if p.client.playing.is_set())

    def remember(self) -> None:
        for player in self.players:
            player.remember()

    async def wait_back(self, victims: list[Player], timeout_s: float) -> None:
        """Until every victim was dropped and came back (or gave up), or ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(p.client.out_of_play_s or p.client.stopped for p in victims):
                return
            await asyncio.sleep(0.05)

    async def wait_playing(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.playing() == len(self.players):
                return True
            await asyncio.sleep(0.05)
        return False

    async def close(self) -> None:
        for player in self.players:
            if player.mover is not None:
                player.mover.cancel()
        await asyncio.gather(*(p.client.close() for p in self.players), return_exceptions=True)
        await asyncio.gather(*(p.gateway.close() for p in self.players), return_exceptions=True)


async def _retrying(call: Callable[[], Awaitable[T]], attempts: int = 10) -> T:
    """``call()``, retried as a client does when the gateway asks it to wait (429 or 503,
    after ``Retry-After``) or a connection breaks under load."""
    for attempt in range(attempts):
        try:
            return await call()
        except ApiError as exc:
            if exc.status not in (429, 503) or attempt == attempts - 1:
                raise
            await asyncio.sleep(exc.retry_after_s or 1.0)
        except httpx.TransportError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


async def _walk(player: Player) -> None:
    """Walk along x, one step every 0.1 s, while in play; remember what was confirmed."""
    direction = 1.0
    while True:
        await asyncio.sleep(0.1)
        game = player.client.game
        here = player.position()
        if game is None or here is None:
            continue
        player.confirmed = here
        x = here[0] + direction * STEP
        if not 50 < x < 950:
            direction = -direction
            x = here[0] + direction * STEP
        with contextlib.suppress(Exception):  # closed under us: the resume takes over
            game.move(x, here[1])
            player.moves += 1


@dataclass
class Timeline:
    """Samples of the crowd (players in play) and the scenario's events, in seconds since
    the start."""

    started: float = field(default_factory=time.monotonic)
    samples: list[tuple[float, int]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)

    def now(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def mark(self, label: str) -> None:
        self.events.append((self.now(), label))

    async def sample(self, crowd: Crowd, every_s: float = 0.1) -> None:
        while True:
            self.samples.append((self.now(), crowd.playing()))
            await asyncio.sleep(every_s)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(v for v in values if not math.isnan(v))
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]
