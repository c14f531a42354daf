import pytest

from openmmo.sim.combat import apply_attack
from openmmo.sim.events import Death, Hit, LevelUp, Respawn, XpGain
from openmmo.sim.rules import NPC_KINDS, Rules
from openmmo.sim.step import advance
from openmmo.sim.world import ActionRejected
from openmmo.testing import empty_world, place_player


def codes(fn):
    with pytest.raises(ActionRejected) as raised:
        fn()
    return raised.value.code


def test_an_attack_in_range_deals_damage_and_emits_a_hit():
    world = empty_world()
    place_player(world, 1, 100, 100)
    place_player(world, 2, 103, 100)
    hit = apply_attack(world, 1, 2, skill_id=1, now=0.0)
    assert hit == Hit(1, 2, 1, 12, 88, 103.0, 100.0)
    assert world.events == [hit]
    assert int(world.hp[world.actors[2].slot]) == 88


def test_range_cooldown_and_skill_rules():
    world = empty_world()
    place_player(world, 1, 100, 100)
    place_player(world, 2, 120, 100)
    assert codes(lambda: apply_attack(world, 1, 2, 1, 0.0)) == "out_of_range"
    apply_attack(world, 1, 2, 2, 0.0)  # arrow reaches 24
    assert codes(lambda: apply_attack(world, 1, 2, 2, 1.0)) == "cooldown"
    apply_attack(world, 1, 2, 2, 1.5)
    assert codes(lambda: apply_attack(world, 1, 2, 99, 2.0)) == "unknown_skill"
    assert codes(lambda: apply_attack(world, 1, 1, 1, 2.0)) == "invalid_target"
    assert codes(lambda: apply_attack(world, 1, 555, 1, 2.0)) == "invalid_target"


def test_no_player_combat_where_pvp_is_off_but_npcs_can_be_fought():
    world = empty_world(pvp=False)
    place_player(world, 1, 100, 100)
    place_player(world, 2, 101, 100)
    npc = world.add_npc(NPC_KINDS["rat"], 102, 100, 0.0)
    assert codes(lambda: apply_attack(world, 1, 2, 1, 0.0)) == "pvp_disabled"
    assert apply_attack(world, 1, npc.entity_id, 1, 0.0).damage == 12


def test_a_kill_marks_death_awards_xp_and_respawns_later():
    rules = Rules(player_respawn_s=5.0, player_kill_xp=250)
    world = empty_world(rules=rules)
    place_player(world, 1, 100, 100)
    victim = place_player(world, 2, 101, 100, hp=10)
    now = 0.0
    hit = apply_attack(world, 1, 2, 3, now)  # fireball: 20 damage
    assert hit.target_hp == 0
    assert world.is_dead(victim.slot)
    kinds = [type(e) for e in world.drain_events()]
    assert kinds == [Hit, Death, XpGain, LevelUp]  # 250 xp reaches level 2 at 100
    assert world.actors[1].xp == 250
    assert int(world.level[world.actors[1].slot]) == 2
    assert codes(lambda: apply_attack(world, 1, 2, 1, 1.0)) == "target_dead"
    assert codes(lambda: apply_attack(world, 2, 1, 1, 1.0)) == "you_are_dead"
    advance(world, 4.9, 0.05)
    assert world.is_dead(victim.slot)
    advance(world, 5.0, 0.05)
    assert not world.is_dead(victim.slot)
    assert int(world.hp[victim.slot]) == int(world.hp_max[victim.slot])
    assert world.position(2) == (world.spec.spawn_x, world.spec.spawn_y)
    assert any(isinstance(e, Respawn) and e.entity_id == 2 for e in world.drain_events())


def test_levels_follow_the_xp_curve():
    rules = Rules()
    assert [rules.level_for(xp) for xp in (0, 99, 100, 281, 282)] == [1, 1, 2, 2, 3]
    assert rules.hp_max_for(3) == 120


def test_regeneration_only_out_of_combat():
    world = empty_world(rules=Rules(out_of_combat_s=5.0, regen_per_s=2))
    place_player(world, 1, 100, 100)
    victim = place_player(world, 2, 101, 100)
    apply_attack(world, 1, 2, 1, 0.0)
    advance(world, 1.0, 0.05)
    assert int(world.hp[victim.slot]) == 88
    advance(world, 6.0, 0.05)
    assert int(world.hp[victim.slot]) == 90
