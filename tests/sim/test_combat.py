import pytest

from openmmo.sim.combat import use_skill
from openmmo.sim.declare import Reject, Rules
from openmmo.sim.events import Death, Hit, LevelUp, Loot, Respawn, XpGain
from openmmo.sim.step import Inputs, step
from openmmo.testing import default_game, empty_world, place_player

KINDS = default_game().npc_kinds


def codes(fn):
    with pytest.raises(Reject) as raised:
        fn()
    return raised.value.code


def advance(world, now, dt=0.05):
    step(world, Inputs(), now, dt)


def test_an_attack_in_range_deals_damage_and_emits_a_hit():
    world = empty_world()
    place_player(world, 1, 100, 100)
    place_player(world, 2, 103, 100)
    result = use_skill(world, 1, 2, skill_id=1, now=0.0)
    assert result == {"target": 2, "damage": 12, "hp": 88, "killed": False}
    assert world.events == [Hit(1, 2, 1, 12, 88, 103.0, 100.0)]
    assert int(world.hp[world.actors[2].slot]) == 88


def test_range_cooldown_and_skill_rules():
    world = empty_world()
    place_player(world, 1, 100, 100)
    place_player(world, 2, 120, 100)
    assert codes(lambda: use_skill(world, 1, 2, 1, 0.0)) == "out_of_range"
    use_skill(world, 1, 2, 2, 0.0)  # arrow reaches 24
    assert codes(lambda: use_skill(world, 1, 2, 2, 1.0)) == "cooldown"
    use_skill(world, 1, 2, 2, 1.5)
    assert codes(lambda: use_skill(world, 1, 2, 99, 2.0)) == "unknown_skill"
    assert codes(lambda: use_skill(world, 1, 1, 1, 2.0)) == "invalid_target"
    assert codes(lambda: use_skill(world, 1, 555, 1, 2.0)) == "invalid_target"


def test_a_class_uses_only_its_own_skills():
    world = empty_world()
    place_player(world, 1, 100, 100, cls="mage")
    place_player(world, 2, 103, 100)
    assert codes(lambda: use_skill(world, 1, 2, 1, 0.0)) == "unknown_skill"  # strike
    assert use_skill(world, 1, 2, 4, 0.0)["damage"] == 14  # frostbolt
    assert codes(lambda: use_skill(world, 2, 1, 4, 0.0)) == "unknown_skill"


def test_a_skill_costs_its_declared_field_and_is_refused_without_it():
    world = empty_world()
    mage = place_player(world, 1, 100, 100, cls="mage")
    place_player(world, 2, 103, 100)
    use_skill(world, 1, 2, 4, 0.0)
    assert mage.stats["mana"] == 92 and mage in world.changed
    mage.stats["mana"] = 7
    assert codes(lambda: use_skill(world, 1, 2, 4, 5.0)) == "not_enough_mana"
    assert mage.stats["mana"] == 7  # a refused skill spends nothing
    assert "not_enough_mana" in world.game.errors


def test_no_player_combat_where_pvp_is_off_but_npcs_can_be_fought():
    world = empty_world(pvp=False)
    place_player(world, 1, 100, 100)
    place_player(world, 2, 101, 100)
    npc = world.add_npc(KINDS["rat"], 102, 100, 0.0)
    assert codes(lambda: use_skill(world, 1, 2, 1, 0.0)) == "pvp_disabled"
    assert use_skill(world, 1, npc.entity_id, 1, 0.0)["damage"] == 12


def test_an_ally_skill_heals_players_even_without_pvp():
    world = empty_world(pvp=False)
    place_player(world, 1, 100, 100, cls="mage")
    friend = place_player(world, 2, 101, 100, hp=50)
    result = use_skill(world, 1, 2, 5, 0.0)  # mend
    assert result == {"target": 2, "hp": 75, "killed": False, "healed": 25}
    assert int(world.hp[friend.slot]) == 75


def test_a_kill_marks_death_awards_xp_and_respawns_later():
    rules = Rules(player_respawn_s=5.0, player_kill_xp=250)
    world = empty_world(rules=rules)
    place_player(world, 1, 100, 100)
    victim = place_player(world, 2, 101, 100, hp=10)
    result = use_skill(world, 1, 2, 3, 0.0)  # fireball: 20 damage
    assert result["hp"] == 0 and result["killed"]
    assert world.is_dead(victim.slot)
    kinds = [type(e) for e in world.drain_events()]
    assert kinds == [Hit, Death, XpGain, LevelUp]  # 250 xp reaches level 2 at 100
    assert world.actors[1].xp == 250
    assert int(world.level[world.actors[1].slot]) == 2
    assert codes(lambda: use_skill(world, 1, 2, 1, 1.0)) == "target_dead"
    assert codes(lambda: use_skill(world, 2, 1, 1, 1.0)) == "you_are_dead"
    advance(world, 4.9)
    assert world.is_dead(victim.slot)
    advance(world, 5.0)
    assert not world.is_dead(victim.slot)
    assert int(world.hp[victim.slot]) == int(world.hp_max[victim.slot])
    assert world.position(2) == (world.spec.spawn_x, world.spec.spawn_y)
    assert any(isinstance(e, Respawn) and e.entity_id == 2 for e in world.drain_events())


def test_an_npc_kill_awards_its_declared_xp_and_loot():
    world = empty_world()
    place_player(world, 1, 100, 100)
    wolf = world.add_npc(KINDS["wolf"], 102, 100, 0.0)
    world.hp[wolf.slot] = 5
    use_skill(world, 1, wolf.entity_id, 1, 0.0)
    events = world.drain_events()
    assert XpGain(1, 40, 40) in events
    assert Loot(1, (("wolf_pelt", 1), ("gold", 3)), "kill:wolf") in events


def test_levels_follow_the_xp_curve():
    game = default_game()
    curve, adventurer = game.xp_curve, game.classes["adventurer"]
    assert [curve.level_for(xp) for xp in (0, 99, 100, 281, 282)] == [1, 1, 2, 2, 3]
    assert adventurer.hp_max_for(3) == 120


def test_regeneration_only_out_of_combat():
    world = empty_world(rules=Rules(out_of_combat_s=5.0, regen_per_s=2))
    place_player(world, 1, 100, 100)
    victim = place_player(world, 2, 101, 100)
    use_skill(world, 1, 2, 1, 0.0)
    advance(world, 1.0)
    assert int(world.hp[victim.slot]) == 88
    advance(world, 6.0)
    assert int(world.hp[victim.slot]) == 90
