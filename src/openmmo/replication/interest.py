"""Area of interest on a uniform grid.

How it works. Each tick the grid sorts the active entity slots by the cell they stand in
(row-major cell index) and records where each cell's run starts. A client sees the 3x3 cells
around its own; because cells are numbered row by row, the three cells of one grid row form
one contiguous run of the sorted order, so a neighbourhood is three slices — no per-client
search. Rebuilding costs one ``argsort`` and one ``bincount`` for the whole zone (about a
millisecond for 5,000 entities); everything after that is shared per cell.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


class InterestGrid:
    def __init__(self, width: float, height: float, cell_size: float):
        if cell_size <= 0:
            raise ValueError("cell_size must be positive")
        self.cell_size = cell_size
        self.columns = max(1, math.ceil(width / cell_size))
        self.rows = max(1, math.ceil(height / cell_size))
        self.cell_count = self.columns * self.rows
        self.sorted_slots: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        self.offsets: npt.NDArray[np.intp] = np.zeros(self.cell_count + 1, dtype=np.intp)
        self.slot_cell: npt.NDArray[np.int32] = np.zeros(0, dtype=np.int32)
        self._offsets: list[int] = [0] * (self.cell_count + 1)

    def cell_at(self, x: float, y: float) -> int:
        column = min(max(int(x / self.cell_size), 0), self.columns - 1)
        row = min(max(int(y / self.cell_size), 0), self.rows - 1)
        return row * self.columns + column

    def rebuild(
        self,
        slots: npt.NDArray[np.intp],
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        capacity: int,
    ) -> None:
        """Index the entities in ``slots`` by the cell of their position."""
        column = np.clip((x[slots] / self.cell_size).astype(np.int32), 0, self.columns - 1)
        row = np.clip((y[slots] / self.cell_size).astype(np.int32), 0, self.rows - 1)
        cells = row * self.columns + column
        order = np.argsort(cells, kind="stable")
        self.sorted_slots = slots[order]
        counts = np.bincount(cells, minlength=self.cell_count)
        self.offsets = np.zeros(self.cell_count + 1, dtype=np.intp)
        np.cumsum(counts, out=self.offsets[1:])
        self._offsets = self.offsets.tolist()  # Python ints: cheap scalar reads below
        if len(self.slot_cell) != capacity:
            self.slot_cell = np.full(capacity, -1, dtype=np.int32)
        else:
            self.slot_cell.fill(-1)
        self.slot_cell[slots] = cells

    def neighbourhood(self, cell: int) -> list[tuple[int, int]]:
        """Ranges of ``sorted_slots`` covering the 3x3 cells around ``cell``.

        The cell's own row comes first, so truncating a crowded area drops far rows first.
        """
        row, column = divmod(cell, self.columns)
        first = max(column - 1, 0)
        last = min(column + 1, self.columns - 1)
        ranges = []
        offsets = self._offsets
        for r in (row, row - 1, row + 1):
            if 0 <= r < self.rows:
                start = offsets[r * self.columns + first]
                end = offsets[r * self.columns + last + 1]
                if end > start:
                    ranges.append((start, end))
        return ranges

    def slots_near(self, cell: int) -> npt.NDArray[np.intp]:
        """Slots of every entity in the 3x3 cells around ``cell``."""
        ranges = self.neighbourhood(cell)
        if not ranges:
            return np.zeros(0, dtype=np.intp)
        return np.concatenate([self.sorted_slots[a:b] for a, b in ranges])
