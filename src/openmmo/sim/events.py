"""What happened in a zone, for replication to turn into wire events."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Hit:
    attacker_id: int
    target_id: int
    skill_id: int
    damage: int
    target_hp: int
    x: float  # where the target stands: who sees the hit
    y: float


@dataclass(frozen=True, slots=True)
class Death:
    entity_id: int
    killer_id: int
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Respawn:
    entity_id: int
    x: float
    y: float
    hp: int


@dataclass(frozen=True, slots=True)
class XpGain:
    """Private to the player who gained it."""

    entity_id: int
    amount: int
    total: int


@dataclass(frozen=True, slots=True)
class LevelUp:
    entity_id: int
    level: int
    hp_max: int
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Loot:
    """A player earned items. The zone server grants them in the database and tells the
    player only once that has committed."""

    entity_id: int
    items: tuple[tuple[str, int], ...]
    source: str


@dataclass(frozen=True, slots=True)
class StatsChanged:
    """Declared fields of a player changed this tick: ``owner`` goes to the player,
    ``public`` to everyone near it."""

    entity_id: int
    owner: dict[str, object]
    public: dict[str, object]
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class GameEvent:
    """An event a game sent (``zone.send_event`` and friends). ``to`` is an entity id, a
    point (everyone near it) or None (everyone in the zone)."""

    body: dict[str, object]
    to: int | tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class Announcement:
    """A line for everyone in the zone (a hook was disabled, or the game announced)."""

    message: str


SimEvent = Hit | Death | Respawn | XpGain | LevelUp | Loot | StatsChanged | GameEvent | Announcement
