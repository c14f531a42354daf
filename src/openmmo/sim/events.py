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


SimEvent = Hit | Death | Respawn | XpGain | LevelUp | Loot
