import math

import pytest

from openmmo.sim.combat import use_skill
from openmmo.sim.step import Inputs, start, step
from openmmo.sim.world import NPC_ID_BASE, EntityKind, World
from openmmo.testing import default_game, empty_world, place_player

GAME = default_game()
KINDS = GAME.npc_kinds
TOWN = GAME.zones[1]


def run(world, start_s, seconds, dt=0.05):
    t = start_s
    while t < start_s + seconds:
        t += dt
        step(world, Inputs(), t, dt)
    return t


def test_start_places_the_zone_npcs_near_their_spawns():
    world = World(TOWN, GAME, seed=1)
    start(world, 0.0)
    npcs = [a for a in world.actors.values() if a.kind is EntityKind.NPC]
    assert len(npcs) == sum(s.count for s in TOWN.npc_spawns)
    assert all(a.entity_id >= NPC_ID_BASE for a in npcs)


def test_npcs_wander_but_stay_near_home():
    world = empty_world()
    npc = world.add_npc(KINDS["wolf"], 500, 500, 0.0)
    run(world, 0.0, 60.0)
    x, y = world.position(npc.entity_id)
    assert (x, y) != (500, 500)
    assert math.hypot(x - 500, y - 500) <= 20.0 + 0.01  # the wanderer's radius


def test_an_attacked_npc_chases_and_hits_back():
    world = empty_world()
    player = place_player(world, 1, 500, 500)
    npc = world.add_npc(KINDS["wolf"], 510, 500, 0.0)
    use_skill(world, 1, npc.entity_id, 2, 0.0)  # arrow from 10 units
    run(world, 0.0, 5.0)
    assert int(world.hp[player.slot]) < int(world.hp_max[player.slot])


def test_an_npc_gives_up_beyond_its_leash():
    world = empty_world()
    place_player(world, 1, 500, 500)
    npc = world.add_npc(KINDS["wolf"], 510, 500, 0.0)
    use_skill(world, 1, npc.entity_id, 2, 0.0)
    world.x[world.actors[1].slot] = 900  # the player runs far away
    run(world, 0.0, 1.0)
    assert npc.target_id is None


def test_a_goblin_attacks_a_player_it_sees_unprovoked():
    world = empty_world()
    player = place_player(world, 1, 500, 500)
    goblin = world.add_npc(KINDS["goblin"], 506, 500, 0.0)
    run(world, 0.0, 3.0)
    assert goblin.target_id == 1
    assert int(world.hp[player.slot]) < int(world.hp_max[player.slot])


def test_a_hurt_rat_runs_from_its_attacker():
    world = empty_world()
    place_player(world, 1, 500, 500)
    rat = world.add_npc(KINDS["rat"], 503, 500, 0.0)
    world.hp[rat.slot] = 15  # below 40 % of 40
    use_skill(world, 1, rat.entity_id, 2, 0.0)  # 8 damage: 7 left, and it knows who
    before = math.dist(world.position(1), world.position(rat.entity_id))
    run(world, 0.0, 1.0)
    after = math.dist(world.position(1), world.position(rat.entity_id))
    assert after > before + 2


def test_a_brain_without_think_cannot_be_made():
    from openmmo.game import Brain

    class Forgetful(Brain):
        pass

    with pytest.raises(TypeError, match="think"):
        Forgetful()  # type: ignore[abstract]
