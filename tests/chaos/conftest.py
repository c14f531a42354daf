"""A small world under play for the chaos scenarios: a gateway and two channels of the town
as separate processes on the machine's PostgreSQL, Redis and RabbitMQ, and players that
move at 10 Hz through :class:`openmmo.client.ResumingClient` (they come back by themselves)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from dataclasses import dataclass, field

import pytest

from openmmo.client import GatewayClient, ResumingClient
from openmmo.testing.cluster import Cluster
from openmmo.testing.services import (
    RABBITMQ_URL,
    REDIS_URL,
    create_database,
    drop_database,
    namespace,
)

pytestmark = pytest.mark.e2e

_names = itertools.count(1)
STEP = 0.4  # units per move, 10 moves a second: 4 units of movement per second


@dataclass
class Player:
    gateway: GatewayClient
    client: ResumingClient
    character_id: int
    channel: str  # where it played when the fault came
    confirmed: tuple[float, float] = (0.0, 0.0)  # the last position a snapshot confirmed
    mover: asyncio.Task[None] | None = None
    returned_at: list[tuple[float, float]] = field(default_factory=list)

    def position(self) -> tuple[float, float] | None:
        game = self.client.game
        me = game.me() if game is not None and self.client.playing.is_set() else None
        return (me.x, me.y) if me is not None else None


async def _move(player: Player) -> None:
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


@pytest.fixture
def cluster(tmp_path):
    database = create_database()
    world = Cluster(
        tmp_path,
        database_url=database,
        redis_url=REDIS_URL,
        rabbitmq_url=RABBITMQ_URL,
        namespace=namespace(),
        zones=[1, 1],
        env={"AUTH_RATE_PER_IP": "500", "AUTH_BURST_PER_IP": "1000"},
    )
    try:
        world.start()
        yield world
    finally:
        world.stop_all()
        drop_database(database)


@pytest.fixture
async def crowd(cluster):
    made: list[Player] = []

    async def make(n: int) -> list[Player]:
        async def one() -> Player:
            k = next(_names)
            gateway = GatewayClient(cluster.gateway_url)
            await gateway.register(f"chaos_{k}", "correct horse battery")
            hero = await gateway.create_character(f"Chaos{k}")
            client = ResumingClient(gateway, hero["character_id"], give_up_after_s=30)
            await client.start()
            player = Player(gateway, client, hero["character_id"], client.grants[-1][1])
            player.mover = asyncio.create_task(_move(player))
            return player

        players = await asyncio.gather(*(one() for _ in range(n)))
        made.extend(players)
        return list(players)

    yield make
    for player in made:
        if player.mover is not None:
            player.mover.cancel()
        await player.client.close()
        await player.gateway.close()


async def wait_back(victims: list[Player], timeout_s: float) -> None:
    """Until every victim has been dropped and came back (or gave up), or ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(p.client.out_of_play_s or p.client.stopped for p in victims):
            return
        await asyncio.sleep(0.05)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]


def report(name: str, **figures: object) -> None:
    """Print a scenario's figures (pytest -s shows them; docs/reliability.md quotes them)."""
    shown = ", ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
    )
    print(f"\n[chaos] {name}: {shown}")
