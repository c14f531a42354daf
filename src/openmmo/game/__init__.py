"""The game API: everything a game module imports.

Kind: **public API** (pure; re-exports :mod:`openmmo.sim`). A game is a module or package
that creates one :class:`Game` named ``game``, declares its zones, classes, skills, NPC kinds,
loot, XP curve, fields, error codes and custom messages, and registers hooks::

    from openmmo.game import Game, NpcKind, PlayerClass, Skill, Spawn, ZoneSpec, brains

    game = Game(
        "mygame",
        zones=[ZoneSpec(1, "meadow", 512, 512, 256, 256, pvp=False,
                        npc_spawns=(Spawn("slime", 300, 300, count=5, radius=20),))],
        classes=[PlayerClass("hero", skills=(1,))],
        skills=[Skill(1, "bonk", range=3, cooldown_s=1, damage=10)],
        npcs=[NpcKind("slime", hp=30, damage=2, attack_range=2, attack_cooldown_s=2,
                      speed=2, xp=10, level=1, brain=brains.Wanderer())],
    )

    @game.on_join
    def greet(zone, player):
        player.send_event("greeting", text=f"welcome to {zone.name}")

Run it with ``OPENMMO_GAME=mygame openmmo up``. Hooks see the facade (:class:`Zone`,
:class:`Player`, :class:`Npc`), never the arrays behind it; each call is contained (a hook
that raises costs one call) and timed. The reference is ``docs/reference/game-api.md``.
"""

from openmmo.game.loader import load_game
from openmmo.sim import brains
from openmmo.sim.declare import (
    HOOKS,
    Brain,
    Drop,
    Game,
    GameError,
    Loot,
    Message,
    NpcKind,
    PlayerClass,
    Portal,
    Reject,
    Rules,
    Skill,
    Spawn,
    Target,
    XpCurve,
    ZoneSpec,
)
from openmmo.sim.facade import Entity, Npc, Player, Stats, Timer, Zone
from openmmo.sim.schema import EVERYONE, NOBODY, OWNER, CharacterState, Field, Visibility

__all__ = [
    "EVERYONE",
    "HOOKS",
    "NOBODY",
    "OWNER",
    "Brain",
    "CharacterState",
    "Drop",
    "Entity",
    "Field",
    "Game",
    "GameError",
    "Loot",
    "Message",
    "Npc",
    "NpcKind",
    "Player",
    "PlayerClass",
    "Portal",
    "Reject",
    "Rules",
    "Skill",
    "Spawn",
    "Stats",
    "Target",
    "Timer",
    "Visibility",
    "XpCurve",
    "Zone",
    "ZoneSpec",
    "brains",
    "load_game",
]
