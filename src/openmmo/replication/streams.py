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
view, quantized. A cell's view is rebuilt at most every ``refresh_every`` ticks (the zone
server rebuilds at its snapshot rate, 10 Hz, while acks and events go out every tick: a
client that already holds the current view then costs nothing but its own bytes).
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
    MAX_BATCH,
    MAX_QUANTIZED,
    SMALL_STEP,
    STATE_DTYPE,
    DeltaPart,
    diff_many,
    keyframe,
    put,
    quantum_for,
    stack,
    state_key,
    take,
)
from openmmo.replication.interest import InterestGrid
from openmmo.sim.declare import MAX_WIRE_HP
from openmmo.sim.world import World

Base = tuple[int, int]  # (cell, tick) of the state a client holds
NOTHING = DeltaPart(0, b"", 0)

MAX_HANDLES = 1 << 16  # v2 names entities by u16 handles: the first 65,536 world slots
MAX_CATCH_UP_TICKS = 4  # a stream idle for longer gets at most this many ticks of budget


@dataclass(frozen=True, slots=True)
class Relevance:
    max_entities: int = 512
    near_radius: float = 64.0
    far_every: int = 1  # ticks between refreshes of a far entity (1: every tick)
    refresh_every: int = 1  # ticks between rebuilds of a cell's view (acks go out between)
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
        """The cell's current view, built on first use (and again every ``refresh_every``
        ticks)."""
        stream = self._streams.get(cell)
        if stream is None or stream.tick <= self.tick - self.relevance.refresh_every:
            self._build([cell])
            stream = self._streams[cell]
        return stream.state

    def base_of(self, cell: int) -> Base:
        """The base a client has once sent this tick's part for ``cell``."""
        return cell, self._streams[cell].tick

    def held(self, base: Base) -> npt.NDArray[np.void] | None:
        """The state a client with ``base`` holds, if still remembered."""
        cell, tick = base
        return self._history.get(tick, {}).get(cell)

    def part(self, base: Base | None, cell: int) -> DeltaPart:
        """The shared part that brings a client holding ``base`` to the cell's current view."""
        return self.parts([(base, cell)])[0]

    def parts(self, requests: list[tuple[Base | None, int]]) -> list[DeltaPart]:
        """:meth:`part` for many clients at once: the cells' views are built in one pass and
        the deltas computed in another (:func:`diff_many`), each distinct one once."""
        streams, tick = self._streams, self.tick
        due = tick - self.relevance.refresh_every
        stale = {c for _, c in requests if (s := streams.get(c)) is None or s.tick <= due}
        if stale:
            self._build(sorted(stale))
        wanted: dict[tuple[int, int, int], tuple[npt.NDArray[np.void], npt.NDArray[np.void]]] = {}
        for base, cell in requests:
            if base is not None:
                key = (base[0], base[1], cell)
                if key not in self._parts and key not in wanted:
                    stream = streams[cell]
                    if base[0] == cell and base[1] == stream.tick:
                        self._parts[key] = NOTHING  # the client holds this view already
                        continue
                    old = self.held(base)
                    if old is not None:
                        wanted[key] = (old, stream.state)
        if wanted:
            self._parts.update(zip(wanted, diff_many(list(wanted.values())), strict=True))
        out = []
        for base, cell in requests:
            part = None if base is None else self._parts.get((base[0], base[1], cell))
            if part is None:  # no base, or one older than the history: a keyframe
                part = self._keyframes.get(cell)
                if part is None:
                    part = self._keyframes[cell] = keyframe(streams[cell].state, self.quantum)
            out.append(part)
        return out

    def _build(self, cells: list[int]) -> None:
        """S(c, this tick) for every cell in ``cells``, in one vectorized pass.

        Each (cell, entity) pair is one row; the cell's index in ``cells`` sits in the top
        16 bits of the row's sort key, so every cell's rows come out contiguous and sorted.
        """
        grid, world, relevance, tick = self.grid, self.world, self.relevance, self.tick
        if len(cells) > MAX_BATCH:
            for i in range(0, len(cells), MAX_BATCH):
                self._build(cells[i : i + MAX_BATCH])
            return
        n = len(cells)
        size = grid.cell_size
        rows, columns = np.divmod(np.asarray(cells, dtype=np.int64), grid.columns)
        cx, cy = (columns + 0.5) * size, (rows + 0.5) * size
        # The 3x3 cells around each cell: up to three runs of the grid's sorted slots.
        starts, lengths, owners = [], [], []
        for i, cell in enumerate(cells):
            for a, b in grid.neighbourhood(cell):
                starts.append(a)
                lengths.append(b - a)
                owners.append(i)
        owner = np.repeat(np.asarray(owners, dtype=np.int64), lengths)
        total = int(sum(lengths))
        first = np.repeat(
            np.asarray(starts, dtype=np.int64) - np.cumsum([0, *lengths[:-1]]), lengths
        )
        slots = grid.sorted_slots[first + np.arange(total)] if total else np.zeros(0, np.intp)
        previous = [self._streams.get(cell) for cell in cells]
        held_counts = [0 if p is None else len(p.state) for p in previous]
        held = stack([p.state for p in previous if p is not None])
        held_owner = np.repeat(np.arange(n, dtype=np.int64), held_counts)
        members = np.zeros(0, dtype=np.int64)
        if relevance.margin > 0 and len(held):
            # Hysteresis: what a view holds stays while still in the world and near enough.
            handles = held["handle"].astype(np.int64)
            ok = handles < world.capacity
            ok[ok] &= world.used[handles[ok]] & (world.ids[handles[ok]] == held["id"][ok])
            reach = 1.5 * size + relevance.margin
            h, o = handles[ok], held_owner[ok]
            inside = (np.abs(world.x[h] - cx[o]) <= reach) & (np.abs(world.y[h] - cy[o]) <= reach)
            h, o = h[inside], o[inside]
            # Those still inside the 3x3 cells are candidates already: add the others.
            cell_of = grid.slot_cell[h]
            outside = (np.abs(cell_of // grid.columns - rows[o]) > 1) | (
                np.abs(cell_of % grid.columns - columns[o]) > 1
            )
            members = (o[outside] << 32) | h[outside]
        pairs = (owner << 32) | slots.astype(np.int64)
        if len(members):
            pairs = np.concatenate([pairs, members])
        if world.capacity > MAX_HANDLES:  # a handle is 16 bits: the slots beyond go unseen
            pairs = pairs[(pairs & 0xFFFFFFFF) < MAX_HANDLES]
        owner, slots = pairs >> 32, pairs & 0xFFFFFFFF
        distance = np.maximum(
            np.abs(world.x[slots] - cx[owner]), np.abs(world.y[slots] - cy[owner])
        )
        counts = np.bincount(owner, minlength=n)
        if (counts > relevance.max_entities).any():  # a crowd: keep the nearest
            keep = np.ones(len(owner), dtype=bool)
            for i in np.flatnonzero(counts > relevance.max_entities).tolist():
                rows_of = np.flatnonzero(owner == i)
                cut = np.argpartition(distance[rows_of], relevance.max_entities - 1)
                keep[rows_of[cut[relevance.max_entities :]]] = False
            owner, slots, distance = owner[keep], slots[keep], distance[keep]
        target = take(self._true, slots)
        rank_key = (owner.astype(np.uint64) << np.uint64(48)) | target["key"]
        order = np.argsort(rank_key, kind="stable")  # a merge of sorted runs: cheap
        target, owner, rank_key = take(target, order), owner[order], rank_key[order]
        near = distance[order] <= relevance.near_radius
        fresh = np.array([p is None for p in previous], dtype=bool)
        if relevance.lags and not fresh.all():
            state, owner, waiting = self._advance(
                previous, held, held_owner, target, owner, rank_key, near, fresh
            )
        else:
            state, waiting = target, None
        bounds = np.searchsorted(owner, np.arange(n + 1)).tolist()
        history = self._history.setdefault(tick, {})
        for i, cell in enumerate(cells):
            view = state[bounds[i] : bounds[i + 1]]
            stream = previous[i]
            if stream is None:
                stream = self._streams[cell] = _Stream(tick, view)
            stream.tick, stream.state = tick, view
            if waiting is not None:
                w_keys, w_priority, w_bounds = waiting
                stream.pending_keys = w_keys[w_bounds[i] : w_bounds[i + 1]]
                stream.pending_priority = w_priority[w_bounds[i] : w_bounds[i + 1]]
            history[cell] = view

    def _advance(
        self,
        previous: list[_Stream | None],
        held: npt.NDArray[np.void],
        held_owner: npt.NDArray[np.int64],
        target: npt.NDArray[np.void],
        owner: npt.NDArray[np.int64],
        rank_key: npt.NDArray[np.uint64],
        near: npt.NDArray[np.bool_],
        fresh: npt.NDArray[np.bool_],
    ) -> tuple[
        npt.NDArray[np.void],
        npt.NDArray[np.int64],
        tuple[npt.NDArray[np.uint64], npt.NDArray[np.float64], list[int]],
    ]:
        """S(C, T) from S(C, T') and the true view for many cells: rings and budget decide
        what changes. Cells with no previous view (``fresh``) take the true view."""
        relevance, n = self.relevance, len(previous)
        held_key = (held_owner.astype(np.uint64) << np.uint64(48)) | held["key"]
        elapsed_of = np.array(
            [
                1 if p is None else min(max(self.tick - p.tick, 1), MAX_CATCH_UP_TICKS)
                for p in previous
            ],
            dtype=np.float64,
        )
        elapsed = elapsed_of[owner]
        if len(held):
            at = np.minimum(np.searchsorted(held_key, rank_key), len(held) - 1)
            found = held_key[at] == rank_key
            was = take(held, at)
        else:
            found, was = np.zeros(len(target), dtype=bool), target
        fields = np.zeros(len(target), dtype=bool)
        for name in ("hp", "hp_max", "flags", "level"):
            fields |= was[name] != target[name]
        dx = target["qx"].astype(np.int32) - was["qx"]
        dy = target["qy"].astype(np.int32) - was["qy"]
        moved = ((dx != 0) | (dy != 0)) & found
        fields &= found
        pending = ~found | fields | moved
        weight = np.where(near, 1.0, 1.0 / relevance.far_every)
        earlier = np.zeros(len(target))
        counts = [0 if p is None else len(p.pending_keys) for p in previous]
        if any(counts):
            p_keys = np.concatenate([p.pending_keys for p in previous if p is not None])
            p_owner = np.repeat(np.arange(n, dtype=np.uint64), counts)
            p_rank = (p_owner << np.uint64(48)) | p_keys
            p_priority = np.concatenate([p.pending_priority for p in previous if p is not None])
            i = np.minimum(np.searchsorted(p_rank, rank_key), len(p_rank) - 1)
            hit = p_rank[i] == rank_key
            earlier[hit] = p_priority[i[hit]]
        priority = np.where(pending, earlier + weight * elapsed, 0.0)
        chosen = pending & (priority >= 1.0 - 1e-9)
        if relevance.budget_per_tick > 0 and chosen.any():
            small = (np.abs(dx) <= SMALL_STEP) & (np.abs(dy) <= SMALL_STEP)
            cost = np.where(
                ~found,
                COST_ENTER,
                fields * COST_UPDATE + moved * np.where(small, COST_MOVE, COST_PLACE),
            )
            allowance = relevance.budget_per_tick * elapsed_of
            wanted = np.bincount(owner[chosen], weights=cost[chosen], minlength=n)
            over = wanted > allowance  # only these cells need choosing (a crowd)
            if over.any():
                candidates = np.flatnonzero(chosen & over[owner])
                # By cell, then highest priority first; the budget counts within each cell.
                order = candidates[np.lexsort((-priority[candidates], owner[candidates]))]
                spent = np.cumsum(cost[order])
                cell_of = owner[order]
                run_start = np.flatnonzero(np.r_[True, cell_of[1:] != cell_of[:-1]])
                runs = np.diff(np.r_[run_start, len(order)])
                before = np.repeat(np.r_[0, spent][run_start], runs)
                chosen[order] = spent - before <= allowance[cell_of]
        fresh_row = fresh[owner]
        chosen |= fresh_row
        state = stack([target])  # a copy
        stale = found & pending & ~chosen
        put(state, stale, was)
        keep = found | chosen
        waiting = pending & ~chosen
        w_owner = owner[waiting]
        w_bounds = np.searchsorted(w_owner, np.arange(n + 1)).tolist()
        kept = take(state, keep)
        return kept, owner[keep], (target["key"][waiting], priority[waiting], w_bounds)
