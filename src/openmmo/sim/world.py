"""The state of one zone: entities in slots, hot fields in numpy arrays.

Positions, HP and flags live in arrays indexed by *slot* so that replication can pack every
entity of a tick with a handful of vectorised operations; per-entity bookkeeping that is read
rarely (names, cooldowns, NPC brains) lives in :class:`Actor` objects. A slot is reused after
its entity leaves. Entity ids are stable: a player's id is its character id (below
:data:`NPC_ID_BASE`), an NPC's id is ``NPC_ID_BASE + n``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from openmmo.sim.events import SimEvent
from openmmo.sim.rules import NpcKind, Rules
from openmmo.sim.zones import ZoneSpec

NPC_ID_BASE = 2**31
FLAG_DEAD = 1


class EntityKind(IntEnum):
    PLAYER = 0
    NPC = 1


class ActionRejected(Exception):
    """A client action broke a game rule; ``code`` is a protocol error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class NpcBrain:
    kind: NpcKind
    home_x: float
    home_y: float
    goal_x: float
    goal_y: float
    next_wander_at: float = 0.0
    target_id: int | None = None
    next_attack_at: float = 0.0


@dataclass(slots=True)
class Actor:
    entity_id: int
    slot: int
    kind: EntityKind
    name: str
    xp: int = 0
    move_budget: float = 0.0
    last_move_at: float = 0.0
    cooldowns: dict[int, float] = field(default_factory=dict)  # skill id -> ready at
    respawn_at: float | None = None
    brain: NpcBrain | None = None


@dataclass(frozen=True, slots=True)
class PlayerState:
    """What is saved of a player: the durable part of its entity."""

    entity_id: int
    name: str
    x: float
    y: float
    hp: int
    level: int
    xp: int


class World:
    """One zone's authoritative state. Mutated only by the functions of :mod:`openmmo.sim`."""

    def __init__(
        self, spec: ZoneSpec, rules: Rules | None = None, *, seed: int = 0, capacity: int = 256
    ):
        self.spec = spec
        self.rules = rules or Rules()
        self.rng = random.Random(seed)
        self.tick = 0
        self.events: list[SimEvent] = []
        self.actors: dict[int, Actor] = {}
        self._slot_actor: list[Actor | None] = []
        self._free: list[int] = []
        self._npc_count = 0
        self._allocate(capacity)
        self.next_regen_at = 0.0
        # (time, entity id) of dead entities waiting to come back, earliest first.
        self.respawn_queue: list[tuple[float, int]] = []

    # --- storage --------------------------------------------------------------------------
    def _allocate(self, capacity: int) -> None:
        old = len(self._slot_actor)
        if old == 0:
            self.ids = np.zeros(capacity, dtype=np.uint32)
            self.x = np.zeros(capacity, dtype=np.float64)
            self.y = np.zeros(capacity, dtype=np.float64)
            self.hp = np.zeros(capacity, dtype=np.int32)
            self.hp_max = np.zeros(capacity, dtype=np.int32)
            self.kind = np.zeros(capacity, dtype=np.uint8)
            self.flags = np.zeros(capacity, dtype=np.uint8)
            self.level = np.zeros(capacity, dtype=np.uint8)
            self.used = np.zeros(capacity, dtype=np.bool_)
            self.combat_until = np.zeros(capacity, dtype=np.float64)
        else:
            self.ids = _grow(self.ids, capacity)
            self.x = _grow(self.x, capacity)
            self.y = _grow(self.y, capacity)
            self.hp = _grow(self.hp, capacity)
            self.hp_max = _grow(self.hp_max, capacity)
            self.kind = _grow(self.kind, capacity)
            self.flags = _grow(self.flags, capacity)
            self.level = _grow(self.level, capacity)
            self.used = _grow(self.used, capacity)
            self.combat_until = _grow(self.combat_until, capacity)
        self._slot_actor.extend([None] * (capacity - old))
        self._free.extend(range(capacity - 1, old - 1, -1))

    def _take_slot(self) -> int:
        if not self._free:
            self._allocate(len(self._slot_actor) * 2)
        return self._free.pop()

    @property
    def capacity(self) -> int:
        return len(self._slot_actor)

    def active_slots(self) -> npt.NDArray[np.intp]:
        return np.flatnonzero(self.used)

    def actor(self, entity_id: int) -> Actor:
        try:
            return self.actors[entity_id]
        except KeyError:
            raise ActionRejected("invalid_target", f"no entity {entity_id} here") from None

    def actor_at(self, slot: int) -> Actor | None:
        return self._slot_actor[slot]

    def position(self, entity_id: int) -> tuple[float, float]:
        slot = self.actors[entity_id].slot
        return float(self.x[slot]), float(self.y[slot])

    def is_dead(self, slot: int) -> bool:
        return bool(self.flags[slot] & FLAG_DEAD)

    # --- entities -------------------------------------------------------------------------
    def _spawn(
        self,
        entity_id: int,
        kind: EntityKind,
        name: str,
        x: float,
        y: float,
        hp: int,
        hp_max: int,
        level: int,
    ) -> Actor:
        if entity_id in self.actors:
            raise ValueError(f"entity {entity_id} is already in the world")
        slot = self._take_slot()
        x, y = self.spec.clamp(x, y)
        self.ids[slot] = entity_id
        self.x[slot], self.y[slot] = x, y
        self.hp_max[slot] = hp_max
        self.hp[slot] = min(max(hp, 0), hp_max)
        self.kind[slot] = kind
        self.flags[slot] = 0
        self.level[slot] = level
        self.used[slot] = True
        self.combat_until[slot] = 0.0
        actor = Actor(entity_id, slot, kind, name)
        self.actors[entity_id] = actor
        self._slot_actor[slot] = actor
        return actor

    def add_player(
        self,
        entity_id: int,
        name: str,
        x: float,
        y: float,
        hp: int,
        level: int,
        xp: int,
        now: float,
    ) -> Actor:
        """Put a loaded character into the world. A character saved dead comes back alive."""
        if not 0 < entity_id < NPC_ID_BASE:
            raise ValueError("player ids must be in 1..2^31-1")
        hp_max = self.rules.hp_max_for(level)
        actor = self._spawn(entity_id, EntityKind.PLAYER, name, x, y, hp or hp_max, hp_max, level)
        actor.xp = xp
        actor.last_move_at = now
        actor.move_budget = self.rules.max_speed * self.rules.move_budget_s
        return actor

    def add_npc(self, kind: NpcKind, x: float, y: float, now: float) -> Actor:
        entity_id = NPC_ID_BASE + self._npc_count
        self._npc_count += 1
        actor = self._spawn(
            entity_id, EntityKind.NPC, kind.name, x, y, kind.hp, kind.hp, kind.level
        )
        actor.brain = NpcBrain(kind, x, y, x, y, next_wander_at=now)
        return actor

    def remove(self, entity_id: int) -> PlayerState:
        """Take an entity out of the world and return what should be saved of it."""
        state = self.player_state(entity_id)
        actor = self.actors.pop(entity_id)
        self.used[actor.slot] = False
        self._slot_actor[actor.slot] = None
        self._free.append(actor.slot)
        return state

    def player_state(self, entity_id: int) -> PlayerState:
        actor = self.actors[entity_id]
        slot = actor.slot
        return PlayerState(
            entity_id,
            actor.name,
            float(self.x[slot]),
            float(self.y[slot]),
            int(self.hp[slot]),
            int(self.level[slot]),
            actor.xp,
        )

    def player_count(self) -> int:
        return sum(1 for a in self.actors.values() if a.kind is EntityKind.PLAYER)

    def emit(self, event: SimEvent) -> None:
        self.events.append(event)

    def drain_events(self) -> list[SimEvent]:
        events, self.events = self.events, []
        return events


_Scalar = TypeVar("_Scalar", bound=np.generic)


def _grow(old: npt.NDArray[_Scalar], capacity: int) -> npt.NDArray[_Scalar]:
    new = np.zeros(capacity, dtype=old.dtype)
    new[: len(old)] = old
    return new
