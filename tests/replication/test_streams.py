"""Per-cell v2 streams against a real world: what a client decodes is what the server holds."""

import msgpack
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openmmo.protocol.delta import DeltaView, snapshot_v2
from openmmo.protocol.snapshot import TickPrefix
from openmmo.replication.interest import InterestGrid
from openmmo.replication.streams import DeltaStreams, Relevance
from openmmo.testing import empty_world, place_player

SIZE = 400.0
CELL = 50.0


class Client:
    """One v2 client: where it stands, what it holds, what the server thinks it holds."""

    def __init__(self, x, y):
        self.x, self.y = x, y
        self.view = DeltaView()
        self.base = None
        self.received = 0


def setup(relevance=None, history_ticks=5):
    world = empty_world(width=SIZE, height=SIZE, cell_size=CELL)
    grid = InterestGrid(SIZE, SIZE, CELL)
    streams = DeltaStreams(grid, world, relevance or Relevance(), history_ticks)
    return world, grid, streams


def run_tick(world, grid, streams, tick):
    grid.rebuild(world.active_slots(), world.x, world.y, world.capacity)
    streams.begin(world, tick)


def deliver(streams, grid, client, tick):
    cell = grid.cell_at(client.x, client.y)
    part = streams.part(client.base, cell)
    data = snapshot_v2(TickPrefix.build(tick, 0), 0, 0, part, [])
    client.view.apply(msgpack.unpackb(data, raw=False))
    client.base = streams.base_of(cell)
    client.received += 1
    return cell


def true_view(world, grid, cell, streams):
    """Ids and quantized positions of every entity in the 3x3 cells around ``cell``."""
    q = streams.quantum
    slots = grid.slots_near(cell)
    return {
        int(world.ids[s]): (round(world.x[s] / q), round(world.y[s] / q), int(world.hp[s]))
        for s in slots
    }


def held_view(client):
    return {row[0]: (row[1], row[2], row[3]) for row in client.view.entities.values()}


coordinate = st.floats(0, SIZE, allow_nan=False)
operation = st.one_of(
    st.tuples(st.just("add"), st.integers(1, 30), coordinate, coordinate),
    st.tuples(st.just("remove"), st.integers(1, 30)),
    st.tuples(st.just("step"), st.integers(1, 30), st.floats(-3, 3), st.floats(-3, 3)),
    st.tuples(st.just("jump"), st.integers(1, 30), coordinate, coordinate),
    st.tuples(st.just("hurt"), st.integers(1, 30), st.integers(0, 100)),
)
tick_plan = st.tuples(
    st.lists(operation, max_size=12),
    st.lists(st.booleans(), min_size=3, max_size=3),  # which clients receive this tick
    st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=3),  # where they stand
)


def apply_op(world, op):
    kind, entity = op[0], op[1]
    actor = world.actors.get(entity)
    if kind == "add" and actor is None:
        place_player(world, entity, op[2], op[3])
    elif actor is None:
        return
    elif kind == "remove":
        world.remove(entity)
    elif kind == "step":
        x, y = world.spec.clamp(world.x[actor.slot] + op[2], world.y[actor.slot] + op[3])
        world.x[actor.slot], world.y[actor.slot] = x, y
    elif kind == "jump":
        world.x[actor.slot], world.y[actor.slot] = op[2], op[3]
    elif kind == "hurt":
        world.hp[actor.slot] = op[2]


def replay(plan, world, grid, streams, resync_at=None):
    """Play ``plan`` tick by tick; yields (client, cell) after each snapshot a client gets."""
    clients = [Client(10, 10), Client(200, 200), Client(390, 100)]
    for tick, (ops, receives, places) in enumerate(plan, start=1):
        for op in ops:
            apply_op(world, op)
        run_tick(world, grid, streams, tick)
        for client, receive, (x, y) in zip(clients, receives, places, strict=True):
            client.x, client.y = x, y
            if tick == resync_at:
                client.base = None  # the client asked for a resync
            if receive:
                yield client, deliver(streams, grid, client, tick)


@settings(max_examples=150, deadline=None)
@given(plan=st.lists(tick_plan, min_size=1, max_size=25), resync_at=st.integers(0, 30))
def test_without_rings_or_budget_every_client_holds_the_true_view(plan, resync_at):
    world, grid, streams = setup()
    for client, cell in replay(plan, world, grid, streams, resync_at):
        assert held_view(client) == true_view(world, grid, cell, streams)
        assert np.array_equal(client.view.state(), streams.held(client.base))


@settings(max_examples=150, deadline=None)
@given(plan=st.lists(tick_plan, min_size=1, max_size=25), refresh_every=st.integers(1, 3))
def test_with_rings_budget_and_hysteresis_clients_hold_what_the_server_says(plan, refresh_every):
    relevance = Relevance(
        near_radius=CELL, far_every=3, budget_per_tick=60, margin=10.0, refresh_every=refresh_every
    )
    world, grid, streams = setup(relevance)
    for client, _ in replay(plan, world, grid, streams):
        held = streams.held(client.base)
        assert np.array_equal(client.view.state(), held)
        if refresh_every == 1:  # (a view rebuilt less often is as old as its last rebuild)
            # Whatever lags, nothing held is an entity that is no longer in the world.
            for row in held.tolist():
                assert world.used[row[1]] and int(world.ids[row[1]]) == row[2]


def test_a_base_older_than_the_history_gets_a_keyframe():
    world, grid, streams = setup(history_ticks=3)
    place_player(world, 1, 10, 10)
    client = Client(10, 10)
    run_tick(world, grid, streams, 1)
    deliver(streams, grid, client, 1)
    for tick in range(2, 6):
        run_tick(world, grid, streams, tick)
    cell = grid.cell_at(10, 10)
    assert streams.part(client.base, cell).data.startswith(b"\xa4full\xc3")


def test_clients_in_one_cell_share_one_encoded_part():
    world, grid, streams = setup()
    place_player(world, 1, 10, 10)
    run_tick(world, grid, streams, 1)
    a, b = Client(10, 10), Client(20, 20)
    deliver(streams, grid, a, 1)
    deliver(streams, grid, b, 1)
    world.x[world.actors[1].slot] = 11
    run_tick(world, grid, streams, 2)
    cell = grid.cell_at(10, 10)
    assert streams.part(a.base, cell) is streams.part(b.base, cell)


def test_far_entities_are_refreshed_less_often_and_catch_up():
    relevance = Relevance(near_radius=CELL, far_every=4)
    world, grid, streams = setup(relevance)
    near = place_player(world, 1, 25, 25)  # the centre of cell 0
    far = place_player(world, 2, 90, 25)  # the next cell, 65 units from cell 0's centre
    client = Client(25, 25)
    run_tick(world, grid, streams, 1)
    deliver(streams, grid, client, 1)
    q = streams.quantum
    seen_far = []
    for tick in range(2, 10):
        world.x[near.slot] += 0.5
        world.y[far.slot] += 0.5
        run_tick(world, grid, streams, tick)
        deliver(streams, grid, client, tick)
        held = {row[0]: row for row in client.view.entities.values()}
        assert held[1][1] == round(world.x[near.slot] / q)  # near: every tick
        seen_far.append(held[2][2] * q)
    # Far: every fourth tick (the first view's value for three ticks, then two refreshes),
    # and a refresh brings the whole way it moved meanwhile.
    assert seen_far == [25.0] * 3 + [27.0] * 4 + [29.0]


def test_the_budget_caps_a_crowd_and_the_nearest_come_first():
    relevance = Relevance(near_radius=CELL, budget_per_tick=100)
    world, grid, streams = setup(relevance)
    for i in range(1, 41):
        place_player(world, i, 25 + (i % 7), 25 + i * 0.5)
    client = Client(25, 25)
    run_tick(world, grid, streams, 1)
    deliver(streams, grid, client, 1)  # the first view is whole
    assert len(client.view.entities) == 40
    sizes = []
    for tick in range(2, 12):
        for actor in list(world.actors.values()):
            world.x[actor.slot] += 0.25
        run_tick(world, grid, streams, tick)
        before = client.view.state()
        deliver(streams, grid, client, tick)
        sizes.append(len(streams.part((0, tick - 1), 0).data))
        assert not np.array_equal(before, client.view.state())
    assert max(sizes) <= 100 + 16  # the budget plus a section header
    # Every entity was refreshed at some point: the priority makes the waiting ones come up.
    q = streams.quantum
    refreshed = [row for row in client.view.entities.values() if row[1] * q > 25 + row[0] % 7]
    assert len(refreshed) == 40


def test_hysteresis_keeps_an_entity_just_outside_the_view():
    relevance = Relevance(near_radius=CELL, margin=10.0)
    world, grid, streams = setup(relevance)
    other = place_player(world, 2, 140, 75)  # in the 3x3 block around (75, 75): x < 150
    client = Client(75, 75)
    run_tick(world, grid, streams, 1)
    deliver(streams, grid, client, 1)
    world.x[other.slot] = 155  # out of the block, within the margin
    run_tick(world, grid, streams, 2)
    deliver(streams, grid, client, 2)
    assert {row[0] for row in client.view.entities.values()} == {2}
    world.x[other.slot] = 165  # beyond the margin
    run_tick(world, grid, streams, 3)
    deliver(streams, grid, client, 3)
    assert client.view.entities == {}


def test_entities_beyond_the_sixteen_bit_handles_are_left_out_not_wrapped():
    world, grid, streams = setup()
    place_player(world, 1, 10, 10)
    world._allocate(70_000)  # as a zone holding more entities than v2 has handles
    far_slot = 66_000
    world.used[far_slot], world.ids[far_slot] = True, 999
    world.x[far_slot], world.y[far_slot] = 12.0, 12.0
    run_tick(world, grid, streams, 1)
    client = Client(10, 10)
    deliver(streams, grid, client, 1)
    assert {row[0] for row in client.view.entities.values()} == {1}
