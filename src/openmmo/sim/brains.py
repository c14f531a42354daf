"""Built-in NPC brains, written against the facade only (as a game's own brains are).

* :class:`Wanderer` — strolls around its home; fights back when hurt; gives up beyond its
  leash.
* :class:`Aggressive` — a wanderer that also attacks the nearest player it sees.
* :class:`Skittish` — a wanderer that runs from its attacker once badly hurt.

Per-NPC memory lives in ``npc.state`` (a goal point and when to pick the next one).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from openmmo.sim.declare import Brain

if TYPE_CHECKING:
    from openmmo.sim.facade import Entity, Npc, Zone


class Wanderer(Brain):
    def __init__(
        self, radius: float = 20.0, leash: float = 40.0, pause_s: tuple[float, float] = (3.0, 8.0)
    ):
        self.radius = radius
        self.leash = leash
        self.pause_s = pause_s

    def think(self, zone: Zone, npc: Npc, dt: float) -> None:
        target = self.current_target(zone, npc)
        if target is None:
            self.wander(zone, npc)
        else:
            self.fight(zone, npc, target)

    def current_target(self, zone: Zone, npc: Npc) -> Entity | None:
        """The NPC's target while it is alive, here and within the leash; else none (and
        the NPC heads home)."""
        target = npc.target
        if target is None:
            return None
        if not target.alive or target.distance_to(npc.home) > self.leash:
            npc.target = None
            npc.state["goal"] = npc.home
            return None
        return target

    def fight(self, zone: Zone, npc: Npc, target: Entity) -> None:
        if npc.distance_to(target) <= npc.npc_kind.attack_range:
            npc.attack(target)
        else:
            npc.move_toward(*target.position)

    def wander(self, zone: Zone, npc: Npc) -> None:
        state = npc.state
        if zone.now >= state.get("next_wander_at", 0.0):
            angle = zone.rng.uniform(0.0, math.tau)
            distance = zone.rng.uniform(0.0, self.radius)
            hx, hy = npc.home
            state["goal"] = zone.spec.clamp(
                hx + math.cos(angle) * distance, hy + math.sin(angle) * distance
            )
            state["next_wander_at"] = zone.now + zone.rng.uniform(*self.pause_s)
        goal = state.get("goal", npc.home)
        npc.move_toward(goal[0], goal[1], speed_factor=0.5)


class Aggressive(Wanderer):
    """Attacks the nearest living player within ``sight`` of it (and of its home's leash)."""

    def __init__(self, sight: float = 12.0, radius: float = 20.0, leash: float = 40.0):
        super().__init__(radius, leash)
        self.sight = sight

    def think(self, zone: Zone, npc: Npc, dt: float) -> None:
        if npc.target is None and zone.tick % 5 == npc.id % 5:  # look around 4 times a second
            seen = [p for p in zone.players_near(npc.x, npc.y, self.sight) if p.alive]
            if seen:
                npc.target = seen[0]
        super().think(zone, npc, dt)


class Skittish(Wanderer):
    """Fights back, but below ``flee_below`` of its HP it runs away from its attacker."""

    def __init__(self, flee_below: float = 0.4, radius: float = 20.0, leash: float = 40.0):
        super().__init__(radius, leash)
        self.flee_below = flee_below

    def fight(self, zone: Zone, npc: Npc, target: Entity) -> None:
        if npc.hp >= npc.hp_max * self.flee_below:
            super().fight(zone, npc, target)
            return
        tx, ty = target.position
        dx, dy = npc.x - tx, npc.y - ty
        length = math.hypot(dx, dy) or 1.0
        npc.move_toward(npc.x + dx / length * 10.0, npc.y + dy / length * 10.0)
