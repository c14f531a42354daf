"""What the default world is made of: zones, classes, skills, monsters and their loot."""

from __future__ import annotations

from openmmo.game import (
    EVERYONE,
    OWNER,
    Drop,
    Entity,
    Field,
    Loot,
    NpcKind,
    Player,
    PlayerClass,
    Portal,
    Skill,
    Spawn,
    Target,
    Zone,
    ZoneSpec,
    brains,
)

TOWN = ZoneSpec(
    zone_id=1,
    name="town",
    width=1024.0,
    height=1024.0,
    spawn_x=512.0,
    spawn_y=512.0,
    pvp=False,
    spawn_radius=300.0,
    npc_spawns=(
        Spawn("rat", 560.0, 540.0, count=4, radius=15.0),
        Spawn("rat", 430.0, 470.0, count=4, radius=15.0),
    ),
    portals=(
        Portal(1004.0, 492.0, 1024.0, 532.0, target_zone=2, arrival_x=40.0, arrival_y=1024.0),
    ),
)

WILDS = ZoneSpec(
    zone_id=2,
    name="wilds",
    width=2048.0,
    height=2048.0,
    spawn_x=1024.0,
    spawn_y=1024.0,
    pvp=True,
    spawn_radius=500.0,
    npc_spawns=(
        Spawn("wolf", 1080.0, 1060.0, count=6, radius=25.0),
        Spawn("wolf", 900.0, 1150.0, count=6, radius=25.0),
        Spawn("goblin", 1300.0, 800.0, count=8, radius=30.0),
        Spawn("rat", 1000.0, 990.0, count=4, radius=10.0),
    ),
    portals=(Portal(0.0, 1004.0, 20.0, 1044.0, target_zone=1, arrival_x=984.0, arrival_y=512.0),),
)


def mend(zone: Zone, caster: Player, target: Entity, skill: Skill) -> dict[str, int]:
    """The mage's heal: 25 HP to a player (or the caster)."""
    return {"healed": zone.heal(target, 25)}


SKILLS = [
    Skill(1, "strike", range=4.0, cooldown_s=1.0, damage=12),
    Skill(2, "arrow", range=24.0, cooldown_s=1.5, damage=8),
    Skill(3, "fireball", range=18.0, cooldown_s=4.0, damage=20),
    Skill(4, "frostbolt", range=20.0, cooldown_s=1.2, damage=14, cost={"mana": 8}),
    Skill(
        5, "mend", range=12.0, cooldown_s=3.0, target=Target.ALLY, cost={"mana": 15}, effect=mend
    ),
]

CLASSES = [
    # The first class is the default: characters made before classes existed are adventurers.
    PlayerClass("adventurer", skills=(1, 2, 3), base_hp=100, hp_per_level=10),
    PlayerClass("mage", skills=(2, 4, 5), base_hp=80, hp_per_level=8),
]

NPCS = [
    NpcKind(
        "rat",
        hp=40,
        damage=3,
        attack_range=3.0,
        attack_cooldown_s=2.0,
        speed=3.0,
        xp=15,
        level=1,
        brain=brains.Skittish(flee_below=0.4),
        loot=Loot((Drop("rat_tail"), Drop("health_potion", chance=0.2))),
    ),
    NpcKind(
        "wolf",
        hp=90,
        damage=7,
        attack_range=3.5,
        attack_cooldown_s=1.5,
        speed=5.0,
        xp=40,
        level=3,
        brain=brains.Wanderer(),
        loot=Loot((Drop("wolf_pelt"), Drop("gold", 3))),
    ),
    NpcKind(
        "goblin",
        hp=140,
        damage=10,
        attack_range=3.5,
        attack_cooldown_s=1.8,
        speed=4.0,
        xp=70,
        level=5,
        brain=brains.Aggressive(sight=10.0),
        loot=Loot((Drop("goblin_ear"), Drop("gold", 10), Drop("mana_potion", chance=0.3))),
    ),
]

MAX_MANA = 200
RATS_FOR_QUEST = 5

FIELDS = [
    Field("mana", int, 100, min=0, max=MAX_MANA, visible=OWNER, description="Spent by spells."),
    Field("quest", str, "rat_problem", max_chars=32, visible=OWNER, description="Current quest."),
    Field("rats_slain", int, 0, min=0, max=RATS_FOR_QUEST, visible=OWNER),
    Field("title", str, "", max_chars=24, visible=EVERYONE, description="Earned by quests."),
]
