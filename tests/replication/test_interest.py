import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openmmo.replication.interest import InterestGrid


def build(points, width=500.0, height=300.0, cell=50.0):
    grid = InterestGrid(width, height, cell)
    x = np.array([p[0] for p in points], dtype=np.float64)
    y = np.array([p[1] for p in points], dtype=np.float64)
    slots = np.arange(len(points))
    grid.rebuild(slots, x, y, capacity=len(points))
    return grid


def test_cells_cover_the_zone():
    grid = InterestGrid(500.0, 300.0, 50.0)
    assert (grid.columns, grid.rows) == (10, 6)
    assert grid.cell_at(0, 0) == 0
    assert grid.cell_at(499.9, 299.9) == 59
    assert grid.cell_at(-10, 1e9) == 50  # clamped to the border cells


def test_a_neighbourhood_is_the_three_by_three_cells():
    points = [(75, 75), (30, 30), (140, 140), (160, 75), (75, 140), (300, 300), (75, 160)]
    grid = build(points)
    near = set(grid.slots_near(grid.cell_at(75, 75)).tolist())
    # (160, 75) is two cells east, (75, 160) two cells south, (300, 300) far away.
    assert near == {0, 1, 2, 4}


def test_own_row_comes_first_so_truncation_drops_far_rows():
    grid = build([(75, 25), (75, 75), (75, 125)])
    ranges = grid.neighbourhood(grid.cell_at(75, 75))
    first = grid.sorted_slots[ranges[0][0] : ranges[0][1]].tolist()
    assert first == [1]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 499.9), st.floats(0, 299.9)), min_size=1, max_size=60),
    st.integers(0, 59),
)
def test_neighbourhood_equals_a_brute_force_search(points, cell):
    grid = build(points)
    row, column = divmod(cell, grid.columns)
    expected = {
        i
        for i, (x, y) in enumerate(points)
        if abs(int(x // 50) - column) <= 1 and abs(int(y // 50) - row) <= 1
    }
    assert set(grid.slots_near(cell).tolist()) == expected


def test_slot_cell_marks_inactive_slots():
    grid = InterestGrid(100, 100, 50)
    grid.rebuild(np.array([2]), np.zeros(4), np.zeros(4), capacity=4)
    assert grid.slot_cell.tolist() == [-1, -1, 0, -1]
