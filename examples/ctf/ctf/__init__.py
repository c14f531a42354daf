"""Capture the flag: two teams, two flags, a score and a round timer, on OpenMMO.

A deliberately different game from the default world: one small arena, no monsters, no
levelling to speak of — players join the smaller team, run to the other team's flag (an NPC
whose brain follows its carrier), and bring it home while their own flag is at home. Tagging
the carrier drops the flag where it fell; touching your own dropped flag sends it home. A
round lasts ``ROUND_S`` seconds; the team with more captures wins and everything resets.

Run it: ``pip install -e examples/ctf`` (or ``PYTHONPATH=examples/ctf``), then
``OPENMMO_GAME=ctf openmmo up``. It uses only :mod:`openmmo.game`.
"""

from __future__ import annotations

from typing import Any

from openmmo.game import (
    EVERYONE,
    Brain,
    Entity,
    Field,
    Game,
    Message,
    Npc,
    NpcKind,
    Player,
    PlayerClass,
    Reject,
    Rules,
    Skill,
    Zone,
    ZoneSpec,
)

ROUND_S = 180.0
TOUCH = 3.0  # how close a player must be to pick up or return a flag
PICKUP_REST_S = 2.0  # who dropped a flag cannot take it again before this
HOME = 5.0  # how close to its base a carrier must be to capture
TEAMS = ("red", "blue")
BASES = {"red": (20.0, 60.0), "blue": (180.0, 60.0)}

ARENA = ZoneSpec(
    zone_id=1,
    name="arena",
    width=200.0,
    height=120.0,
    spawn_x=100.0,
    spawn_y=60.0,
    pvp=True,
    cell_size=64.0,
)


class FollowCarrier(Brain):
    """A flag: it stays where it is, or follows whoever carries it."""

    def think(self, zone: Zone, npc: Npc, dt: float) -> None:
        carrier = zone.entity(npc.state.get("carrier", 0))
        if carrier is not None and carrier.alive:
            zone.move(npc, *carrier.position)


def flag_kind(team: str) -> NpcKind:
    return NpcKind(
        f"{team}_flag",
        hp=1000,
        damage=0,
        attack_range=0.0,
        attack_cooldown_s=1.0,
        speed=0.0,
        xp=0,
        level=1,
        brain=FollowCarrier(),
    )


game = Game(
    "ctf",
    version="1",
    zones=[ARENA],
    classes=[PlayerClass("runner", skills=(1,), base_hp=100, hp_per_level=0)],
    skills=[Skill(1, "tag", range=3.0, cooldown_s=0.8, damage=35)],
    npcs=[flag_kind(team) for team in TEAMS],
    fields=[
        Field("team", str, "", max_chars=8, visible=EVERYONE, persist=False),
        Field("captures", int, 0, min=0, visible=EVERYONE, description="Flags brought home."),
    ],
    rules=Rules(player_respawn_s=3.0, player_kill_xp=0),
    errors={"not_carrying": "you are not carrying a flag"},
    messages=[Message("drop_flag", description="Drop the flag you carry where you stand.")],
    assets={"labels": {"red_flag": "Red flag", "blue_flag": "Blue flag"}, "bases": BASES},
)


def flags(zone: Zone) -> dict[str, Npc]:
    found: dict[str, Npc] = {}
    for team, entity_id in zone.state["flags"].items():
        flag = zone.entity(entity_id)
        if isinstance(flag, Npc):
            found[team] = flag
    return found


def team_of(entity: Entity) -> str:
    return str(entity.stats["team"]) if isinstance(entity, Player) else ""


def other(team: str) -> str:
    return TEAMS[1] if team == TEAMS[0] else TEAMS[0]


@game.on_start
def start(zone: Zone) -> None:
    zone.state["flags"] = {team: zone.spawn(f"{team}_flag", *BASES[team]).id for team in TEAMS}
    new_round(zone)
    zone.every(1.0, count_down, zone)


def new_round(zone: Zone) -> None:
    zone.state["score"] = dict.fromkeys(TEAMS, 0)
    zone.state["ends_at"] = zone.now + ROUND_S
    for team, flag in flags(zone).items():
        send_home(zone, flag, team)


def count_down(zone: Zone) -> None:
    if zone.now < zone.state["ends_at"]:
        return
    score = zone.state["score"]
    red, blue = score["red"], score["blue"]
    winner = "red" if red > blue else "blue" if blue > red else "draw"
    zone.broadcast("round_over", winner=winner, score=dict(score))
    new_round(zone)


def send_home(zone: Zone, flag: Npc, team: str) -> None:
    flag.state["carrier"] = 0
    zone.move(flag, *BASES[team])


def at_home(flag: Npc, team: str) -> bool:
    return not flag.state.get("carrier") and flag.distance_to(BASES[team]) < 0.5


@game.on_join
def join(zone: Zone, player: Player) -> None:
    counts = dict.fromkeys(TEAMS, 0)
    for someone in zone.players:
        if someone != player and someone.stats["team"] in counts:
            counts[someone.stats["team"]] += 1
    team = min(TEAMS, key=lambda t: (counts[t], TEAMS.index(t)))
    player.stats["team"] = team
    zone.move(player, *BASES[team])
    score = zone.state["score"]
    player.send_event("ctf", team=team, score=dict(score), ends_in_s=round(time_left(zone)))


def time_left(zone: Zone) -> float:
    ends_at: float = zone.state["ends_at"]
    return max(ends_at - zone.now, 0.0)


@game.on_leave
def leave(zone: Zone, player: Player) -> None:
    drop_carried(zone, player)


@game.on_damage
def no_friendly_fire(
    zone: Zone, target: Entity, amount: int, source: Entity | None, skill: Skill | None
) -> int | None:
    if isinstance(target, Npc):
        return 0  # flags cannot be hurt
    if source is not None and team_of(source) == team_of(target):
        return 0
    return None


@game.on_death
def died(zone: Zone, victim: Entity, killer: Entity | None) -> None:
    if isinstance(victim, Player):
        drop_carried(zone, victim)
        victim.state["respawn_at_base"] = True


def drop_carried(zone: Zone, player: Player) -> bool:
    for flag in flags(zone).values():
        if flag.state.get("carrier") == player.id:
            flag.state["carrier"] = 0
            flag.state["dropped_by"] = player.id
            flag.state["pickup_after"] = zone.now + PICKUP_REST_S
            zone.emit_near(flag.x, flag.y, "flag_dropped", flag=flag.npc_kind.name, by=player.id)
            return True
    return False


@game.on_tick
def play(zone: Zone, dt: float) -> None:
    all_flags = flags(zone)
    for player in zone.players:
        if not player.alive:
            continue
        team = team_of(player)
        if player.state.pop("respawn_at_base", False):
            zone.move(player, *BASES[team])
        for flag_team, flag in all_flags.items():
            touch(zone, player, team, flag, flag_team, all_flags)


def touch(
    zone: Zone, player: Player, team: str, flag: Npc, flag_team: str, all_flags: dict[str, Npc]
) -> None:
    carrier = flag.state.get("carrier", 0)
    if carrier == player.id:
        own = all_flags.get(team)
        if own is not None and at_home(own, team) and player.distance_to(BASES[team]) <= HOME:
            capture(zone, player, team, flag, flag_team)
        return
    if carrier or player.distance_to(flag) > TOUCH:
        return
    if flag.state.get("dropped_by") == player.id and zone.now < flag.state["pickup_after"]:
        return
    if flag_team == team:
        if not at_home(flag, team):
            send_home(zone, flag, team)
            zone.broadcast("flag_returned", flag=flag.npc_kind.name, by=player.id)
    else:
        flag.state["carrier"] = player.id
        zone.broadcast("flag_taken", flag=flag.npc_kind.name, by=player.id)


def capture(zone: Zone, player: Player, team: str, flag: Npc, flag_team: str) -> None:
    zone.state["score"][team] += 1
    player.stats.add("captures", 1)
    send_home(zone, flag, flag_team)
    zone.broadcast("captured", team=team, by=player.id, score=dict(zone.state["score"]))


@game.on_message("drop_flag")
def drop_flag(zone: Zone, player: Player, data: dict[str, Any]) -> dict[str, bool]:
    if not drop_carried(zone, player):
        raise Reject("not_carrying", "you are not carrying a flag")
    return {"dropped": True}


@game.on_chat_command
def command(zone: Zone, player: Player, name: str, args: str) -> str | None:
    if name == "score":
        score = zone.state["score"]
        return f"red {score['red']} : {score['blue']} blue, {time_left(zone):.0f} s left"
    if name == "team":
        return f"you are {team_of(player)}"
    return None
