"""Server-side movement validation: speed limit, world bounds, no teleports.

A client sends the position it wants to be at. The server moves the entity there if the
distance fits the entity's movement budget, otherwise as far toward it as the budget allows
(the client sees the corrected position in its next snapshot). The budget refills at
``max_speed * speed_tolerance`` per second up to ``max_speed * move_budget_s``, which tolerates
jittery arrival of moves without allowing sustained speeding or a teleport.
"""

from __future__ import annotations

import math

from openmmo.sim.world import World


def clamp_step(
    x0: float, y0: float, x1: float, y1: float, budget: float
) -> tuple[float, float, float]:
    """Move from (x0, y0) toward (x1, y1) by at most ``budget``: ``(x, y, distance)``."""
    dx, dy = x1 - x0, y1 - y0
    distance = math.hypot(dx, dy)
    if distance <= budget:
        return x1, y1, distance
    scale = budget / distance
    return x0 + dx * scale, y0 + dy * scale, budget


def apply_move(world: World, entity_id: int, x: float, y: float, now: float) -> bool:
    """Move a player toward (x, y). Returns True when the position was corrected.

    Dead players do not move; the move still counts as processed (it is acknowledged).
    """
    actor = world.actors[entity_id]
    slot = actor.slot
    rules = world.rules
    capacity = rules.max_speed * rules.move_budget_s
    refill = (now - actor.last_move_at) * rules.max_speed * rules.speed_tolerance
    actor.move_budget = min(capacity, actor.move_budget + max(refill, 0.0))
    actor.last_move_at = now
    if world.is_dead(slot):
        return False
    tx, ty = world.spec.clamp(x, y)
    nx, ny, spent = clamp_step(
        float(world.x[slot]), float(world.y[slot]), tx, ty, actor.move_budget
    )
    actor.move_budget -= spent
    world.x[slot] = nx
    world.y[slot] = ny
    return nx != x or ny != y
