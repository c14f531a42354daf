"""What game code sees: a zone, its entities, timers — never the arrays behind them.

The facade is the stable API (re-exported by :mod:`openmmo.game`); the numpy columns of
:class:`~openmmo.sim.world.World` are free to change. Handles are cheap and cached per
entity; a handle of an entity that left the zone raises :class:`LookupError` when used.
Everything here runs inside the tick, so game code never races the network.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from openmmo.sim import combat
from openmmo.sim.declare import CORE_EVENT_TYPES, NAME, Game, NpcKind, PlayerClass, ZoneSpec
from openmmo.sim.events import Announcement, GameEvent, Loot
from openmmo.sim.movement import clamp_step
from openmmo.sim.world import FLAG_DEAD, Actor, EntityKind, World

_timer_ids = itertools.count()


class Timer:
    """A call scheduled by :meth:`Zone.after` or :meth:`Zone.every`; :meth:`cancel` stops it."""

    __slots__ = ("args", "cancelled", "due", "fn", "interval", "order")

    def __init__(self, due: float, fn: Callable[..., Any], args: tuple[Any, ...], interval: float):
        self.due = due
        self.fn = fn
        self.args = args
        self.interval = interval
        self.cancelled = False
        self.order = next(_timer_ids)

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Timer) -> bool:
        return (self.due, self.order) < (other.due, other.order)


class Zone:
    """One running zone. Hooks receive it as their first argument."""

    __slots__ = ("_world",)

    def __init__(self, world: World):
        self._world = world

    @staticmethod
    def of(world: World) -> Zone:
        if world.api is None:
            world.api = Zone(world)
        zone: Zone = world.api
        return zone

    # --- what the zone is -----------------------------------------------------------------
    @property
    def id(self) -> int:
        return self._world.spec.zone_id

    @property
    def name(self) -> str:
        return self._world.spec.name

    @property
    def spec(self) -> ZoneSpec:
        return self._world.spec

    @property
    def game(self) -> Game:
        return self._world.game

    @property
    def now(self) -> float:
        """Seconds on the zone's monotonic clock at the start of this tick."""
        return self._world.now

    @property
    def tick(self) -> int:
        return self._world.tick

    @property
    def rng(self) -> random.Random:
        """The zone's random numbers (seeded: a test replays the same world)."""
        return self._world.rng

    @property
    def state(self) -> dict[str, Any]:
        """The game's own state for this zone (kept across hot reloads, never saved)."""
        return self._world.script

    # --- entities -------------------------------------------------------------------------
    def entity(self, entity_id: int) -> Entity | None:
        actor = self._world.actors.get(entity_id)
        return None if actor is None else handle(self._world, actor)

    @property
    def players(self) -> list[Player]:
        world = self._world
        return [
            handle_player(world, a) for a in world.actors.values() if a.kind is EntityKind.PLAYER
        ]

    @property
    def npcs(self) -> list[Npc]:
        world = self._world
        return [handle_npc(world, a) for a in world.actors.values() if a.kind is EntityKind.NPC]

    def entities_near(self, x: float, y: float, radius: float) -> list[Entity]:
        """Living entities within ``radius`` of (x, y), nearest first."""
        world = self._world
        slots = world.active_slots()
        d2 = (world.x[slots] - x) ** 2 + (world.y[slots] - y) ** 2
        inside = np.flatnonzero((d2 <= radius * radius) & ((world.flags[slots] & FLAG_DEAD) == 0))
        nearest_first = slots[inside[np.argsort(d2[inside], kind="stable")]]
        found = []
        for slot in nearest_first.tolist():
            actor = world.actor_at(slot)
            if actor is not None:
                found.append(handle(world, actor))
        return found

    def players_near(self, x: float, y: float, radius: float) -> list[Player]:
        return [e for e in self.entities_near(x, y, radius) if isinstance(e, Player)]

    def spawn(self, kind: str | NpcKind, x: float, y: float) -> Npc:
        world = self._world
        declared = kind if isinstance(kind, NpcKind) else world.game.npc_kinds.get(kind)
        if declared is None:
            raise KeyError(f"no NPC kind {kind!r} is declared")
        return handle_npc(world, world.add_npc(declared, x, y, world.now))

    def despawn(self, npc: Npc) -> None:
        actor = npc._live()
        if actor.kind is not EntityKind.NPC:
            raise TypeError("only NPCs can be despawned; players leave")
        self._world.remove(actor.entity_id)

    def move(self, entity: Entity, x: float, y: float) -> None:
        """Put ``entity`` at (x, y) (clamped to the zone): a teleport, no speed check."""
        actor = entity._live()
        world = self._world
        world.x[actor.slot], world.y[actor.slot] = world.spec.clamp(x, y)

    def damage(
        self, target: Entity, amount: int, source: Entity | None = None, skill: int = 0
    ) -> int:
        """Deal ``amount`` damage (``on_damage`` may change it); returns what was dealt. A
        kill awards XP and loot and runs ``on_death``."""
        world = self._world
        attacker = None if source is None else source._live()
        return combat.apply_damage(world, target._live(), int(amount), attacker, skill).damage

    def heal(self, target: Entity, amount: int) -> int:
        """Raise HP by up to ``amount`` (not beyond hp_max, not for the dead)."""
        actor = target._live()
        world, slot = self._world, actor.slot
        if world.is_dead(slot):
            return 0
        before = int(world.hp[slot])
        world.hp[slot] = min(before + max(int(amount), 0), int(world.hp_max[slot]))
        return int(world.hp[slot]) - before

    def give_xp(self, player: Player, amount: int) -> None:
        combat.award_xp(self._world, player._live(), int(amount))

    def give_item(self, player: Player, item: str, quantity: int = 1, reason: str = "game") -> None:
        """Grant items. They are written to the database after the tick, and the player is
        told (a ``loot`` event) once that has committed."""
        actor = player._live()
        if not 0 < quantity <= 1_000_000 or not 0 < len(item) <= 32:
            raise ValueError("give_item needs an item name of 1..32 characters and 1..1e6 of it")
        self._world.emit(Loot(actor.entity_id, ((item, int(quantity)),), f"game:{reason}"[:64]))

    # --- telling players ------------------------------------------------------------------
    def send_event(self, player: Player, type: str, **data: Any) -> None:
        """An event for one player, in its next snapshot's ``events``."""
        self._world.emit(GameEvent(_event(type, data), player._live().entity_id))

    def emit_near(self, x: float, y: float, type: str, **data: Any) -> None:
        """An event for every player whose area of interest covers (x, y)."""
        self._world.emit(GameEvent(_event(type, data), (float(x), float(y))))

    def broadcast(self, type: str, **data: Any) -> None:
        """An event for every player in this zone (this channel)."""
        self._world.emit(GameEvent(_event(type, data), None))

    def announce(self, message: str) -> None:
        """An ``announce`` event for everyone in this zone."""
        self._world.emit(Announcement(str(message)[:256]))

    # --- time -----------------------------------------------------------------------------
    def after(self, seconds: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Call ``fn(*args)`` once, at the first tick at least ``seconds`` from now."""
        return self._schedule(seconds, fn, args, 0.0)

    def every(self, seconds: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Call ``fn(*args)`` every ``seconds`` (at tick resolution) until cancelled."""
        if seconds <= 0:
            raise ValueError("every() needs a positive interval")
        return self._schedule(seconds, fn, args, seconds)

    def _schedule(
        self, seconds: float, fn: Callable[..., Any], args: tuple[Any, ...], interval: float
    ) -> Timer:
        if not callable(fn) or not math.isfinite(seconds) or seconds < 0:
            raise ValueError("a timer needs a callable and a delay >= 0 seconds")
        timer = Timer(self._world.now + seconds, fn, args, interval)
        heapq.heappush(self._world.timers, timer)
        return timer


class Entity:
    """A player or an NPC in a zone."""

    __slots__ = ("_actor", "_world")

    def __init__(self, world: World, actor: Actor):
        self._world = world
        self._actor = actor

    def _live(self) -> Actor:
        actor = self._actor
        if self._world.actor_at(actor.slot) is not actor:
            raise LookupError(f"entity {actor.entity_id} has left the zone")
        return actor

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._actor.entity_id} {self._actor.name!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entity) and other._actor is self._actor

    def __hash__(self) -> int:
        return hash(self._actor.entity_id)

    @property
    def id(self) -> int:
        return self._actor.entity_id

    @property
    def name(self) -> str:
        return self._actor.name

    @property
    def in_zone(self) -> bool:
        return self._world.actor_at(self._actor.slot) is self._actor

    @property
    def x(self) -> float:
        return float(self._world.x[self._live().slot])

    @property
    def y(self) -> float:
        return float(self._world.y[self._live().slot])

    @property
    def position(self) -> tuple[float, float]:
        slot = self._live().slot
        return float(self._world.x[slot]), float(self._world.y[slot])

    @property
    def hp(self) -> int:
        return int(self._world.hp[self._live().slot])

    @property
    def hp_max(self) -> int:
        return int(self._world.hp_max[self._live().slot])

    @property
    def level(self) -> int:
        return int(self._world.level[self._live().slot])

    @property
    def alive(self) -> bool:
        return not self._world.is_dead(self._live().slot)

    @property
    def state(self) -> dict[str, Any]:
        """Script state of this entity (kept while it is in the zone, never saved)."""
        return self._actor.state

    def distance_to(self, other: Entity | tuple[float, float]) -> float:
        x, y = other.position if isinstance(other, Entity) else other
        sx, sy = self.position
        return math.hypot(sx - x, sy - y)


class Player(Entity):
    __slots__ = ()

    @property
    def xp(self) -> int:
        return self._live().xp

    @property
    def player_class(self) -> PlayerClass:
        declared = self._live().player_class
        assert declared is not None
        return declared

    @property
    def stats(self) -> Stats:
        """The game's declared fields of this character (checked when set, saved)."""
        return Stats(self._world, self._live())

    def give_xp(self, amount: int) -> None:
        combat.award_xp(self._world, self._live(), int(amount))

    def send_event(self, type: str, **data: Any) -> None:
        self._world.emit(GameEvent(_event(type, data), self._live().entity_id))


class Npc(Entity):
    __slots__ = ()

    @property
    def npc_kind(self) -> NpcKind:
        declared = self._live().npc_kind
        assert declared is not None
        return declared

    @property
    def home(self) -> tuple[float, float]:
        actor = self._live()
        return actor.home_x, actor.home_y

    @property
    def target(self) -> Entity | None:
        """Whom this NPC fights: set by the engine when it is hurt, by brains at will."""
        actor = self._live()
        if actor.target_id is None:
            return None
        found = self._world.actors.get(actor.target_id)
        return None if found is None else handle(self._world, found)

    @target.setter
    def target(self, entity: Entity | None) -> None:
        self._live().target_id = None if entity is None else entity.id

    def move_toward(self, x: float, y: float, speed_factor: float = 1.0) -> float:
        """Walk toward (x, y) at the kind's speed for one tick; returns the distance left."""
        actor = self._live()
        world, slot = self._world, actor.slot
        assert actor.npc_kind is not None
        step = actor.npc_kind.speed * speed_factor * world.dt
        x0, y0 = float(world.x[slot]), float(world.y[slot])
        nx, ny, _ = clamp_step(x0, y0, *world.spec.clamp(x, y), step)
        world.x[slot], world.y[slot] = nx, ny
        return math.hypot(x - nx, y - ny)

    def attack(self, target: Entity) -> bool:
        """Hit ``target`` with the kind's damage if it is in range and the attack is ready."""
        actor = self._live()
        kind, world = actor.npc_kind, self._world
        assert kind is not None
        if world.now < actor.next_attack_at or not target.alive:
            return False
        if self.distance_to(target) > kind.attack_range:
            return False
        actor.next_attack_at = world.now + kind.attack_cooldown_s
        combat.apply_damage(world, target._live(), kind.damage, actor, 0)
        return True


class Stats(Mapping[str, Any]):
    """A player's declared fields. Setting one checks its type and range."""

    __slots__ = ("_actor", "_world")

    def __init__(self, world: World, actor: Actor):
        self._world = world
        self._actor = actor

    def __getitem__(self, name: str) -> Any:
        return self._actor.stats[name]

    def __setitem__(self, name: str, value: Any) -> None:
        checked = self._world.schema.check(name, value)
        if name == "class":
            raise ValueError("class: a character's class is chosen at creation")
        if self._actor.stats.get(name) != checked:
            self._actor.stats[name] = checked
            self._actor.changed.add(name)
            self._world.changed.add(self._actor)

    def __iter__(self) -> Iterator[str]:
        return iter(self._actor.stats)

    def __len__(self) -> int:
        return len(self._actor.stats)

    def add(self, name: str, amount: int | float) -> Any:
        """``stats[name] += amount``, checked; returns the new value."""
        self[name] = self._actor.stats[name] + amount
        return self._actor.stats[name]


def handle(world: World, actor: Actor) -> Entity:
    if actor.handle is None:
        actor.handle = (Player if actor.kind is EntityKind.PLAYER else Npc)(world, actor)
    entity: Entity = actor.handle
    return entity


def handle_player(world: World, actor: Actor) -> Player:
    player = handle(world, actor)
    assert isinstance(player, Player)
    return player


def handle_npc(world: World, actor: Actor) -> Npc:
    npc = handle(world, actor)
    assert isinstance(npc, Npc)
    return npc


def _event(kind: str, data: dict[str, Any]) -> dict[str, object]:
    if not NAME.match(kind) or kind in CORE_EVENT_TYPES:
        raise ValueError(f"event type {kind!r}: use a lower_snake_case name that is not core")
    if "type" in data:
        raise ValueError("an event's data cannot have a 'type' key")
    _check_wire_value(data, 0)
    return {"type": kind, **data}


def _check_wire_value(value: Any, depth: int) -> None:
    """Raise unless ``value`` encodes the same in JSON and msgpack (no silent change)."""
    if depth > 8:
        raise ValueError("event data is nested too deeply")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if not -(2**53) <= value <= 2**53:
            raise ValueError(f"event data: integer {value} does not survive JSON clients")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("event data: numbers must be finite")
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_wire_value(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("event data: keys must be strings")
            _check_wire_value(item, depth + 1)
        return
    raise ValueError(f"event data: {type(value).__name__} is not a wire value")
