"""The simulation step: ``step(world, actions, now, dt)``.

The zone server applies each client action the moment it arrives (with the same functions
:func:`apply_action` uses) so that discrete actions are answered at once, then calls
:func:`advance` once per tick. ``step`` is that sequence in one call, for tests and tools that
drive a world without a server.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from openmmo.sim.combat import apply_attack
from openmmo.sim.events import Respawn
from openmmo.sim.movement import apply_move
from openmmo.sim.npc import think
from openmmo.sim.world import FLAG_DEAD, ActionRejected, EntityKind, World
from openmmo.sim.zones import ZoneSpec


@dataclass(frozen=True, slots=True)
class MoveAction:
    entity_id: int
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class AttackAction:
    entity_id: int
    target_id: int
    skill_id: int


Action = MoveAction | AttackAction


def apply_action(world: World, action: Action, now: float) -> None:
    if isinstance(action, MoveAction):
        apply_move(world, action.entity_id, action.x, action.y, now)
    else:
        apply_attack(world, action.entity_id, action.target_id, action.skill_id, now)


def step(world: World, actions: Iterable[Action], now: float, dt: float) -> None:
    """Apply ``actions`` in order (rejected ones are skipped), then advance one tick."""
    for action in actions:
        try:
            apply_action(world, action, now)
        except ActionRejected:
            continue
    advance(world, now, dt)


def advance(world: World, now: float, dt: float) -> None:
    """One tick of everything that happens without input: respawns, regeneration, NPCs."""
    world.tick += 1
    _respawn_due(world, now)
    if now >= world.next_regen_at:
        _regenerate(world, now)
        world.next_regen_at = now + 1.0
    for actor in list(world.actors.values()):
        if actor.brain is not None:
            think(world, actor, actor.brain, now, dt)


def populate(world: World, now: float) -> None:
    """Place the zone's NPCs around their spawn points."""
    spec: ZoneSpec = world.spec
    for spawn in spec.npc_spawns:
        kind = world.rules.npc_kinds[spawn.kind]
        for _ in range(spawn.count):
            angle = world.rng.uniform(0.0, math.tau)
            distance = world.rng.uniform(0.0, spawn.radius)
            world.add_npc(
                kind,
                spawn.x + math.cos(angle) * distance,
                spawn.y + math.sin(angle) * distance,
                now,
            )


def _respawn_due(world: World, now: float) -> None:
    queue = world.respawn_queue
    while queue and queue[0][0] <= now:
        _, entity_id = heapq.heappop(queue)
        actor = world.actors.get(entity_id)
        if actor is None or actor.respawn_at is None or actor.respawn_at > now:
            continue  # left the world, or died again and has a later respawn queued
        slot = actor.slot
        actor.respawn_at = None
        if actor.kind is EntityKind.NPC and actor.brain is not None:
            x, y = actor.brain.home_x, actor.brain.home_y
        else:
            x, y = world.spec.spawn_point(world.rng)
        world.x[slot], world.y[slot] = x, y
        world.hp[slot] = world.hp_max[slot]
        world.flags[slot] &= ~np.uint8(FLAG_DEAD)
        world.emit(Respawn(entity_id, x, y, int(world.hp[slot])))


def _regenerate(world: World, now: float) -> None:
    alive = (world.flags & FLAG_DEAD) == 0
    mask = world.used & alive & (world.combat_until <= now) & (world.hp < world.hp_max)
    if mask.any():
        world.hp[mask] = np.minimum(world.hp[mask] + world.rules.regen_per_s, world.hp_max[mask])
