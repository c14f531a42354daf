"""Combat: range, cooldowns, damage, death, XP and levels.

An attack is resolved when it arrives (so the attacker gets its result at once); deaths and
respawns are timed and handled by :func:`openmmo.sim.step.advance`.
"""

from __future__ import annotations

import heapq
import math

from openmmo.sim.events import Death, Hit, LevelUp, Loot, XpGain
from openmmo.sim.world import FLAG_DEAD, ActionRejected, Actor, EntityKind, World


def apply_attack(world: World, attacker_id: int, target_id: int, skill_id: int, now: float) -> Hit:
    """Resolve one attack. Raises :class:`ActionRejected` when a rule forbids it."""
    rules = world.rules
    skill = rules.skills.get(skill_id)
    if skill is None:
        raise ActionRejected("unknown_skill", f"no skill {skill_id}")
    attacker = world.actor(attacker_id)
    if target_id == attacker_id:
        raise ActionRejected("invalid_target", "you cannot attack yourself")
    target = world.actor(target_id)
    if world.is_dead(attacker.slot):
        raise ActionRejected("you_are_dead", "dead characters cannot attack")
    if world.is_dead(target.slot):
        raise ActionRejected("target_dead", f"entity {target_id} is already dead")
    if (
        attacker.kind is EntityKind.PLAYER
        and target.kind is EntityKind.PLAYER
        and not world.spec.pvp
    ):
        raise ActionRejected("pvp_disabled", f"no player combat in {world.spec.name}")
    distance = _distance(world, attacker, target)
    if distance > skill.range + rules.range_tolerance:
        raise ActionRejected(
            "out_of_range", f"target is {distance:.1f} away, {skill.name} reaches {skill.range}"
        )
    ready_at = attacker.cooldowns.get(skill_id, 0.0)
    if now < ready_at:
        raise ActionRejected("cooldown", f"{skill.name} is ready in {ready_at - now:.2f}s")
    attacker.cooldowns[skill_id] = now + skill.cooldown_s
    return deal_damage(world, attacker, target, skill.damage, skill_id, now)


def deal_damage(
    world: World, attacker: Actor, target: Actor, damage: int, skill_id: int, now: float
) -> Hit:
    """Lower the target's HP; a kill marks it dead, schedules its respawn and awards XP."""
    rules = world.rules
    slot = target.slot
    hp = max(int(world.hp[slot]) - damage, 0)
    world.hp[slot] = hp
    world.combat_until[slot] = now + rules.out_of_combat_s
    world.combat_until[attacker.slot] = now + rules.out_of_combat_s
    x, y = float(world.x[slot]), float(world.y[slot])
    hit = Hit(attacker.entity_id, target.entity_id, skill_id, damage, hp, x, y)
    world.emit(hit)
    if target.brain is not None and target.brain.target_id is None:
        target.brain.target_id = attacker.entity_id
    if hp == 0:
        world.flags[slot] |= FLAG_DEAD
        delay = rules.npc_respawn_s if target.kind is EntityKind.NPC else rules.player_respawn_s
        target.respawn_at = now + delay
        heapq.heappush(world.respawn_queue, (now + delay, target.entity_id))
        if target.brain is not None:
            target.brain.target_id = None
        world.emit(Death(target.entity_id, attacker.entity_id, x, y))
        if attacker.kind is EntityKind.PLAYER:
            award_xp(world, attacker, _kill_xp(world, target))
            if target.brain is not None and target.brain.kind.drops:
                world.emit(
                    Loot(
                        attacker.entity_id,
                        target.brain.kind.drops,
                        f"kill:{target.brain.kind.name}",
                    )
                )
    return hit


def award_xp(world: World, actor: Actor, amount: int) -> None:
    rules = world.rules
    actor.xp += amount
    world.emit(XpGain(actor.entity_id, amount, actor.xp))
    slot = actor.slot
    level = rules.level_for(actor.xp)
    if level > world.level[slot]:
        world.level[slot] = level
        world.hp_max[slot] = rules.hp_max_for(level)
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


def _kill_xp(world: World, target: Actor) -> int:
    if target.brain is not None:
        return target.brain.kind.xp
    return world.rules.player_kill_xp


def _distance(world: World, a: Actor, b: Actor) -> float:
    return math.hypot(
        float(world.x[a.slot] - world.x[b.slot]), float(world.y[a.slot] - world.y[b.slot])
    )
