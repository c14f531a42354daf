"""Builders for worlds in known states."""

from __future__ import annotations

import copy

from openmmo.game.loader import load_game
from openmmo.sim.declare import Game, Rules, ZoneSpec
from openmmo.sim.world import Actor, World


def default_game(rules: Rules | None = None) -> Game:
    """The default game, with other engine rules if given (a copy: the original is shared)."""
    game = load_game()
    if rules is None:
        return game
    changed = copy.copy(game)
    changed.rules = rules
    return changed


def empty_world(
    *,
    pvp: bool = True,
    width: float = 1000.0,
    height: float = 1000.0,
    cell_size: float = 50.0,
    rules: Rules | None = None,
    seed: int = 0,
    game: Game | None = None,
) -> World:
    """A zone with no NPCs, running the default game (or ``game``)."""
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
    return World(spec, game or default_game(rules), seed=seed)


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
    cls: str | None = None,
) -> Actor:
    """Add a player at (x, y); ``hp=0`` means full health."""
    stats = None if cls is None else {"class": cls}
    return world.add_player(entity_id, f"P{entity_id}", x, y, hp, level, xp, now, stats)
