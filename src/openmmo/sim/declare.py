"""What a game declares: zones, player classes, skills, NPC kinds, loot, the XP curve, fields,
error codes, custom messages and its hooks.

Every declaration is a frozen value checked when the game loads (:meth:`Game.check`), so a
mistake in a game module — a class naming a skill that does not exist, HP beyond what the
wire carries, an error code that clashes with a core one — stops the server at start with one
message naming the declaration, instead of surfacing as a wrong number in play.
"""

from __future__ import annotations

import abc
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from openmmo.sim.schema import Field

if TYPE_CHECKING:
    from openmmo.sim.facade import Entity, Npc, Player, Zone

# What the wire carries per entity (docs/reference/protocol.md, entity records).
MAX_WIRE_HP = 0xFFFF
MAX_WIRE_LEVEL = 0xFF
NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

# Names a game may not take for its messages and events: the core protocol's.
CORE_CLIENT_TYPES = frozenset(
    {
        "auth",
        "join_game",
        "move",
        "attack",
        "chat",
        "ping",
        "inspect",
        "leave",
        "give",
        "inventory",
        "switch_channel",
        "use_item",
        "custom",
    }
)
CORE_EVENT_TYPES = frozenset(
    {
        "chat",
        "hit",
        "death",
        "respawn",
        "xp",
        "level_up",
        "loot",
        "received",
        "announce",
        "stats",
        "hook_disabled",
    }
)


class GameError(Exception):
    """A game's declarations are inconsistent, or its module could not be loaded."""


class Reject(Exception):
    """Refuse a player's action: the player gets an ``error`` with ``code``.

    Raised by the engine (``out_of_range``, ``cooldown``...) and by game code. A game's own
    codes are declared in :class:`Game` (``errors=``) and announced to clients in ``welcome``.
    """

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code
        self.message = message or code.replace("_", " ")


class Target(Enum):
    """Who a skill may be aimed at."""

    ENEMY = "enemy"  # another living entity; players only where the zone allows PvP
    ALLY = "ally"  # another living player, or yourself
    SELF = "self"  # always the caster; the message's target_id is ignored
    ANY = "any"  # any living entity, yourself included


SkillEffect = Callable[["Zone", "Player", "Entity", "Skill"], Mapping[str, Any] | None]


@dataclass(frozen=True, slots=True)
class Skill:
    """A skill players use with the ``attack`` message (``skill_id``).

    Without ``effect`` the skill deals ``damage`` to its target. ``cost`` names integer
    fields of the caster and how much of each a use takes (``{"mana": 10}``); a caster with
    less is refused with ``not_enough_<field>``.
    """

    skill_id: int
    name: str
    range: float
    cooldown_s: float
    damage: int = 0
    target: Target = Target.ENEMY
    cost: Mapping[str, int] = field(default_factory=dict)
    effect: SkillEffect | None = None


@dataclass(frozen=True, slots=True)
class PlayerClass:
    name: str
    skills: tuple[int, ...]
    base_hp: int = 100
    hp_per_level: int = 10

    def hp_max_for(self, level: int) -> int:
        return self.base_hp + self.hp_per_level * (level - 1)


@dataclass(frozen=True, slots=True)
class Drop:
    """``quantity`` of ``item`` with probability ``chance`` (a random amount between
    ``quantity`` and ``max_quantity`` when that is set)."""

    item: str
    quantity: int = 1
    chance: float = 1.0
    max_quantity: int | None = None


@dataclass(frozen=True, slots=True)
class Loot:
    drops: tuple[Drop, ...] = ()

    def roll(self, rng: random.Random) -> dict[str, int]:
        items: dict[str, int] = {}
        for drop in self.drops:
            if drop.chance >= 1.0 or rng.random() < drop.chance:
                top = drop.max_quantity or drop.quantity
                amount = rng.randint(drop.quantity, top) if top > drop.quantity else drop.quantity
                items[drop.item] = items.get(drop.item, 0) + amount
        return items


class Brain(abc.ABC):
    """How an NPC kind behaves: :meth:`think` runs once per tick for each living NPC.

    Brains see the same facade as hooks. Built-in ones are in :mod:`openmmo.sim.brains`; a
    game subclasses this and defines ``think`` (a subclass without it cannot be created:
    the game fails to load with a TypeError naming it).
    """

    @abc.abstractmethod
    def think(self, zone: Zone, npc: Npc, dt: float) -> None:
        """Act for ``npc`` this tick (``dt`` seconds since the last)."""


@dataclass(frozen=True, slots=True)
class NpcKind:
    name: str
    hp: int
    damage: int
    attack_range: float
    attack_cooldown_s: float
    speed: float  # units per second
    xp: int
    level: int
    brain: Brain | None = None  # None: the game's default_brain
    loot: Loot = Loot()
    respawn_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Spawn:
    """``count`` NPCs of ``kind`` placed within ``radius`` of (x, y) when the zone starts."""

    kind: str
    x: float
    y: float
    count: int
    radius: float


@dataclass(frozen=True, slots=True)
class Portal:
    """Stepping inside the rectangle (x0, y0)-(x1, y1) transfers the player to
    ``target_zone``, arriving at (arrival_x, arrival_y)."""

    x0: float
    y0: float
    x1: float
    y1: float
    target_zone: int
    arrival_x: float
    arrival_y: float

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    zone_id: int
    name: str
    width: float
    height: float
    spawn_x: float
    spawn_y: float
    pvp: bool
    npc_spawns: tuple[Spawn, ...] = ()
    portals: tuple[Portal, ...] = ()
    # New characters and respawns appear anywhere within this radius of the spawn point, so a
    # crowd of new players does not stand on one spot.
    spawn_radius: float = 0.0
    # Side of one interest cell: a client sees its cell and the eight around it, so it sees
    # at least ``cell_size`` units in every direction.
    cell_size: float = 64.0

    def clamp(self, x: float, y: float) -> tuple[float, float]:
        return min(max(x, 0.0), self.width), min(max(y, 0.0), self.height)

    def spawn_point(self, rng: random.Random) -> tuple[float, float]:
        """A point of the spawn area (uniform over the disc)."""
        if self.spawn_radius <= 0:
            return self.spawn_x, self.spawn_y
        angle = rng.uniform(0.0, math.tau)
        distance = self.spawn_radius * math.sqrt(rng.random())
        return self.clamp(
            self.spawn_x + math.cos(angle) * distance, self.spawn_y + math.sin(angle) * distance
        )

    def portal_at(self, x: float, y: float) -> Portal | None:
        for portal in self.portals:
            if portal.contains(x, y):
                return portal
        return None


@dataclass(frozen=True, slots=True)
class XpCurve:
    """Total XP to reach a level: ``base * (level - 1) ** exponent``, up to ``max_level``."""

    base: float = 100.0
    exponent: float = 1.5
    max_level: int = 60

    def xp_to_reach(self, level: int) -> int:
        return int(self.base * (level - 1) ** self.exponent)

    def level_for(self, xp: int) -> int:
        level = 1
        while level < self.max_level and xp >= self.xp_to_reach(level + 1):
            level += 1
        return level


@dataclass(frozen=True, slots=True)
class Rules:
    """Tunable limits of the engine. Distances in world units, times in seconds."""

    max_speed: float = 8.0
    # Movement is paid from a distance budget that refills at max_speed * speed_tolerance
    # per second and holds at most max_speed * move_budget_s, so network jitter (two moves
    # arriving close together) is not mistaken for speeding.
    speed_tolerance: float = 1.25
    move_budget_s: float = 1.0
    range_tolerance: float = 1.0
    player_respawn_s: float = 5.0
    regen_per_s: int = 2
    out_of_combat_s: float = 5.0
    player_kill_xp: int = 25


@dataclass(frozen=True, slots=True)
class Message:
    """A custom client message: ``{"type": name, "seq": n, <fields>}``, validated against
    ``fields`` before its handler (``@game.on_message(name)``) runs in the tick."""

    name: str
    fields: tuple[Field, ...] = ()
    description: str = ""

    def parse(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The message's data from a decoded client message (a missing field takes its
        default; unknown keys are ignored). Raises :class:`ValueError` saying what is wrong."""
        return {f.name: f.check(body.get(f.name, f.default)) for f in self.fields}

    def describe(self) -> dict[str, Any]:
        """The message as announced to clients in ``welcome``."""
        return {
            "type": self.name,
            "fields": [f.describe() for f in self.fields],
            "description": self.description,
        }


HOOKS = (
    "on_start",
    "on_join",
    "on_leave",
    "on_tick",
    "on_damage",
    "on_death",
    "on_chat_command",
    "on_portal",
    "on_use_item",
)

F = TypeVar("F", bound=Callable[..., Any])


class Game:
    """One game: its declarations and its hooks. A game module creates one, named ``game``.

    Hooks are registered with the decorators (``@game.on_join``); each hook has one
    function. :meth:`check` validates the whole declaration.
    """

    def __init__(
        self,
        name: str,
        *,
        zones: Iterable[ZoneSpec],
        classes: Iterable[PlayerClass],
        skills: Iterable[Skill] = (),
        npcs: Iterable[NpcKind] = (),
        fields: Iterable[Field] = (),
        xp_curve: XpCurve | None = None,
        rules: Rules | None = None,
        errors: Mapping[str, str] | None = None,
        messages: Iterable[Message] = (),
        default_brain: Brain | None = None,
        assets: Mapping[str, Any] | None = None,
        version: str = "1",
    ):
        self.name = name
        self.version = version
        self.zones = {z.zone_id: z for z in zones}
        self.classes = {c.name: c for c in classes}
        self.skills = {s.skill_id: s for s in skills}
        self.npc_kinds = {k.name: k for k in npcs}
        self.fields = tuple(fields)
        self.xp_curve = xp_curve or XpCurve()
        self.rules = rules or Rules()
        self.messages = {m.name: m for m in messages}
        self.default_brain = default_brain
        self.assets = dict(assets or {})
        self.hooks: dict[str, Callable[..., Any]] = {}
        self.message_handlers: dict[str, Callable[..., Any]] = {}
        self.module = ""  # set by the loader: where the game came from
        self._declared_errors = dict(errors or {})

    # --- hooks ----------------------------------------------------------------------------
    def _register(self, hook: str, fn: F) -> F:
        if hook in self.hooks:
            raise GameError(f"{self.name}: {hook} is registered twice")
        self.hooks[hook] = fn
        return fn

    def on_start(self, fn: F) -> F:
        """``fn(zone)``: once, when a zone of this game starts (after its NPCs spawn)."""
        return self._register("on_start", fn)

    def on_join(self, fn: F) -> F:
        """``fn(zone, player)``: a player entered the zone."""
        return self._register("on_join", fn)

    def on_leave(self, fn: F) -> F:
        """``fn(zone, player)``: a player is leaving; what it changes is saved."""
        return self._register("on_leave", fn)

    def on_tick(self, fn: F) -> F:
        """``fn(zone, dt)``: once per tick, after inputs, NPCs and timers."""
        return self._register("on_tick", fn)

    def on_damage(self, fn: F) -> F:
        """``fn(zone, target, amount, source, skill) -> int | None``: before damage lands;
        return a new amount to change it."""
        return self._register("on_damage", fn)

    def on_death(self, fn: F) -> F:
        """``fn(zone, victim, killer)``: after a death (XP and loot already awarded)."""
        return self._register("on_death", fn)

    def on_chat_command(self, fn: F) -> F:
        """``fn(zone, player, command, args) -> str | dict | None``: a chat line starting
        with ``/``; the return value is the reply in the ``ack``."""
        return self._register("on_chat_command", fn)

    def on_portal(self, fn: F) -> F:
        """``fn(zone, player, portal) -> bool | None``: return False to keep the player."""
        return self._register("on_portal", fn)

    def on_use_item(self, fn: F) -> F:
        """``fn(zone, player, item) -> dict | None``: the item is already taken from the
        inventory; raise :class:`Reject` to refuse (the item is given back)."""
        return self._register("on_use_item", fn)

    def on_message(self, name: str) -> Callable[[F], F]:
        """``fn(zone, player, data) -> dict | None`` for the custom message ``name``."""

        def register(fn: F) -> F:
            if name in self.message_handlers:
                raise GameError(f"{self.name}: a handler for message {name!r} exists")
            self.message_handlers[name] = fn
            return fn

        return register

    # --- lookups --------------------------------------------------------------------------
    @property
    def errors(self) -> dict[str, str]:
        """Error codes this game may send: declared ones plus ``not_enough_<field>`` for
        every field a skill costs."""
        codes = dict(self._declared_errors)
        for skill in self.skills.values():
            for stat in skill.cost:
                codes.setdefault(f"not_enough_{stat}", f"not enough {stat}")
        return codes

    @property
    def default_class(self) -> PlayerClass:
        return next(iter(self.classes.values()))

    def player_class(self, name: str | None) -> PlayerClass:
        return self.classes.get(name or "", self.default_class)

    def first_zone(self) -> ZoneSpec:
        return self.zones[min(self.zones)]

    # --- validation -----------------------------------------------------------------------
    def check(self, core_error_codes: Iterable[str] = ()) -> None:
        """Raise :class:`GameError` naming the first inconsistent declaration."""
        problems = list(self._problems(set(core_error_codes)))
        if problems:
            raise GameError(f"game {self.name!r}: " + "; ".join(problems))

    def _problems(self, core_codes: set[str]) -> Iterable[str]:
        yield from _zone_problems(self)
        yield from _class_problems(self)
        yield from _npc_problems(self)
        yield from _skill_problems(self)
        for code in self._declared_errors:
            if not NAME.match(code):
                yield f"error code {code!r} must be lower_snake_case (at most 32 characters)"
            if code in core_codes:
                yield f"error code {code!r} is a core code"
        for name in self.messages:
            if not NAME.match(name) or name in CORE_CLIENT_TYPES:
                yield f"message {name!r} must be a lower_snake_case name that is not core"
            if name not in self.message_handlers:
                yield f"message {name!r} has no @game.on_message handler"
        for name in self.message_handlers:
            if name not in self.messages:
                yield f"@game.on_message({name!r}) handles an undeclared message"
        names = [f.name for f in self.fields]
        for name in {n for n in names if names.count(n) > 1}:
            yield f"field {name!r} is declared twice"
        if "class" in names:
            yield "field 'class' is the engine's (the character's class): choose another name"


def _zone_problems(game: Game) -> Iterable[str]:
    if not game.zones:
        yield "it declares no zones"
    for zone in game.zones.values():
        if zone.zone_id < 1 or zone.width <= 0 or zone.height <= 0 or zone.cell_size <= 0:
            yield f"zone {zone.name!r} needs an id >= 1 and a positive size and cell size"
        for spawn in zone.npc_spawns:
            if spawn.kind not in game.npc_kinds:
                yield f"zone {zone.name!r} spawns unknown NPC kind {spawn.kind!r}"
        for portal in zone.portals:
            if portal.target_zone not in game.zones:
                yield f"a portal of zone {zone.name!r} leads to unknown zone {portal.target_zone}"
    names = [z.name for z in game.zones.values()]
    for name in {n for n in names if names.count(n) > 1}:
        yield f"zone name {name!r} is used twice"


def _class_problems(game: Game) -> Iterable[str]:
    if not game.classes:
        yield "it declares no player classes"
    top = game.xp_curve.max_level
    if not 1 <= top <= MAX_WIRE_LEVEL:
        yield f"xp_curve.max_level {top} is outside the wire range 1..{MAX_WIRE_LEVEL}"
    for cls in game.classes.values():
        for skill_id in cls.skills:
            if skill_id not in game.skills:
                yield f"class {cls.name!r} uses unknown skill {skill_id}"
        hp = cls.hp_max_for(top)
        if not cls.hp_max_for(1) > 0 or hp > MAX_WIRE_HP:
            yield (
                f"class {cls.name!r} reaches hp_max {hp} at level {top}, outside the wire "
                f"range 1..{MAX_WIRE_HP}"
            )


def _npc_problems(game: Game) -> Iterable[str]:
    for kind in game.npc_kinds.values():
        if not 0 < kind.hp <= MAX_WIRE_HP:
            yield f"NPC kind {kind.name!r} has hp {kind.hp}, outside the wire range 1..65535"
        if not 1 <= kind.level <= MAX_WIRE_LEVEL:
            yield f"NPC kind {kind.name!r} has level {kind.level}, outside 1..{MAX_WIRE_LEVEL}"
        if kind.brain is None and game.default_brain is None:
            yield f"NPC kind {kind.name!r} has no brain and the game no default_brain"


def _skill_problems(game: Game) -> Iterable[str]:
    int_fields = {f.name for f in game.fields if f.type is int}
    for skill in game.skills.values():
        if skill.skill_id < 1 or skill.range < 0 or skill.cooldown_s < 0:
            yield f"skill {skill.name!r} needs an id >= 1 and a range and cooldown >= 0"
        for stat, amount in skill.cost.items():
            if stat not in int_fields or amount < 0:
                yield f"skill {skill.name!r} costs {stat!r}, which is not an int field"
