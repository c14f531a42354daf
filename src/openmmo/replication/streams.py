"""Per-cell replicated views for protocol v2: what clients in a cell hold, tick by tick.

How it works. Every client standing in the same interest cell is sent the same view, so the
view is kept per cell, not per client: a *stream* is the state (:data:`STATE_DTYPE`) that a
client in cell C holds after its snapshot at tick T, written S(C, T). A client that was sent
S(C', L) gets the difference S(C', L) → S(C, T); clients in the same cell with the same base
share that encoded part, so the CPU grows with cells and distinct bases, not with viewers.
States are kept for ``history_ticks``; a client whose base is older (or who has none) gets a
keyframe.

S(C, T) is built from S(C, T') (the stream's previous state) and the true view of the 3x3
cells around C, so that it can lag the truth on purpose:

- *hysteresis*: an entity already in the view stays while it is within ``margin`` units of
  the 3x3 block; a new one comes in only inside it — no flicker at the edge;
- *rings*: an entity within ``near_radius`` of the cell's centre (Chebyshev distance) is
  refreshed every tick it changes; the others at most ``far_every`` ticks apart;
- *budget*: the changes of a tick are paid from ``budget_per_tick`` bytes (times the ticks
  since the stream's previous state), in order of a priority that grows each tick a change
  waits (by the entity's ring weight); what does not fit waits, and leaves are free. So a
  crowd degrades to older positions far away instead of more bytes.

With rings and budget off (``far_every=1``, ``budget_per_tick=0``) every state is the true
view, quantized.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openmmo.protocol.delta import (
    COST_ENTER,
    COST_MOVE,
    COST_PLACE,
    COST_UPDATE,
    EMPTY_STATE,
    MAX_QUANTIZED,
    SMALL_STEP,
    STATE_DTYPE,
    DeltaPart,
    diff,
    keyframe,
    quantum_for,
    state_key,
)
from openmmo.replication.interest import InterestGrid
from openmmo.sim.declare import MAX_WIRE_HP
from openmmo.sim.world import World

Base = tuple[int, int]  # (cell, tick) of the state a client holds

MAX_CATCH_UP_TICKS = 4  # a stream idle for longer gets at most this many ticks of budget


@dataclass(frozen=True, slots=True)
class Relevance:
    max_entities: int = 512
    near_radius: float = 64.0
    far_every: int = 1  # ticks between refreshes of a far entity (1: every tick)
    budget_per_tick: int = 0  # bytes of changes per stream per tick (0: no budget)
    margin: float = 0.0  # hysteresis at the edge of the view, in world units

    @property
    def lags(self) -> bool:
        """Whether a state may differ from the true view (rings or budget are on)."""
        return self.far_every > 1 or self.budget_per_tick > 0


class _Stream:
    __slots__ = ("pending_keys", "pending_priority", "state", "tick")

    def __init__(self, tick: int, state: npt.NDArray[np.void]):
        self.tick = tick
        self.state = state
        self.pending_keys: npt.NDArray[np.uint64] = np.zeros(0, dtype=np.uint64)
        self.pending_priority: npt.NDArray[np.float64] = np.zeros(0)


class DeltaStreams:
    def __init__(self, grid: InterestGrid, world: World, relevance: Relevance, history_ticks: int):
        self.grid = grid
        self.relevance = relevance
        self.history_ticks = max(1, history_ticks)
        self.quantum = quantum_for(world.spec.width, world.spec.height)
        self.tick = -1
        self._streams: dict[int, _Stream] = {}
        self._history: dict[int, dict[int, npt.NDArray[np.void]]] = {}
        self._parts: dict[tuple[int, int, int], DeltaPart] = {}
        self._keyframes: dict[int, DeltaPart] = {}
        self.world = world
        self._true: npt.NDArray[np.void] = EMPTY_STATE

    def begin(self, world: World, tick: int) -> None:
        """Start a tick (after the grid is rebuilt): quantize the world once for all cells."""
        self.world = world
        self.tick = tick
        self._parts.clear()
        self._keyframes.clear()
        self._true = np.zeros(world.capacity, dtype=STATE_DTYPE)
        true = self._true
        true["handle"] = np.arange(world.capacity)
        true["id"] = world.ids[: world.capacity]
        true["key"] = state_key(true["id"], true["handle"])
        scale = 1.0 / self.quantum
        true["qx"] = np.clip(np.rint(world.x * scale), 0, MAX_QUANTIZED)
        true["qy"] = np.clip(np.rint(world.y * scale), 0, MAX_QUANTIZED)
        true["hp"] = np.minimum(world.hp, MAX_WIRE_HP)
        true["hp_max"] = np.minimum(world.hp_max, MAX_WIRE_HP)
        true["kind"] = world.kind
        true["flags"] = world.flags
        true["level"] = world.level
        horizon = tick - self.history_ticks
        for old in [t for t in self._history if t < horizon]:
            del self._history[old]
        for cell in [c for c, s in self._streams.items() if s.tick < horizon]:
            del self._streams[cell]

    def state(self, cell: int) -> npt.NDArray[np.void]:
        """S(cell, this tick), built on first use."""
        stream = self._streams.get(cell)
        if stream is not None and stream.tick == self.tick:
            return stream.state
        target, near = self._target(cell, None if stream is None else stream.state)
        if stream is None or not self.relevance.lags:
            state = target
            stream = self._streams[cell] = _Stream(self.tick, state)
        else:
            state = self._advance(stream, target, near)
        stream.tick = self.tick
        stream.state = state
        self._history.setdefault(self.tick, {})[cell] = state
        return state

    def held(self, base: Base) -> npt.NDArray[np.void] | None:
        """The state a client with ``base`` holds, if still remembered."""
        cell, tick = base
        return self._history.get(tick, {}).get(cell)

    def part(self, base: Base | None, cell: int) -> DeltaPart:
        """The shared part that brings a client holding ``base`` to S(cell, this tick)."""
        new = self.state(cell)
        old = None if base is None else self.held(base)
        if old is None or base is None:
            part = self._keyframes.get(cell)
            if part is None:
                part = self._keyframes[cell] = keyframe(new, self.quantum)
            return part
        key = (base[0], base[1], cell)
        part = self._parts.get(key)
        if part is None:
            part = self._parts[key] = diff(old, new)
        return part

    def _target(
        self, cell: int, held: npt.NDArray[np.void] | None
    ) -> tuple[npt.NDArray[np.void], npt.NDArray[np.bool_]]:
        """The true view of ``cell`` (sorted by key) and which of its entities are near."""
        grid, world, relevance = self.grid, self.world, self.relevance
        slots = grid.slots_near(cell)
        size = grid.cell_size
        row, column = divmod(cell, grid.columns)
        cx, cy = (column + 0.5) * size, (row + 0.5) * size
        members = np.zeros(0, dtype=np.intp)
        if held is not None and len(held) and relevance.margin > 0:
            handles = held["handle"].astype(np.intp)
            ids = held["id"][handles < world.capacity]
            handles = handles[handles < world.capacity]
            handles = handles[world.used[handles] & (world.ids[handles] == ids)]
            reach = 1.5 * size + relevance.margin
            inside = (np.abs(world.x[handles] - cx) <= reach) & (
                np.abs(world.y[handles] - cy) <= reach
            )
            members = handles[inside]
        if len(members):
            slots = np.union1d(slots, members)
        distance = np.maximum(np.abs(world.x[slots] - cx), np.abs(world.y[slots] - cy))
        if len(slots) > relevance.max_entities:
            rank = distance
            if len(members):
                rank = distance - relevance.margin * np.isin(slots, members)
            keep = np.argpartition(rank, relevance.max_entities - 1)[: relevance.max_entities]
            slots, distance = slots[keep], distance[keep]
        target = self._true[slots]
        order = np.argsort(target["key"])
        return target[order], (distance <= relevance.near_radius)[order]

    def _advance(
        self, stream: _Stream, target: npt.NDArray[np.void], near: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.void]:
        """S(C, T) from S(C, T') and the true view: rings and budget decide what changes."""
        relevance = self.relevance
        held = stream.state
        elapsed = min(max(self.tick - stream.tick, 1), MAX_CATCH_UP_TICKS)
        at = np.searchsorted(held["key"], target["key"])
        at = np.minimum(at, max(len(held) - 1, 0))
        found = (held["key"][at] == target["key"]) if len(held) else np.zeros(len(target), bool)
        was = held[at] if len(held) else target
        fields = np.zeros(len(target), dtype=bool)
        for name in ("hp", "hp_max", "flags", "level"):
            fields |= was[name] != target[name]
        dx = target["qx"].astype(np.int32) - was["qx"]
        dy = target["qy"].astype(np.int32) - was["qy"]
        moved = (dx != 0) | (dy != 0)
        fields &= found
        moved &= found
        pending = ~found | fields | moved
        weight = np.where(near, 1.0, 1.0 / relevance.far_every)
        earlier = np.zeros(len(target))
        if len(stream.pending_keys):
            last = len(stream.pending_keys) - 1
            i = np.minimum(np.searchsorted(stream.pending_keys, target["key"]), last)
            hit = stream.pending_keys[i] == target["key"]
            earlier[hit] = stream.pending_priority[i[hit]]
        priority = np.where(pending, earlier + weight * elapsed, 0.0)
        chosen = pending & (priority >= 1.0 - 1e-9)
        if relevance.budget_per_tick > 0 and chosen.any():
            small = (np.abs(dx) <= SMALL_STEP) & (np.abs(dy) <= SMALL_STEP)
            cost = np.where(
                ~found,
                COST_ENTER,
                fields * COST_UPDATE + moved * np.where(small, COST_MOVE, COST_PLACE),
            )
            candidates = np.flatnonzero(chosen)
            order = candidates[np.argsort(-priority[candidates], kind="stable")]
            fits = np.cumsum(cost[order]) <= relevance.budget_per_tick * elapsed
            chosen[:] = False
            chosen[order[fits]] = True
        state = target.copy()
        stale = found & pending & ~chosen
        state[stale] = was[stale]
        keep = found | chosen
        waiting = pending & ~chosen
        stream.pending_keys = target["key"][waiting]
        stream.pending_priority = priority[waiting]
        kept: npt.NDArray[np.void] = state[keep]
        return kept
