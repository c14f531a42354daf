"""Zone definitions: size, spawn point, PvP, NPC spawns. The default world has two zones."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NpcSpawn:
    kind: str
    x: float
    y: float
    count: int
    radius: float


@dataclass(frozen=True, slots=True)
class Portal:
    """Stepping inside the rectangle (x0, y0)-(x1, y1) transfers the player to
    ``target_zone``, arriving at (arrival_x, arrival_y)."""

    x0: float
    y0: float
    x1: float
    y1: float
    target_zone: int
    arrival_x: float
    arrival_y: float

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    zone_id: int
    name: str
    width: float
    height: float
    spawn_x: float
    spawn_y: float
    pvp: bool
    npc_spawns: tuple[NpcSpawn, ...] = ()
    portals: tuple[Portal, ...] = ()
    # New characters and respawns appear anywhere within this radius of the spawn point, so a
    # crowd of new players does not stand on one spot.
    spawn_radius: float = 0.0
    # Side of one interest cell: a client sees its cell and the eight around it, so it sees
    # at least ``cell_size`` units in every direction.
    cell_size: float = 64.0

    def clamp(self, x: float, y: float) -> tuple[float, float]:
        return min(max(x, 0.0), self.width), min(max(y, 0.0), self.height)

    def spawn_point(self, rng: random.Random) -> tuple[float, float]:
        """A point of the spawn area (uniform over the disc)."""
        if self.spawn_radius <= 0:
            return self.spawn_x, self.spawn_y
        angle = rng.uniform(0.0, math.tau)
        distance = self.spawn_radius * math.sqrt(rng.random())
        return self.clamp(
            self.spawn_x + math.cos(angle) * distance, self.spawn_y + math.sin(angle) * distance
        )

    def portal_at(self, x: float, y: float) -> Portal | None:
        for portal in self.portals:
            if portal.contains(x, y):
                return portal
        return None


TOWN = ZoneSpec(
    zone_id=1,
    name="town",
    width=1024.0,
    height=1024.0,
    spawn_x=512.0,
    spawn_y=512.0,
    pvp=False,
    spawn_radius=300.0,
    npc_spawns=(
        NpcSpawn("rat", 560.0, 540.0, count=4, radius=15.0),
        NpcSpawn("rat", 430.0, 470.0, count=4, radius=15.0),
    ),
    portals=(
        Portal(1004.0, 492.0, 1024.0, 532.0, target_zone=2, arrival_x=40.0, arrival_y=1024.0),
    ),
)

WILDS = ZoneSpec(
    zone_id=2,
    name="wilds",
    width=2048.0,
    height=2048.0,
    spawn_x=1024.0,
    spawn_y=1024.0,
    pvp=True,
    spawn_radius=500.0,
    npc_spawns=(
        NpcSpawn("wolf", 1080.0, 1060.0, count=6, radius=25.0),
        NpcSpawn("wolf", 900.0, 1150.0, count=6, radius=25.0),
        NpcSpawn("goblin", 1300.0, 800.0, count=8, radius=30.0),
        NpcSpawn("rat", 1000.0, 990.0, count=4, radius=10.0),
    ),
    portals=(Portal(0.0, 1004.0, 20.0, 1044.0, target_zone=1, arrival_x=984.0, arrival_y=512.0),),
)

DEFAULT_ZONES: dict[int, ZoneSpec] = {z.zone_id: z for z in (TOWN, WILDS)}
