"""Builders for worlds in known states."""

from __future__ import annotations

from openmmo.sim.rules import Rules
from openmmo.sim.world import Actor, World
from openmmo.sim.zones import ZoneSpec


def empty_world(
    *,
    pvp: bool = True,
    width: float = 1000.0,
    height: float = 1000.0,
    cell_size: float = 50.0,
    rules: Rules | None = None,
    seed: int = 0,
) -> World:
    """A zone with no NPCs."""
    spec = ZoneSpec(
        zone_id=9,
        name="testzone",
        width=width,
        height=height,
        spawn_x=width / 2,
        spawn_y=height / 2,
        pvp=pvp,
        cell_size=cell_size,
    )
    return World(spec, rules, seed=seed)


def place_player(
    world: World,
    entity_id: int,
    x: float,
    y: float,
    *,
    now: float = 0.0,
    level: int = 1,
    hp: int = 0,
    xp: int = 0,
) -> Actor:
    """Add a player at (x, y); ``hp=0`` means full health."""
    return world.add_player(entity_id, f"P{entity_id}", x, y, hp, level, xp, now)
