"""Server-side movement validation: speed limit, world bounds, no teleports.

A client sends the position it wants to be at. The server moves the entity there if the
distance fits the entity's movement budget, otherwise as far toward it as the budget allows
(the client sees the corrected position in its next snapshot). The budget refills at
``max_speed * speed_tolerance`` per second up to ``max_speed * move_budget_s``, which tolerates
jittery arrival of moves without allowing sustained speeding or a teleport.

A tick's moves are validated together (:func:`apply_moves`): one round of numpy operations
over every player that moved, then one more round for players that sent two moves in the
tick, and so on — the same arithmetic, move by move, as :func:`apply_move` applies to one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from openmmo.sim.world import FLAG_DEAD, World


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
    """Move one player toward (x, y); True when the position was corrected. Dead players
    do not move (the move still counts as processed: it is acknowledged)."""
    slot = world.actors[entity_id].slot
    _apply(world, np.array([slot]), np.array([x], np.float64), np.array([y], np.float64), now)
    if world.is_dead(slot):
        return False
    return (float(world.x[slot]), float(world.y[slot])) != (x, y)


def apply_moves(
    world: World,
    slots: Sequence[int],
    xs: Sequence[float],
    ys: Sequence[float],
    ats: Sequence[float],
) -> npt.NDArray[np.intp]:
    """Apply moves in order (several per slot allowed); returns the slots that moved.
    ``ats`` are the moves' arrival times: the budget refills by them, as if each move had
    been applied the moment it arrived."""
    if not slots:
        return np.zeros(0, dtype=np.intp)
    f64 = np.float64
    s = np.asarray(slots, dtype=np.intp)
    x, y, at = np.asarray(xs, f64), np.asarray(ys, f64), np.asarray(ats, f64)
    if len(set(slots)) == len(slots):  # the usual tick: at most one move per player
        _apply(world, s, x, y, at)
        return s
    # Each move's round: how many moves of its slot came before it (a stable sort keeps a
    # slot's moves in arrival order; slots within a round are distinct).
    order = np.argsort(s, kind="stable")
    ordered = s[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    rank = np.empty(len(s), dtype=np.intp)
    rank[order] = np.arange(len(s)) - np.repeat(starts, np.diff(np.r_[starts, len(s)]))
    for round_ in range(int(rank.max()) + 1):
        now_round = rank == round_
        _apply(world, s[now_round], x[now_round], y[now_round], at[now_round])
    return ordered[starts]


def _apply(
    world: World,
    slots: npt.NDArray[np.intp],
    tx: npt.NDArray[np.float64],
    ty: npt.NDArray[np.float64],
    now: npt.NDArray[np.float64] | float,
) -> None:
    """One round: ``slots`` are distinct."""
    rules = world.rules
    capacity = rules.max_speed * rules.move_budget_s
    refill = np.maximum((now - world.last_move_at[slots]) * rules.max_speed, 0.0)
    budget = np.minimum(capacity, world.move_budget[slots] + refill * rules.speed_tolerance)
    world.last_move_at[slots] = now
    alive = (world.flags[slots] & FLAG_DEAD) == 0
    tx = np.clip(tx, 0.0, world.spec.width)
    ty = np.clip(ty, 0.0, world.spec.height)
    x0, y0 = world.x[slots], world.y[slots]
    dx, dy = tx - x0, ty - y0
    distance = np.hypot(dx, dy)
    over = distance > budget
    scale = np.where(over, budget / np.where(over, distance, 1.0), 1.0)
    nx = np.where(over, x0 + dx * scale, tx)
    ny = np.where(over, y0 + dy * scale, ty)
    spent = np.minimum(distance, budget)
    world.move_budget[slots] = np.where(alive, budget - spent, budget)
    moving = slots[alive]
    world.x[moving] = nx[alive]
    world.y[moving] = ny[alive]
