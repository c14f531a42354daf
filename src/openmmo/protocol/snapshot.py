"""Snapshot encoding, assembled from parts shared between clients.

How it works. A snapshot is the map
``{type, tick, time_ms, ack, xp, entities, events}``. Of those, ``tick`` and ``time_ms`` are
the same for every client in a tick; ``entities`` is the same for every client in the same
interest cell; only ``ack``, ``xp`` and ``events`` belong to one client. So the encoder builds
the shared parts once (a per-tick prefix, a per-cell part holding the packed entity records)
and the per-client work is a few integer packs and one ``join``. Both encodings produce
documents a generic JSON or msgpack decoder reads; in msgpack, ``entities`` is a ``bin`` of
packed little-endian records (:data:`ENTITY_DTYPE`), in JSON an array of arrays in the same
field order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

from openmmo.protocol.codec import encode_json_text

# One entity as it travels: 20 bytes, little-endian, fixed offsets (documented in protocol.md).
ENTITY_DTYPE = np.dtype(
    {
        "names": ["id", "x", "y", "hp", "hp_max", "kind", "flags", "level", "reserved"],
        "formats": ["<u4", "<f4", "<f4", "<u2", "<u2", "u1", "u1", "u1", "u1"],
        "offsets": [0, 4, 8, 12, 14, 16, 17, 18, 19],
        "itemsize": 20,
    }
)
ENTITY_FIELDS = ("id", "x", "y", "hp", "hp_max", "kind", "flags", "level")
ENTITY_RECORD_BYTES = ENTITY_DTYPE.itemsize

FLAG_DEAD = 1

_U32 = struct.Struct(">BI")
_U64 = struct.Struct(">BQ")


def _packb(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


_MP_HEAD = b"\x87" + _packb("type") + _packb("snapshot") + _packb("tick")
_MP_K_TIME = _packb("time_ms")
_MP_K_ACK = _packb("ack")
_MP_K_XP = _packb("xp")
_MP_K_ENTITIES = _packb("entities")
_MP_K_EVENTS = _packb("events")


class WireEvent:
    """One event (chat line, hit, death...) encoded at most once per encoding, then reused."""

    __slots__ = ("_json", "_msgpack", "body")

    def __init__(self, body: dict[str, Any]):
        self.body = body
        self._msgpack: bytes | None = None
        self._json: str | None = None

    def msgpack(self) -> bytes:
        if self._msgpack is None:
            self._msgpack = _packb(self.body)
        return self._msgpack

    def json(self) -> str:
        if self._json is None:
            self._json = encode_json_text(self.body)
        return self._json


def bin_header(size: int) -> bytes:
    if size < 256:
        return bytes((0xC4, size))
    if size < 65536:
        return b"\xc5" + size.to_bytes(2, "big")
    return b"\xc6" + size.to_bytes(4, "big")


def array_header(count: int) -> bytes:
    if count < 16:
        return bytes((0x90 | count,))
    if count < 65536:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


@dataclass(frozen=True, slots=True)
class TickPrefix:
    """The parts of this tick's snapshots that every client shares."""

    msgpack: bytes
    json: str
    msgpack_v2: bytes  # the same entries without the map header (v2 maps vary in size)

    @classmethod
    def build(cls, tick: int, time_ms: int) -> TickPrefix:
        tick &= 0xFFFFFFFF
        msgpack = (
            _MP_HEAD + _U32.pack(0xCE, tick) + _MP_K_TIME + _U64.pack(0xCF, time_ms) + _MP_K_ACK
        )
        return cls(
            msgpack=msgpack,
            json=f'{{"type":"snapshot","tick":{tick},"time_ms":{time_ms},"ack":',
            msgpack_v2=msgpack[1:],
        )


def area_part_msgpack(blob: bytes) -> bytes:
    """The ``entities`` key and value, then the ``events`` key, for one interest area.

    ``blob`` is the area's records packed as :data:`ENTITY_DTYPE`.
    """
    return _MP_K_ENTITIES + bin_header(len(blob)) + blob + _MP_K_EVENTS


def area_part_json(records: npt.NDArray[np.void]) -> str:
    rows = [
        [
            int(r[0]),
            round(float(r[1]), 2),
            round(float(r[2]), 2),
            int(r[3]),
            int(r[4]),
            int(r[5]),
            int(r[6]),
            int(r[7]),
        ]
        for r in records.tolist()
    ]
    return ',"entities":' + encode_json_text(rows) + ',"events":['


def snapshot_msgpack(
    prefix: TickPrefix, ack: int, xp: int, area_part: bytes, events: list[WireEvent]
) -> bytes:
    xp = min(xp, 0xFFFFFFFF)
    parts = [
        prefix.msgpack,
        _U32.pack(0xCE, ack),
        _MP_K_XP,
        _U32.pack(0xCE, xp),
        area_part,
        array_header(len(events)),
    ]
    parts.extend(e.msgpack() for e in events)
    return b"".join(parts)


def snapshot_json(
    prefix: TickPrefix, ack: int, xp: int, area_part: str, events: list[WireEvent]
) -> bytes:
    body = ",".join(e.json() for e in events)
    return f'{prefix.json}{ack},"xp":{xp}{area_part}{body}]}}'.encode()


def entities_from_wire(value: Any) -> npt.NDArray[np.void]:
    """Entity records from a decoded snapshot in either encoding, as an :data:`ENTITY_DTYPE`
    array (read-only for msgpack input)."""
    if isinstance(value, bytes | bytearray | memoryview):
        if len(value) % ENTITY_RECORD_BYTES:
            raise ValueError("entities blob is not a whole number of records")
        return np.frombuffer(value, dtype=ENTITY_DTYPE)
    records = np.zeros(len(value), dtype=ENTITY_DTYPE)
    for i, row in enumerate(value):
        for name, field in zip(ENTITY_FIELDS, row, strict=True):
            records[i][name] = field
    return records
