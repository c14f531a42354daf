import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmmo.sim.declare import Rules
from openmmo.sim.movement import apply_move, apply_moves, clamp_step
from openmmo.testing import empty_world, place_player

RULES = Rules(max_speed=10.0, speed_tolerance=1.0, move_budget_s=1.0)


def test_clamp_step_stops_at_the_budget():
    assert clamp_step(0, 0, 3, 4, 10) == (3, 4, 5.0)
    x, y, spent = clamp_step(0, 0, 30, 40, 10)
    assert (round(x, 6), round(y, 6), spent) == (6.0, 8.0, 10)


def test_a_move_within_speed_is_applied_exactly():
    world = empty_world(rules=RULES)
    place_player(world, 1, 100, 100)
    corrected = apply_move(world, 1, 101, 100, now=0.1)
    assert not corrected
    assert world.position(1) == (101.0, 100.0)


def test_a_teleport_is_cut_to_the_allowed_distance():
    world = empty_world(rules=RULES)
    place_player(world, 1, 100, 100)
    corrected = apply_move(world, 1, 900, 100, now=0.1)
    x, y = world.position(1)
    assert corrected
    assert y == 100
    # Budget starts full (10 units) and refills 1 unit in 0.1 s, capped at 10.
    assert math.isclose(x, 110.0)


def test_sustained_speeding_is_limited_to_max_speed():
    world = empty_world(rules=RULES)
    place_player(world, 1, 100, 100)
    now = 0.0
    for _ in range(50):  # asks for 20 units/s for 5 s
        now += 0.1
        x, _ = world.position(1)
        apply_move(world, 1, x + 2.0, 100, now)
    x, _ = world.position(1)
    # 10 units of budget at the start (so the first 0.1 s of refill is capped away), then
    # 10 units/s for the remaining 4.9 s.
    assert x == pytest.approx(100 + 10 + 49, abs=0.01)


def test_jittery_arrival_at_legal_speed_is_not_corrected():
    world = empty_world(rules=RULES)
    place_player(world, 1, 100, 100)
    # Moves of 1 unit every 0.1 s (legal), but arriving in bunches.
    arrival = [0.19, 0.2, 0.21, 0.39, 0.4, 0.41, 0.59, 0.6, 0.61]
    for i, t in enumerate(arrival, start=1):
        assert not apply_move(world, 1, 100 + i, 100, t)
    assert world.position(1) == (109.0, 100.0)


def test_moves_are_clamped_to_the_world_bounds():
    world = empty_world(rules=RULES)
    place_player(world, 1, 1, 1)
    assert apply_move(world, 1, -5, -5, now=1.0)
    assert world.position(1) == (0.0, 0.0)


def test_dead_players_do_not_move():
    world = empty_world(rules=RULES)
    actor = place_player(world, 1, 100, 100)
    world.flags[actor.slot] |= 1
    apply_move(world, 1, 101, 100, now=1.0)
    assert world.position(1) == (100.0, 100.0)


def test_a_tick_of_moves_validated_together_equals_one_by_one():
    """The batch (numpy) path applies the same arithmetic as the single-move path, also
    when a player sent several moves in one tick."""
    batch, single = empty_world(rules=RULES), empty_world(rules=RULES)
    for world in (batch, single):
        for i in range(1, 41):
            place_player(world, i, 100 + i * 5, 100)
    moves = []
    for k in range(3):  # three rounds; player i sends (i % 3) + 1 moves
        for i in range(1, 41):
            if k <= i % 3:
                moves.append((i, 100 + i * 5 + (k + 1) * 7.0, 100 + (i % 7) * (k + 1.0)))
    slots = [batch.actors[i].slot for i, _, _ in moves]
    apply_moves(
        batch, slots, [x for _, x, _ in moves], [y for _, _, y in moves], [0.3] * len(moves)
    )
    for i, x, y in moves:
        apply_move(single, i, x, y, now=0.3)
    for i in range(1, 41):
        assert batch.position(i) == pytest.approx(single.position(i), abs=1e-9)
        slot = batch.actors[i].slot
        assert batch.move_budget[slot] == pytest.approx(single.move_budget[slot], abs=1e-9)


def test_one_move_per_player_takes_the_single_round_path_with_the_same_result():
    batch, single = empty_world(rules=RULES), empty_world(rules=RULES)
    for world in (batch, single):
        for i in range(1, 21):
            place_player(world, i, 100.0 + i, 100.0)
    moves = [(i, 100.0 + i + (i % 5) * 3.0, 100.0 + i % 3) for i in range(1, 21)]
    slots = [batch.actors[i].slot for i, _, _ in moves]
    moved = apply_moves(batch, slots, [m[1] for m in moves], [m[2] for m in moves], [0.2] * 20)
    assert sorted(moved.tolist()) == sorted(slots)
    for i, x, y in moves:
        apply_move(single, i, x, y, now=0.2)
        assert batch.position(i) == pytest.approx(single.position(i), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 6),
            st.floats(0, 400),
            st.floats(0, 400),
            st.floats(0, 0.05),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_any_tick_of_moves_equals_them_one_by_one_in_arrival_order(
    moves: list[tuple[int, float, float, float]],
) -> None:
    """Any mix of players, repeats and arrival times: the rounds apply each player's moves in
    the order they arrived, with the same arithmetic as one at a time."""
    batch, single = empty_world(rules=RULES), empty_world(rules=RULES)
    for world in (batch, single):
        for i in range(1, 7):
            place_player(world, i, 50.0 * i, 60.0)
    at, timed = 1.0, []
    for i, x, y, gap in moves:
        at += gap
        timed.append((i, x, y, at))
    moved = apply_moves(
        batch,
        [batch.actors[i].slot for i, _, _, _ in timed],
        [x for _, x, _, _ in timed],
        [y for _, _, y, _ in timed],
        [t for _, _, _, t in timed],
    )
    for i, x, y, t in timed:
        apply_move(single, i, x, y, now=t)
    assert sorted(moved.tolist()) == sorted({batch.actors[i].slot for i, _, _, _ in timed})
    for i in range(1, 7):
        slot = batch.actors[i].slot
        assert batch.position(i) == single.position(i)
        assert batch.move_budget[slot] == single.move_budget[slot]
        assert batch.last_move_at[slot] == single.last_move_at[slot]
