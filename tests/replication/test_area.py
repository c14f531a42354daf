import msgpack

from openmmo.protocol.snapshot import area_part_msgpack, entities_from_wire
from openmmo.replication.area import AreaView
from openmmo.replication.events import Area, Private, to_wire
from openmmo.replication.interest import InterestGrid
from openmmo.sim.events import Death, Hit, XpGain
from openmmo.testing import empty_world, place_player


def view_of(world, max_entities=512):
    grid = InterestGrid(world.spec.width, world.spec.height, world.spec.cell_size)
    grid.rebuild(world.active_slots(), world.x, world.y, world.capacity)
    return grid, AreaView(world, grid, max_entities)


def ids_in(part):
    body = msgpack.unpackb(b"\x82" + part + b"\x90", raw=False)
    return {int(r["id"]) for r in entities_from_wire(body["entities"])}


def test_a_cell_part_holds_the_records_of_its_neighbourhood():
    world = empty_world(cell_size=50)
    place_player(world, 1, 75, 75)
    place_player(world, 2, 120, 75)
    place_player(world, 3, 400, 400)
    grid, view = view_of(world)
    assert ids_in(view.msgpack_part(grid.cell_at(75, 75))) == {1, 2}
    assert ids_in(view.msgpack_part(grid.cell_at(400, 400))) == {3}


def test_parts_are_shared_per_cell():
    world = empty_world()
    place_player(world, 1, 75, 75)
    grid, view = view_of(world)
    cell = grid.cell_at(75, 75)
    assert view.msgpack_part(cell) is view.msgpack_part(cell)
    assert view.json_part(cell) is view.json_part(cell)


def test_crowded_areas_are_capped():
    world = empty_world()
    for i in range(1, 41):
        place_player(world, i, 75 + i * 0.1, 75)
    grid, view = view_of(world, max_entities=16)
    assert len(ids_in(view.msgpack_part(grid.cell_at(75, 75)))) == 16
    assert area_part_msgpack(b"") in view.msgpack_part(grid.cell_at(900, 900))


def test_records_carry_state():
    world = empty_world()
    actor = place_player(world, 1, 75.5, 80.25, level=4)
    world.hp[actor.slot] = 33
    world.flags[actor.slot] = 1
    grid, view = view_of(world)
    record = view.records_near(grid.cell_at(75, 80))[0]
    assert (
        int(record["id"]),
        float(record["x"]),
        float(record["y"]),
        int(record["hp"]),
        int(record["hp_max"]),
        int(record["kind"]),
        int(record["flags"]),
        int(record["level"]),
    ) == (1, 75.5, 80.25, 33, 130, 0, 1, 4)


def test_events_go_to_an_area_or_to_one_player():
    wire, audience = to_wire(Hit(1, 2, 1, 12, 88, 10.0, 20.0))
    assert wire.body == {
        "type": "hit",
        "attacker": 1,
        "target": 2,
        "skill": 1,
        "damage": 12,
        "hp": 88,
    }
    assert audience == Area(10.0, 20.0)
    assert to_wire(XpGain(5, 10, 110))[1] == Private(5)
    assert to_wire(Death(2, 1, 0.0, 0.0))[0].body["type"] == "death"


def test_hp_beyond_the_wire_range_saturates_instead_of_wrapping():
    import numpy as np

    from openmmo.protocol.snapshot import ENTITY_DTYPE

    world = empty_world()
    actor = place_player(world, 1, 10, 10)
    world.hp_max[actor.slot] = world.hp[actor.slot] = 70_000  # as u2 it would read 4,464
    grid = InterestGrid(world.spec.width, world.spec.height, world.spec.cell_size)
    grid.rebuild(world.active_slots(), world.x, world.y, world.capacity)
    view = AreaView(world, grid, 64)
    record = np.frombuffer(view.blob_near(grid.cell_at(10, 10)), dtype=ENTITY_DTYPE)[0]
    assert (int(record["hp"]), int(record["hp_max"])) == (65535, 65535)
