"""The default world's rules in play: the rat quest, mana, potions, emotes, chat commands."""

from __future__ import annotations

from typing import Any

from openmmo.game import (
    Entity,
    Field,
    Game,
    Message,
    Player,
    Reject,
    Rules,
    XpCurve,
    Zone,
    brains,
)
from openmmo.games.default.world import (
    CLASSES,
    FIELDS,
    MAX_MANA,
    NPCS,
    RATS_FOR_QUEST,
    SKILLS,
    TOWN,
    WILDS,
)

EMOTES = ("wave", "bow", "cheer", "laugh", "dance")
MANA_PER_S = 4
POTIONS = {"health_potion": 30, "mana_potion": 50}

game = Game(
    "default",
    version="2",
    zones=[TOWN, WILDS],
    classes=CLASSES,
    skills=SKILLS,
    npcs=NPCS,
    fields=FIELDS,
    xp_curve=XpCurve(base=100, exponent=1.5, max_level=60),
    rules=Rules(),
    default_brain=brains.Wanderer(),
    errors={
        "cannot_use": "that item cannot be used",
        "unknown_emote": "no such emote",
    },
    messages=[
        Message(
            "emote",
            (Field("emote", str, "wave", max_chars=16),),
            description=f"Play an emote ({', '.join(EMOTES)}) for everyone near you.",
        )
    ],
    assets={"labels": {"rat": "Rat", "wolf": "Wolf", "goblin": "Goblin"}},
)


@game.on_start
def start(zone: Zone) -> None:
    zone.state["mages"] = set()
    zone.every(1.0, regenerate_mana, zone)


@game.on_join
def joined(zone: Zone, player: Player) -> None:
    if player.player_class.name == "mage":
        zone.state["mages"].add(player.id)


@game.on_leave
def left(zone: Zone, player: Player) -> None:
    zone.state["mages"].discard(player.id)


def regenerate_mana(zone: Zone) -> None:
    for entity_id in list(zone.state["mages"]):
        mage = zone.entity(entity_id)
        if isinstance(mage, Player) and mage.alive and mage.stats["mana"] < MAX_MANA:
            mage.stats["mana"] = min(mage.stats["mana"] + MANA_PER_S, MAX_MANA)


@game.on_death
def died(zone: Zone, victim: Entity, killer: Entity | None) -> None:
    if not isinstance(killer, Player) or victim.name != "rat":
        return
    stats = killer.stats
    if stats["quest"] != "rat_problem":
        return
    slain = stats.add("rats_slain", 1)
    killer.send_event("quest", quest="rat_problem", progress=slain, goal=RATS_FOR_QUEST)
    if slain >= RATS_FOR_QUEST:
        stats["quest"] = "done"
        stats["title"] = "Ratcatcher"
        killer.give_xp(100)
        zone.give_item(killer, "gold", 25, reason="quest:rat_problem")
        killer.send_event("quest_complete", quest="rat_problem", title="Ratcatcher")


@game.on_use_item
def use_item(zone: Zone, player: Player, item: str) -> dict[str, Any]:
    if item == "health_potion":
        return {"healed": zone.heal(player, POTIONS[item])}
    if item == "mana_potion":
        before = player.stats["mana"]
        player.stats["mana"] = min(before + POTIONS[item], MAX_MANA)
        return {"mana": player.stats["mana"] - before}
    raise Reject("cannot_use", f"{item} cannot be used")


@game.on_message("emote")
def emote(zone: Zone, player: Player, data: dict[str, Any]) -> None:
    if data["emote"] not in EMOTES:
        raise Reject("unknown_emote", f"emotes: {', '.join(EMOTES)}")
    zone.emit_near(player.x, player.y, "emote", entity=player.id, emote=data["emote"])


@game.on_chat_command
def command(zone: Zone, player: Player, name: str, args: str) -> str | None:
    if name == "help":
        return "commands: /help, /quest, /who, /where"
    if name == "quest":
        stats = player.stats
        if stats["quest"] == "done":
            return "You have done the rat problem. Ratcatcher!"
        return f"The rat problem: {stats['rats_slain']} of {RATS_FOR_QUEST} rats slain."
    if name == "who":
        return f"{len(zone.players)} players in {zone.name}"
    if name == "where":
        return f"{zone.name} ({player.x:.0f}, {player.y:.0f})"
    return None
