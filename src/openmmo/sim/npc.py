"""NPC behaviour: wander around home, fight back when attacked, give up beyond the leash."""

from __future__ import annotations

import math

from openmmo.sim.combat import deal_damage
from openmmo.sim.movement import clamp_step
from openmmo.sim.world import Actor, NpcBrain, World


def think(world: World, npc: Actor, brain: NpcBrain, now: float, dt: float) -> None:
    """One tick of one NPC."""
    slot = npc.slot
    if world.is_dead(slot):
        return
    target = _current_target(world, brain)
    if target is None:
        _wander(world, npc, brain, now, dt)
        return
    x, y = float(world.x[slot]), float(world.y[slot])
    tx, ty = float(world.x[target.slot]), float(world.y[target.slot])
    if math.hypot(tx - x, ty - y) <= brain.kind.attack_range:
        if now >= brain.next_attack_at:
            brain.next_attack_at = now + brain.kind.attack_cooldown_s
            deal_damage(world, npc, target, brain.kind.damage, 0, now)
        return
    nx, ny, _ = clamp_step(x, y, tx, ty, brain.kind.speed * dt)
    world.x[slot], world.y[slot] = nx, ny


def _current_target(world: World, brain: NpcBrain) -> Actor | None:
    if brain.target_id is None:
        return None
    target = world.actors.get(brain.target_id)
    if target is None or world.is_dead(target.slot) or _beyond_leash(world, brain, target):
        brain.target_id = None
        brain.goal_x, brain.goal_y = brain.home_x, brain.home_y
        return None
    return target


def _beyond_leash(world: World, brain: NpcBrain, target: Actor) -> bool:
    dx = float(world.x[target.slot]) - brain.home_x
    dy = float(world.y[target.slot]) - brain.home_y
    return math.hypot(dx, dy) > world.rules.npc_leash


def _wander(world: World, npc: Actor, brain: NpcBrain, now: float, dt: float) -> None:
    if now >= brain.next_wander_at:
        radius = world.rules.npc_wander_radius
        angle = world.rng.uniform(0.0, math.tau)
        distance = world.rng.uniform(0.0, radius)
        brain.goal_x, brain.goal_y = world.spec.clamp(
            brain.home_x + math.cos(angle) * distance, brain.home_y + math.sin(angle) * distance
        )
        brain.next_wander_at = now + world.rng.uniform(3.0, 8.0)
    slot = npc.slot
    nx, ny, _ = clamp_step(
        float(world.x[slot]),
        float(world.y[slot]),
        brain.goal_x,
        brain.goal_y,
        brain.kind.speed * 0.5 * dt,
    )
    world.x[slot], world.y[slot] = nx, ny
