import pytest

from openmmo.sim.step import AttackAction, MoveAction, step
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
    assert state.entity_id == 7 and state.x == 7.0
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
    assert int(world.hp[actor.slot]) == world.rules.hp_max_for(3)


def test_step_applies_actions_in_order_and_skips_rejected_ones():
    world = empty_world()
    place_player(world, 1, 100, 100)
    place_player(world, 2, 103, 100)
    step(
        world,
        [MoveAction(1, 101, 100), AttackAction(1, 2, 1), AttackAction(1, 2, 1)],
        now=0.5,
        dt=0.05,
    )
    assert world.position(1) == (101.0, 100.0)
    assert int(world.hp[world.actors[2].slot]) == 88  # the second attack hit the cooldown
    assert world.tick == 1
