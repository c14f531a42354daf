"""The test kit for game teams: run one zone of a game with no sockets and a manual clock.

::

    from openmmo.testing import GameZone

    def test_a_rat_drops_its_tail():
        zone = GameZone("default", zone="town")
        hero = zone.add_player("Hero", x=100, y=100)
        rat = zone.spawn("rat", 102, 100)
        while rat.alive:
            zone.attack(hero, rat, "strike")
            zone.sleep(1.0)
        assert zone.items_given(hero) == {"rat_tail": 1}

Inputs go through the same code as the server's (:func:`openmmo.sim.step.step`), custom
messages are validated against their declarations as the server validates them, and every
hook runs contained: :attr:`GameZone.hook_failures` lists what raised.
"""

from __future__ import annotations

from typing import Any

from openmmo.game.loader import load_game
from openmmo.sim.declare import Game, Reject
from openmmo.sim.events import GameEvent, Loot, SimEvent
from openmmo.sim.facade import Npc, Player, Zone, handle_npc, handle_player
from openmmo.sim.hooks import HookDisabled, HookFailure
from openmmo.sim.schema import CharacterState
from openmmo.sim.step import (
    CommandInput,
    Inputs,
    ItemInput,
    MessageInput,
    Reply,
    SkillInput,
    enter,
    leave,
    start,
    step,
)
from openmmo.sim.world import World


class GameZone:
    """One zone of ``game`` (a :class:`Game`, or a name as ``OPENMMO_GAME`` takes it)."""

    def __init__(
        self,
        game: Game | str = "default",
        zone: int | str | None = None,
        *,
        seed: int = 0,
        tick_rate_hz: float = 20.0,
        spawn_npcs: bool = True,  # False: the zone's spawns are skipped (on_start still runs)
        start_time_s: float = 1000.0,
    ):
        self.game = load_game(game) if isinstance(game, str) else game
        if isinstance(game, Game):
            game.check()
        spec = self._spec(zone)
        self.world = World(spec, self.game, seed=seed)
        self.dt = 1.0 / tick_rate_hz
        self.now = start_time_s
        self.events: list[SimEvent] = []
        self.replies: list[Reply] = []
        self.hook_failures: list[HookFailure] = []
        self.disabled_hooks: list[HookDisabled] = []
        self._inputs = Inputs()
        self._seq = 0
        self._next_player_id = 1
        start(self.world, self.now, spawn=spawn_npcs)
        self._collect()

    def _spec(self, zone: int | str | None) -> Any:
        if zone is None:
            return self.game.first_zone()
        for spec in self.game.zones.values():
            if zone in (spec.zone_id, spec.name):
                return spec
        raise KeyError(f"game {self.game.name!r} has no zone {zone!r}")

    @property
    def zone(self) -> Zone:
        """The facade hooks see, for asserting on state."""
        return Zone.of(self.world)

    # --- entities -------------------------------------------------------------------------
    def add_player(
        self,
        name: str | None = None,
        x: float | None = None,
        y: float | None = None,
        *,
        cls: str | None = None,
        level: int = 1,
        xp: int = 0,
        hp: int = 0,
        stats: dict[str, Any] | None = None,
        entity_id: int | None = None,
    ) -> Player:
        """A player enters (``on_join`` runs). Omitted coordinates: the zone's spawn point."""
        entity_id = entity_id or self._next_player_id
        self._next_player_id = max(self._next_player_id, entity_id) + 1
        spec = self.world.spec
        saved = dict(stats or {})
        if cls is not None:
            saved["class"] = cls
        state = CharacterState(
            spec.zone_id,
            spec.spawn_x if x is None else x,
            spec.spawn_y if y is None else y,
            hp,
            level,
            xp,
            saved,
        )
        actor = enter(self.world, entity_id, name or f"P{entity_id}", state, self.now)
        self._collect()
        return handle_player(self.world, actor)

    def remove_player(self, player: Player) -> CharacterState:
        """The player leaves (``on_leave`` runs); returns what the server would save."""
        saved = leave(self.world, player.id)
        self._collect()
        return saved

    def spawn(self, kind: str, x: float, y: float) -> Npc:
        return self.zone.spawn(kind, x, y)

    def npc(self, kind: str) -> Npc:
        """The first NPC of ``kind`` in the zone."""
        for entity_id in sorted(self.world.npc_ids):
            actor = self.world.actors[entity_id]
            if actor.npc_kind is not None and actor.npc_kind.name == kind:
                return handle_npc(self.world, actor)
        raise LookupError(f"no {kind} in {self.world.spec.name}")

    # --- inputs (each runs one tick and returns its reply) --------------------------------
    def move(self, player: Player, x: float, y: float) -> None:
        """Queue a move for the next tick (several may be queued)."""
        slot = self.world.actors[player.id].slot
        self._inputs.move(slot, x, y, self.now + self.dt)

    def attack(self, player: Player, target: Any, skill: int | str = 1) -> Reply:
        skill_id = skill if isinstance(skill, int) else self._skill_id(skill)
        return self._act(SkillInput(player.id, self._next_seq(), target.id, skill_id))

    def send(self, player: Player, message: str, **data: Any) -> Reply:
        """A custom message, validated against its declaration (ValueError if it breaks it,
        as the server would answer ``bad_message``)."""
        declared = self.game.messages.get(message)
        if declared is None:
            raise KeyError(f"the game declares no message {message!r}")
        return self._act(MessageInput(player.id, self._next_seq(), message, declared.parse(data)))

    def command(self, player: Player, line: str) -> Reply:
        """A chat command: ``"/quest"`` or ``"/roll 20"``."""
        name, _, args = line.lstrip("/").partition(" ")
        return self._act(CommandInput(player.id, self._next_seq(), name, args.strip()))

    def use_item(self, player: Player, item: str) -> Reply:
        return self._act(ItemInput(player.id, self._next_seq(), item))

    def _act(self, action: Any) -> Reply:
        self._inputs.actions.append(action)
        self.tick()
        return next(r for r in reversed(self.replies) if r.action is action)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _skill_id(self, name: str) -> int:
        for skill in self.game.skills.values():
            if skill.name == name:
                return skill.skill_id
        raise KeyError(f"no skill {name!r}")

    # --- time -----------------------------------------------------------------------------
    def tick(self, count: int = 1) -> None:
        for _ in range(count):
            self.now += self.dt
            inputs, self._inputs = self._inputs, Inputs()
            result = step(self.world, inputs, self.now, self.dt)
            self.replies.extend(result.replies)
            self._collect()

    def sleep(self, seconds: float) -> None:
        """Advance the clock by ``seconds``, one tick at a time."""
        self.tick(max(1, round(seconds / self.dt)))

    def _collect(self) -> None:
        self.events.extend(self.world.drain_events())
        for report in self.world.hooks.drain():
            self.hook_failures.extend(report.failures)
            self.disabled_hooks.extend(report.disabled)

    # --- assertions -----------------------------------------------------------------------
    def events_of(self, kind: type) -> list[Any]:
        self._collect()  # what facade calls made outside a tick emitted
        return [e for e in self.events if isinstance(e, kind)]

    def game_events(self, name: str, to: Player | None = None) -> list[dict[str, object]]:
        """Bodies of the game's own events called ``name`` (sent to ``to``, if given)."""
        return [
            e.body
            for e in self.events_of(GameEvent)
            if e.body.get("type") == name and (to is None or e.to in (to.id, None))
        ]

    def items_given(self, player: Player) -> dict[str, int]:
        """Everything granted to ``player`` (kills' loot and ``give_item``), added up."""
        total: dict[str, int] = {}
        for loot in self.events_of(Loot):
            if loot.entity_id == player.id:
                for item, quantity in loot.items:
                    total[item] = total.get(item, 0) + quantity
        return total


def rejected(reply: Reply) -> str | None:
    """The error code of a refused action, or None when it was accepted."""
    error: Reject | None = reply.error
    return None if error is None else error.code
