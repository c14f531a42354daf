"""Game rules as data: skills, NPC kinds, movement limits, levels."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Skill:
    skill_id: int
    name: str
    range: float  # world units
    damage: int
    cooldown_s: float


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
    drops: tuple[tuple[str, int], ...] = ()


SKILLS: dict[int, Skill] = {
    1: Skill(1, "strike", range=4.0, damage=12, cooldown_s=1.0),
    2: Skill(2, "arrow", range=24.0, damage=8, cooldown_s=1.5),
    3: Skill(3, "fireball", range=18.0, damage=20, cooldown_s=4.0),
}

NPC_KINDS: dict[str, NpcKind] = {
    "rat": NpcKind(
        "rat",
        hp=40,
        damage=3,
        attack_range=3.0,
        attack_cooldown_s=2.0,
        speed=3.0,
        xp=15,
        level=1,
        drops=(("rat_tail", 1),),
    ),
    "wolf": NpcKind(
        "wolf",
        hp=90,
        damage=7,
        attack_range=3.5,
        attack_cooldown_s=1.5,
        speed=5.0,
        xp=40,
        level=3,
        drops=(("wolf_pelt", 1), ("gold", 3)),
    ),
    "goblin": NpcKind(
        "goblin",
        hp=140,
        damage=10,
        attack_range=3.5,
        attack_cooldown_s=1.8,
        speed=4.0,
        xp=70,
        level=5,
        drops=(("goblin_ear", 1), ("gold", 10)),
    ),
}


@dataclass(frozen=True, slots=True)
class Rules:
    """Tunable limits of the simulation. Distances in world units, times in seconds."""

    max_speed: float = 8.0
    # Movement is paid from a distance budget that refills at max_speed * speed_tolerance
    # per second and holds at most max_speed * move_budget_s, so network jitter (two moves
    # arriving close together) is not mistaken for speeding.
    speed_tolerance: float = 1.25
    move_budget_s: float = 1.0
    range_tolerance: float = 1.0
    player_respawn_s: float = 5.0
    npc_respawn_s: float = 10.0
    regen_per_s: int = 2
    out_of_combat_s: float = 5.0
    npc_leash: float = 40.0  # how far an NPC follows an attacker from its spawn point
    npc_wander_radius: float = 20.0
    player_kill_xp: int = 25
    base_hp: int = 100
    hp_per_level: int = 10
    max_level: int = 60
    skills: dict[int, Skill] = field(default_factory=lambda: dict(SKILLS))
    npc_kinds: dict[str, NpcKind] = field(default_factory=lambda: dict(NPC_KINDS))

    def hp_max_for(self, level: int) -> int:
        return self.base_hp + self.hp_per_level * (level - 1)

    def xp_to_reach(self, level: int) -> int:
        """Total XP a character needs to be ``level``."""
        return int(100 * (level - 1) ** 1.5)

    def level_for(self, xp: int) -> int:
        level = 1
        while level < self.max_level and xp >= self.xp_to_reach(level + 1):
            level += 1
        return level
