"""Combat: skills, damage, death, XP and levels.

Three steps, each with its own place for the game: a skill use is validated by the engine
against the skill's declaration (class, target rule, range, cooldown, cost) and then runs the
skill's effect (the game's function, or plain damage); damage goes through ``on_damage``
(which may change the amount) before it lands; a death awards the declared XP and loot,
schedules the respawn, then runs ``on_death``. Respawns are timed and run by
:func:`openmmo.sim.step.step`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from typing import Any

from openmmo.sim import facade
from openmmo.sim.declare import Reject, Skill, Target
from openmmo.sim.events import Death, Hit, LevelUp, Loot, XpGain
from openmmo.sim.world import FLAG_DEAD, Actor, EntityKind, World

_FAILED = object()


def use_skill(
    world: World, caster_id: int, target_id: int, skill_id: int, now: float
) -> dict[str, Any]:
    """Use a skill; returns the ``ack`` result. Raises :class:`Reject` when a rule forbids
    it (nothing is spent then)."""
    skill = world.game.skills.get(skill_id)
    if skill is None:
        raise Reject("unknown_skill", f"no skill {skill_id}")
    caster = world.actor(caster_id)
    known = caster.player_class
    if known is not None and skill_id not in known.skills:
        raise Reject("unknown_skill", f"a {known.name} has no skill {skill.name}")
    target = caster if skill.target is Target.SELF else _target_of(world, caster, target_id, skill)
    _check_use(world, caster, target, skill, now)
    for stat, amount in skill.cost.items():
        caster.stats[stat] -= amount
        caster.changed.add(stat)
        world.changed.add(caster)
    caster.cooldowns[skill_id] = now + skill.cooldown_s
    if skill.effect is None:
        hit = apply_damage(world, target, skill.damage, caster, skill_id)
        return {
            "target": target.entity_id,
            "damage": hit.damage,
            "hp": hit.target_hp,
            "killed": hit.target_hp == 0,
        }
    zone = facade.Zone.of(world)
    result = world.hooks.call(
        f"skill:{skill.name}",
        skill.effect,
        zone,
        facade.handle(world, caster),
        facade.handle(world, target),
        skill,
        entity_id=caster_id,
        on_error=_FAILED,
    )
    if result is _FAILED:
        raise Reject("internal", f"{skill.name} failed on the server")
    out: dict[str, Any] = {"target": target.entity_id}
    if world.actor_at(target.slot) is target:
        out["hp"] = int(world.hp[target.slot])
        out["killed"] = world.is_dead(target.slot)
    if isinstance(result, Mapping):
        out.update(result)
    return out


def _target_of(world: World, caster: Actor, target_id: int, skill: Skill) -> Actor:
    if target_id == caster.entity_id and skill.target is Target.ENEMY:
        raise Reject("invalid_target", "you cannot attack yourself")
    target = world.actor(target_id)
    if skill.target is Target.ALLY and target.kind is not EntityKind.PLAYER:
        raise Reject("invalid_target", f"{skill.name} is for players")
    return target


def _check_use(world: World, caster: Actor, target: Actor, skill: Skill, now: float) -> None:
    if world.is_dead(caster.slot):
        raise Reject("you_are_dead", "dead characters cannot attack")
    if world.is_dead(target.slot):
        raise Reject("target_dead", f"entity {target.entity_id} is already dead")
    if (
        skill.target is Target.ENEMY
        and caster.kind is EntityKind.PLAYER
        and target.kind is EntityKind.PLAYER
        and not world.spec.pvp
    ):
        raise Reject("pvp_disabled", f"no player combat in {world.spec.name}")
    if target is not caster:
        distance = _distance(world, caster, target)
        if distance > skill.range + world.rules.range_tolerance:
            raise Reject(
                "out_of_range",
                f"target is {distance:.1f} away, {skill.name} reaches {skill.range}",
            )
    ready_at = caster.cooldowns.get(skill.skill_id, 0.0)
    if now < ready_at:
        raise Reject("cooldown", f"{skill.name} is ready in {ready_at - now:.2f}s")
    for stat, amount in skill.cost.items():
        if caster.stats.get(stat, 0) < amount:
            raise Reject(f"not_enough_{stat}", f"{skill.name} costs {amount} {stat}")


def apply_damage(
    world: World, target: Actor, amount: int, attacker: Actor | None, skill_id: int
) -> Hit:
    """Lower the target's HP (after ``on_damage``); a kill runs :func:`_kill`."""
    slot = target.slot
    x, y = float(world.x[slot]), float(world.y[slot])
    attacker_id = 0 if attacker is None else attacker.entity_id
    if world.is_dead(slot):
        return Hit(attacker_id, target.entity_id, skill_id, 0, 0, x, y)
    hook = world.game.hooks.get("on_damage")
    if hook is not None:
        changed = world.hooks.call(
            "on_damage",
            hook,
            facade.Zone.of(world),
            facade.handle(world, target),
            amount,
            None if attacker is None else facade.handle(world, attacker),
            world.game.skills.get(skill_id),
            entity_id=target.entity_id,
        )
        if type(changed) is int:
            amount = changed
        if world.actor_at(slot) is not target or world.is_dead(slot):  # the hook did it
            return Hit(attacker_id, target.entity_id, skill_id, 0, int(world.hp[slot]), x, y)
    amount = max(amount, 0)
    hp = max(int(world.hp[slot]) - amount, 0)
    world.hp[slot] = hp
    until = world.now + world.rules.out_of_combat_s
    world.combat_until[slot] = until
    if attacker is not None:
        world.combat_until[attacker.slot] = until
    hit = Hit(attacker_id, target.entity_id, skill_id, amount, hp, x, y)
    world.emit(hit)
    if target.npc_kind is not None and target.target_id is None and attacker is not None:
        target.target_id = attacker.entity_id
    if hp == 0:
        _kill(world, target, attacker, x, y)
    return hit


def _kill(world: World, target: Actor, killer: Actor | None, x: float, y: float) -> None:
    world.flags[target.slot] |= FLAG_DEAD
    kind = target.npc_kind
    delay = kind.respawn_s if kind is not None else world.rules.player_respawn_s
    target.respawn_at = world.now + delay
    heapq.heappush(world.respawn_queue, (world.now + delay, target.entity_id))
    target.target_id = None
    world.emit(Death(target.entity_id, 0 if killer is None else killer.entity_id, x, y))
    if killer is not None and killer.kind is EntityKind.PLAYER:
        award_xp(world, killer, kind.xp if kind is not None else world.rules.player_kill_xp)
        if kind is not None:
            items = kind.loot.roll(world.rng)
            if items:
                world.emit(Loot(killer.entity_id, tuple(items.items()), f"kill:{kind.name}"))
    hook = world.game.hooks.get("on_death")
    if hook is not None:
        world.hooks.call(
            "on_death",
            hook,
            facade.Zone.of(world),
            facade.handle(world, target),
            None if killer is None else facade.handle(world, killer),
            entity_id=target.entity_id,
        )


def award_xp(world: World, actor: Actor, amount: int) -> None:
    if amount < 0:
        raise ValueError("XP is only ever gained")
    if actor.kind is not EntityKind.PLAYER or amount == 0:
        return
    actor.xp += amount
    world.emit(XpGain(actor.entity_id, amount, actor.xp))
    slot = actor.slot
    level = world.game.xp_curve.level_for(actor.xp)
    if level > world.level[slot]:
        assert actor.player_class is not None
        world.level[slot] = level
        world.hp_max[slot] = actor.player_class.hp_max_for(level)
        world.hp[slot] = world.hp_max[slot]
        world.emit(
            LevelUp(
                actor.entity_id,
                level,
                int(world.hp_max[slot]),
                float(world.x[slot]),
                float(world.y[slot]),
            )
        )


def _distance(world: World, a: Actor, b: Actor) -> float:
    return math.hypot(
        float(world.x[a.slot] - world.x[b.slot]), float(world.y[a.slot] - world.y[b.slot])
    )
