"""The simulation step: ``step(world, inputs, now, dt)``, the one place the world changes.

How it works. The zone's tick collects every input that arrived since the last tick
(:class:`Inputs`: moves in three flat lists, other actions in arrival order), then one call
runs, in this order:

1. moves, validated together (:func:`openmmo.sim.movement.apply_moves`), then the portal
   check for players who moved (``on_portal``);
2. actions in arrival order — skills, custom messages (``on_message``), chat commands
   (``on_chat_command``), item uses (``on_use_item``) — each answered by a :class:`Reply`;
3. respawns that are due, regeneration (once a second), NPC brains;
4. the game's timers that are due, then ``on_tick``;
5. changed declared fields become ``stats`` events; hooks that overran their budget too
   often are disabled (an announcement).

Every call into game code goes through the world's :class:`~openmmo.sim.hooks.HookRunner`, so
a hook that raises costs one call. Replication reads the world after the step.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from openmmo.sim import facade
from openmmo.sim.combat import use_skill
from openmmo.sim.declare import Portal, Reject
from openmmo.sim.events import Announcement, Respawn, StatsChanged
from openmmo.sim.movement import apply_moves
from openmmo.sim.schema import EVERYONE, NOBODY, CharacterState
from openmmo.sim.world import FLAG_DEAD, Actor, EntityKind, World

_FAILED = object()


@dataclass(frozen=True, slots=True)
class SkillInput:
    entity_id: int
    seq: int
    target_id: int
    skill_id: int


@dataclass(frozen=True, slots=True)
class MessageInput:
    """A custom message of the game (already validated against its declaration)."""

    entity_id: int
    seq: int
    name: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CommandInput:
    """A chat line starting with ``/``: ``/command args``."""

    entity_id: int
    seq: int
    command: str
    args: str


@dataclass(frozen=True, slots=True)
class ItemInput:
    """An item the player used (already taken from its inventory)."""

    entity_id: int
    seq: int
    item: str


Action = SkillInput | MessageInput | CommandInput | ItemInput


@dataclass(slots=True)
class Inputs:
    """One tick's inputs. Moves are kept as flat lists of world slots (one per player-move is
    the hot path; a slot is valid for the whole tick: characters enter before the inputs are
    gathered and leave after the step)."""

    move_slots: list[int] = field(default_factory=list)
    move_x: list[float] = field(default_factory=list)
    move_y: list[float] = field(default_factory=list)
    move_at: list[float] = field(default_factory=list)  # arrival times (monotonic)
    actions: list[Action] = field(default_factory=list)

    def move(self, slot: int, x: float, y: float, at: float) -> None:
        self.move_slots.append(slot)
        self.move_x.append(x)
        self.move_y.append(y)
        self.move_at.append(at)


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to one action: ``result`` for an ``ack``, or the ``error`` that refused it."""

    action: Action
    result: dict[str, Any] | None = None
    error: Reject | None = None


@dataclass(slots=True)
class StepResult:
    replies: list[Reply] = field(default_factory=list)
    portals: list[tuple[int, Portal]] = field(default_factory=list)  # entity id, portal


def step(world: World, inputs: Inputs, now: float, dt: float) -> StepResult:
    """Advance ``world`` by one tick with ``inputs``; see the module docstring."""
    world.tick += 1
    world.now = now
    world.dt = dt
    result = StepResult()
    _apply_moves(world, inputs, result)
    for action in inputs.actions:
        result.replies.append(_act(world, action))
    _respawn_due(world, now)
    if now >= world.next_regen_at:
        _regenerate(world, now)
        world.next_regen_at = now + 1.0
    _think(world, dt)
    _run_timers(world, now)
    hook = world.game.hooks.get("on_tick")
    if hook is not None:
        world.hooks.call("on_tick", hook, facade.Zone.of(world), dt)
    _flush_stats(world)
    for disabled in world.hooks.end_tick(world.tick):
        world.emit(Announcement(f"game hook {disabled.hook} was disabled: it {disabled.reason}"))
    return result


def _apply_moves(world: World, inputs: Inputs, result: StepResult) -> None:
    if not inputs.move_slots:
        return
    moved = apply_moves(world, inputs.move_slots, inputs.move_x, inputs.move_y, inputs.move_at)
    if world.spec.portals:
        _check_portals(world, moved, result)


def _check_portals(world: World, moved: np.ndarray[Any, Any], result: StepResult) -> None:
    alive = moved[(world.flags[moved] & FLAG_DEAD) == 0]
    x, y = world.x[alive], world.y[alive]
    hook = world.game.hooks.get("on_portal")
    for portal in world.spec.portals:
        inside = alive[(x >= portal.x0) & (x <= portal.x1) & (y >= portal.y0) & (y <= portal.y1)]
        for slot in inside.tolist():
            actor = world.actor_at(slot)
            if actor is None or actor.kind is not EntityKind.PLAYER:
                continue
            if hook is not None:
                verdict = world.hooks.call(
                    "on_portal",
                    hook,
                    facade.Zone.of(world),
                    facade.handle(world, actor),
                    portal,
                    entity_id=actor.entity_id,
                )
                if verdict is False:
                    continue
            result.portals.append((actor.entity_id, portal))


def _act(world: World, action: Action) -> Reply:
    try:
        if isinstance(action, SkillInput):
            out = use_skill(world, action.entity_id, action.target_id, action.skill_id, world.now)
            return Reply(action, out)
        return Reply(action, _run_game_action(world, action))
    except Reject as exc:
        return Reply(action, error=exc)


def _run_game_action(world: World, action: MessageInput | CommandInput | ItemInput) -> Any:
    actor = world.actor(action.entity_id)
    zone, player = facade.Zone.of(world), facade.handle(world, actor)
    game = world.game
    args: tuple[Any, ...]
    if isinstance(action, MessageInput):
        hook, args = f"on_message:{action.name}", (action.data,)
        fn = game.message_handlers.get(action.name)
    elif isinstance(action, CommandInput):
        hook, args = "on_chat_command", (action.command, action.args)
        fn = game.hooks.get(hook)
    else:
        hook, args = "on_use_item", (action.item,)
        fn = game.hooks.get(hook)
    if fn is None or not world.hooks.enabled(hook):
        raise Reject("unavailable", f"{hook} is not available in this game right now")
    out = world.hooks.call(
        hook, fn, zone, player, *args, entity_id=action.entity_id, on_error=_FAILED
    )
    if out is _FAILED:
        raise Reject("internal", "the game failed to handle this; it was reported")
    if isinstance(action, CommandInput):
        if out is None:
            raise Reject("unknown_command", f"no command /{action.command}")
        return {"reply": out} if isinstance(out, str) else dict(out)
    return None if out is None else dict(out)


def _respawn_due(world: World, now: float) -> None:
    queue = world.respawn_queue
    while queue and queue[0][0] <= now:
        _, entity_id = heapq.heappop(queue)
        actor = world.actors.get(entity_id)
        if actor is None or actor.respawn_at is None or actor.respawn_at > now:
            continue  # left the world, or died again and has a later respawn queued
        slot = actor.slot
        actor.respawn_at = None
        if actor.kind is EntityKind.NPC:
            x, y = actor.home_x, actor.home_y
        else:
            x, y = world.spec.spawn_point(world.rng)
        world.x[slot], world.y[slot] = x, y
        world.hp[slot] = world.hp_max[slot]
        world.flags[slot] &= ~np.uint8(FLAG_DEAD)
        world.emit(Respawn(entity_id, x, y, int(world.hp[slot])))


def _regenerate(world: World, now: float) -> None:
    alive = (world.flags & FLAG_DEAD) == 0
    mask = world.used & alive & (world.combat_until <= now) & (world.hp < world.hp_max)
    if mask.any():
        world.hp[mask] = np.minimum(world.hp[mask] + world.rules.regen_per_s, world.hp_max[mask])


def _think(world: World, dt: float) -> None:
    if not world.npc_ids:
        return
    zone = facade.Zone.of(world)
    default = world.game.default_brain
    for entity_id in list(world.npc_ids):
        actor = world.actors.get(entity_id)
        if actor is None or world.is_dead(actor.slot) or actor.npc_kind is None:
            continue
        brain = actor.npc_kind.brain or default
        if brain is not None:
            world.hooks.call(
                f"brain:{actor.npc_kind.name}",
                brain.think,
                zone,
                facade.handle(world, actor),
                dt,
                entity_id=entity_id,
            )


def _run_timers(world: World, now: float) -> None:
    timers = world.timers
    while timers and timers[0].due <= now:
        timer = heapq.heappop(timers)
        if timer.cancelled:
            continue
        world.hooks.call("timer", timer.fn, *timer.args)
        if timer.interval > 0 and not timer.cancelled:
            timer.due += timer.interval
            if timer.due <= now:  # fell behind: skip what was missed rather than burst
                timer.due = now + timer.interval
            heapq.heappush(timers, timer)


def _flush_stats(world: World) -> None:
    if not world.changed:
        return
    schema = world.schema
    for actor in world.changed:
        if world.actor_at(actor.slot) is not actor:
            actor.changed.clear()
            continue
        owner, public = {}, {}
        for name in actor.changed:
            visible = schema.visibility(name)
            if visible is NOBODY:
                continue
            owner[name] = actor.stats[name]
            if visible is EVERYONE:
                public[name] = actor.stats[name]
        actor.changed.clear()
        if owner:
            slot = actor.slot
            world.emit(
                StatsChanged(
                    actor.entity_id, owner, public, float(world.x[slot]), float(world.y[slot])
                )
            )
    world.changed.clear()


# --- entering and leaving: run by the zone's tick, before the step ------------------------
def start(world: World, now: float, *, spawn: bool = True) -> None:
    """Place the zone's NPCs around their spawn points (unless ``spawn`` is false: tests
    that place their own), then run ``on_start``."""
    world.now = now
    for spawn_point in world.spec.npc_spawns if spawn else ():
        kind = world.game.npc_kinds[spawn_point.kind]
        for _ in range(spawn_point.count):
            angle = world.rng.uniform(0.0, math.tau)
            distance = world.rng.uniform(0.0, spawn_point.radius)
            world.add_npc(
                kind,
                spawn_point.x + math.cos(angle) * distance,
                spawn_point.y + math.sin(angle) * distance,
                now,
            )
    hook = world.game.hooks.get("on_start")
    if hook is not None:
        world.hooks.call("on_start", hook, facade.Zone.of(world))


def enter(world: World, entity_id: int, name: str, state: CharacterState, now: float) -> Actor:
    """Put a character into the world at ``state``'s position, then run ``on_join``."""
    actor = world.add_player(
        entity_id, name, state.x, state.y, state.hp, state.level, state.xp, now, dict(state.stats)
    )
    hook = world.game.hooks.get("on_join")
    if hook is not None:
        world.hooks.call(
            "on_join", hook, facade.Zone.of(world), facade.handle(world, actor), entity_id=entity_id
        )
    return actor


def leave(world: World, entity_id: int) -> CharacterState:
    """Run ``on_leave``, then take the character out; returns what to save."""
    actor = world.actors[entity_id]
    hook = world.game.hooks.get("on_leave")
    if hook is not None:
        world.hooks.call(
            "on_leave",
            hook,
            facade.Zone.of(world),
            facade.handle(world, actor),
            entity_id=entity_id,
        )
    return world.remove(entity_id)
