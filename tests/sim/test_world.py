import pytest

from openmmo.sim.step import Inputs, SkillInput, step
from openmmo.sim.world import EntityKind
from openmmo.testing import empty_world, place_player


def test_slots_are_reused_and_storage_grows():
    world = empty_world()
    for i in range(1, 600):
        place_player(world, i, i, i)
    assert world.capacity >= 599
    assert world.player_count() == 599
    slot = world.actors[7].slot
    state = world.remove(7)
    assert state.x == 7.0 and state.y == 7.0
    place_player(world, 1000, 1, 1)
    assert world.actors[1000].slot == slot
    assert world.actors[1000].kind is EntityKind.PLAYER


def test_player_ids_are_below_the_npc_range_and_unique():
    world = empty_world()
    with pytest.raises(ValueError):
        place_player(world, 2**31, 0, 0)
    place_player(world, 5, 0, 0)
    with pytest.raises(ValueError):
        place_player(world, 5, 1, 1)


def test_a_saved_dead_character_comes_back_with_full_health():
    world = empty_world()
    actor = place_player(world, 1, 0, 0, hp=0, level=3)
    assert int(world.hp[actor.slot]) == actor.player_class.hp_max_for(3) == 120


def test_step_applies_inputs_and_answers_each_action():
    world = empty_world()
    place_player(world, 1, 100, 100)
    place_player(world, 2, 103, 100)
    inputs = Inputs()
    inputs.move(world.actors[1].slot, 101, 100, at=0.5)
    inputs.actions += [SkillInput(1, 2, 2, 1), SkillInput(1, 3, 2, 1)]
    result = step(world, inputs, now=0.5, dt=0.05)
    assert world.position(1) == (101.0, 100.0)
    assert int(world.hp[world.actors[2].slot]) == 88  # the second attack hit the cooldown
    assert next(r.result for r in result.replies)["damage"] == 12
    assert result.replies[1].error is not None and result.replies[1].error.code == "cooldown"
    assert world.tick == 1


def test_a_removed_character_keeps_its_declared_fields():
    world = empty_world()
    place_player(world, 1, 100, 100, cls="mage")
    world.actors[1].stats["mana"] = 42
    state = world.remove(1)
    assert state.stats["class"] == "mage" and state.stats["mana"] == 42
    assert state.zone_id == world.spec.zone_id and (state.x, state.y) == (100.0, 100.0)
