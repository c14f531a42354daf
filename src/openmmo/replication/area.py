"""This tick's view of a zone: packed entity records and shared per-cell snapshot parts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from openmmo.protocol.snapshot import ENTITY_DTYPE, area_part_json, area_part_msgpack
from openmmo.replication.interest import InterestGrid
from openmmo.sim.declare import MAX_WIRE_HP
from openmmo.sim.world import World


class AreaView:
    """Built once per tick after :meth:`InterestGrid.rebuild`; parts are made on first use.

    A cell's part is shared by every client standing in that cell, in each encoding.
    """

    def __init__(self, world: World, grid: InterestGrid, max_entities: int):
        self.grid = grid
        self.max_entities = max_entities
        slots = grid.sorted_slots
        records = np.zeros(len(slots), dtype=ENTITY_DTYPE)
        records["id"] = world.ids[slots]
        records["x"] = world.x[slots]
        records["y"] = world.y[slots]
        # The record holds HP as u2: saturate rather than let numpy wrap (70,000 would
        # arrive as 4,464). Declarations keep HP in range (Game.check); this is the backstop.
        records["hp"] = np.minimum(world.hp[slots], MAX_WIRE_HP)
        records["hp_max"] = np.minimum(world.hp_max[slots], MAX_WIRE_HP)
        records["kind"] = world.kind[slots]
        records["flags"] = world.flags[slots]
        records["level"] = world.level[slots]
        self.records = records
        # Raw bytes of all records in cell order: a neighbourhood is three byte slices,
        # far cheaper than slicing and concatenating the structured array.
        self.blob = records.tobytes()
        self._msgpack: dict[int, bytes] = {}
        self._json: dict[int, str] = {}

    def records_near(self, cell: int) -> npt.NDArray[np.void]:
        """Records of the 3x3 cells around ``cell``, at most ``max_entities`` of them."""
        ranges = self.grid.neighbourhood(cell)
        if len(ranges) == 1:
            a, b = ranges[0]
            near = self.records[a:b]
        elif ranges:
            near = np.concatenate([self.records[a:b] for a, b in ranges])
        else:
            near = self.records[:0]
        return near[: self.max_entities]

    def blob_near(self, cell: int) -> bytes:
        """Like :meth:`records_near`, as packed bytes."""
        size = ENTITY_DTYPE.itemsize
        blob = b"".join([self.blob[a * size : b * size] for a, b in self.grid.neighbourhood(cell)])
        return blob[: self.max_entities * size]

    def msgpack_part(self, cell: int) -> bytes:
        part = self._msgpack.get(cell)
        if part is None:
            part = self._msgpack[cell] = area_part_msgpack(self.blob_near(cell))
        return part

    def json_part(self, cell: int) -> str:
        part = self._json.get(cell)
        if part is None:
            part = self._json[cell] = area_part_json(self.records_near(cell))
        return part
