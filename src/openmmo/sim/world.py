"""The state of one zone: entities in slots, hot fields in numpy arrays, the game it runs.

Positions, HP and flags live in arrays indexed by *slot* so that moves are validated and
replication packs every entity of a tick with a handful of vectorised operations; per-entity
bookkeeping that is read rarely (names, cooldowns, stats, script state) lives in
:class:`Actor` objects. A slot is reused after its entity leaves. Entity ids are stable: a
player's id is its character id (below :data:`NPC_ID_BASE`), an NPC's id is
``NPC_ID_BASE + n``.

The world also holds what the game running in it owns: its declarations
(:class:`~openmmo.sim.declare.Game`), the character schema, per-zone script state, timers
and the hook runner. Game code never sees this class; it sees :mod:`openmmo.sim.facade`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from openmmo.sim.declare import Game, NpcKind, PlayerClass, Reject, ZoneSpec
from openmmo.sim.events import SimEvent
from openmmo.sim.hooks import HookRunner
from openmmo.sim.schema import CharacterSchema, CharacterState

NPC_ID_BASE = 2**31
FLAG_DEAD = 1


class EntityKind(IntEnum):
    PLAYER = 0
    NPC = 1


@dataclass(slots=True, eq=False)
class Actor:
    entity_id: int
    slot: int
    kind: EntityKind
    name: str
    xp: int = 0
    cooldowns: dict[int, float] = field(default_factory=dict)  # skill id -> ready at
    respawn_at: float | None = None
    player_class: PlayerClass | None = None
    npc_kind: NpcKind | None = None
    home_x: float = 0.0
    home_y: float = 0.0
    target_id: int | None = None  # whom an NPC fights (set when it is hurt)
    next_attack_at: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)  # declared fields (players)
    state: dict[str, Any] = field(default_factory=dict)  # script state, never saved
    changed: set[str] = field(default_factory=set)  # stats set since the last step
    handle: Any = None  # its facade object, made on first use


class World:
    """One zone's authoritative state. Changed only by :mod:`openmmo.sim` (through
    :func:`openmmo.sim.step.step` and the facade the game's hooks use)."""

    def __init__(self, spec: ZoneSpec, game: Game, *, seed: int = 0, capacity: int = 256):
        self.spec = spec
        self.rng = random.Random(seed)
        self.tick = 0
        self.now = 0.0
        self.dt = 0.0
        self.events: list[SimEvent] = []
        self.actors: dict[int, Actor] = {}
        self._slot_actor: list[Actor | None] = []
        self._free: list[int] = []
        self._npc_count = 0
        self._allocate(capacity)
        self.next_regen_at = 0.0
        # (time, entity id) of dead entities waiting to come back, earliest first.
        self.respawn_queue: list[tuple[float, int]] = []
        self.npc_ids: set[int] = set()
        self.changed: set[Actor] = set()  # players whose declared fields changed this tick
        self.script: dict[str, Any] = {}  # the game's per-zone state
        self.timers: list[Any] = []  # heap of openmmo.sim.facade.Timer
        self.hooks = HookRunner(game.name)
        self.api: Any = None  # the Zone facade, made on first use
        self.use_game(game)

    def use_game(self, game: Game) -> None:
        """Run ``game`` from now on (at start, and on a hot reload between ticks): rules,
        kinds, classes and hooks are looked up by name, state is kept."""
        self.game = game
        self.rules = game.rules
        self.schema = CharacterSchema(game.fields, game.classes)
        self.hooks.game_name = game.module or game.name
        self.spec = game.zones.get(self.spec.zone_id, self.spec)
        for actor in self.actors.values():
            if actor.npc_kind is not None:
                actor.npc_kind = game.npc_kinds.get(actor.npc_kind.name, actor.npc_kind)
            elif actor.player_class is not None:
                actor.stats = self.schema.load(actor.stats)
                actor.player_class = game.player_class(actor.stats.get("class"))

    # --- storage --------------------------------------------------------------------------
    def _allocate(self, capacity: int) -> None:
        old = len(self._slot_actor)
        columns = (
            ("ids", np.uint32),
            ("x", np.float64),
            ("y", np.float64),
            ("hp", np.int32),
            ("hp_max", np.int32),
            ("kind", np.uint8),
            ("flags", np.uint8),
            ("level", np.uint8),
            ("used", np.bool_),
            ("combat_until", np.float64),
            ("move_budget", np.float64),
            ("last_move_at", np.float64),
        )
        for name, dtype in columns:
            if old == 0:
                setattr(self, name, np.zeros(capacity, dtype=dtype))
            else:
                setattr(self, name, _grow(getattr(self, name), capacity))
        self._slot_actor.extend([None] * (capacity - old))
        self._free.extend(range(capacity - 1, old - 1, -1))

    # Declared for type checkers; created by _allocate.
    ids: npt.NDArray[np.uint32]
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    hp: npt.NDArray[np.int32]
    hp_max: npt.NDArray[np.int32]
    kind: npt.NDArray[np.uint8]
    flags: npt.NDArray[np.uint8]
    level: npt.NDArray[np.uint8]
    used: npt.NDArray[np.bool_]
    combat_until: npt.NDArray[np.float64]
    move_budget: npt.NDArray[np.float64]
    last_move_at: npt.NDArray[np.float64]

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
            raise Reject("invalid_target", f"no entity {entity_id} here") from None

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
        stats: dict[str, Any] | None = None,
    ) -> Actor:
        """Put a loaded character into the world. A character saved dead comes back alive."""
        if not 0 < entity_id < NPC_ID_BASE:
            raise ValueError("player ids must be in 1..2^31-1")
        live = self.schema.load(stats or {})
        player_class = self.game.player_class(live.get("class"))
        level = min(max(level, 1), self.game.xp_curve.max_level)
        hp_max = player_class.hp_max_for(level)
        actor = self._spawn(entity_id, EntityKind.PLAYER, name, x, y, hp or hp_max, hp_max, level)
        actor.xp = xp
        actor.player_class = player_class
        actor.stats = live
        slot = actor.slot
        self.last_move_at[slot] = now
        self.move_budget[slot] = self.rules.max_speed * self.rules.move_budget_s
        return actor

    def add_npc(self, kind: NpcKind, x: float, y: float, now: float) -> Actor:
        entity_id = NPC_ID_BASE + self._npc_count
        self._npc_count += 1
        actor = self._spawn(
            entity_id, EntityKind.NPC, kind.name, x, y, kind.hp, kind.hp, kind.level
        )
        actor.npc_kind = kind
        actor.home_x, actor.home_y = self.spec.clamp(x, y)
        self.npc_ids.add(entity_id)
        return actor

    def remove(self, entity_id: int) -> CharacterState:
        """Take an entity out of the world and return what should be saved of it."""
        state = self.character_state(entity_id)
        actor = self.actors.pop(entity_id)
        self.npc_ids.discard(entity_id)
        self.changed.discard(actor)
        self.used[actor.slot] = False
        self._slot_actor[actor.slot] = None
        self._free.append(actor.slot)
        return state

    def character_state(self, entity_id: int) -> CharacterState:
        actor = self.actors[entity_id]
        slot = actor.slot
        return CharacterState(
            self.spec.zone_id,
            self.x.item(slot),  # .item(): a Python number at once, cheaper than float(x[i])
            self.y.item(slot),
            self.hp.item(slot),
            self.level.item(slot),
            actor.xp,
            self.schema.saved(actor.stats),
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
