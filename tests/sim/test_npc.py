import math

from openmmo.sim.combat import apply_attack
from openmmo.sim.rules import NPC_KINDS
from openmmo.sim.step import advance, populate
from openmmo.sim.world import NPC_ID_BASE, EntityKind, World
from openmmo.sim.zones import TOWN
from openmmo.testing import empty_world, place_player


def run(world, start, seconds, dt=0.05):
    t = start
    while t < start + seconds:
        t += dt
        advance(world, t, dt)
    return t


def test_populate_places_the_zone_npcs_near_their_spawns():
    world = World(TOWN, seed=1)
    populate(world, 0.0)
    npcs = [a for a in world.actors.values() if a.kind is EntityKind.NPC]
    assert len(npcs) == sum(s.count for s in TOWN.npc_spawns)
    assert all(a.entity_id >= NPC_ID_BASE for a in npcs)


def test_npcs_wander_but_stay_near_home():
    world = empty_world()
    npc = world.add_npc(NPC_KINDS["rat"], 500, 500, 0.0)
    run(world, 0.0, 60.0)
    x, y = world.position(npc.entity_id)
    assert (x, y) != (500, 500)
    assert math.hypot(x - 500, y - 500) <= world.rules.npc_wander_radius + 0.01


def test_an_attacked_npc_chases_and_hits_back():
    world = empty_world()
    player = place_player(world, 1, 500, 500)
    npc = world.add_npc(NPC_KINDS["wolf"], 510, 500, 0.0)
    apply_attack(world, 1, npc.entity_id, 2, 0.0)  # arrow from 10 units
    run(world, 0.0, 5.0)
    assert int(world.hp[player.slot]) < int(world.hp_max[player.slot])


def test_an_npc_gives_up_beyond_its_leash():
    world = empty_world()
    place_player(world, 1, 500, 500)
    npc = world.add_npc(NPC_KINDS["rat"], 510, 500, 0.0)
    apply_attack(world, 1, npc.entity_id, 2, 0.0)
    world.x[world.actors[1].slot] = 900  # the player runs far away
    run(world, 0.0, 1.0)
    assert npc.brain is not None and npc.brain.target_id is None
