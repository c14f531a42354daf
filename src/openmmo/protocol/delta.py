"""Protocol v2 snapshots: what changed since the state the client already holds.

How it works. Over a reliable, ordered WebSocket the server knows what each client holds: the
state of the last snapshot it sent. A v2 snapshot carries only the difference from that state
to the new one, in five packed little-endian arrays (documented byte by byte in
``docs/reference/protocol.md`` §8.4): ``leave`` (handles that left the view), ``enter`` (full
records of entities that came in), ``update`` (hit points, flags or level changed), ``place``
(an absolute position) and ``move`` (a small position step, two signed bytes). Positions are
integers in units of the zone's ``quantum`` (1/32 unit in zones up to 2,047 units), so client
and server hold exactly the same numbers and nothing drifts. An entity is named by its
*handle* (a u16 the server chooses, stable while the entity is in the client's view) once its
``enter`` has told the client its 32-bit id.

A state is a :data:`STATE_DTYPE` array sorted by ``key`` (id and handle together: an entity
that left and came back under another handle is a leave and an enter). :func:`diff` turns two
states into the shared part of a snapshot; :class:`DeltaView` is the client's side, used by
the Python client, the bots and the tests.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

from openmmo.protocol.snapshot import (
    ENTITY_DTYPE,
    TickPrefix,
    WireEvent,
    array_header,
    bin_header,
)

PROTOCOL_V2 = 2
FINEST_QUANTUM = 1.0 / 32
MAX_QUANTIZED = 0xFFFF
SMALL_STEP = 127  # a move fits in one signed byte per axis up to this many quanta

STATE_DTYPE = np.dtype(
    [
        ("key", "<u8"),
        ("handle", "<u2"),
        ("id", "<u4"),
        ("qx", "<u2"),
        ("qy", "<u2"),
        ("hp", "<u2"),
        ("hp_max", "<u2"),
        ("kind", "u1"),
        ("flags", "u1"),
        ("level", "u1"),
    ]
)
ENTER_DTYPE = np.dtype(
    {
        "names": ["handle", "id", "qx", "qy", "hp", "hp_max", "kind", "flags", "level"],
        "formats": ["<u2", "<u4", "<u2", "<u2", "<u2", "<u2", "u1", "u1", "u1"],
        "offsets": [0, 2, 6, 8, 10, 12, 14, 15, 16],
        "itemsize": 17,
    }
)
UPDATE_DTYPE = np.dtype(
    {
        "names": ["handle", "hp", "hp_max", "flags", "level"],
        "formats": ["<u2", "<u2", "<u2", "u1", "u1"],
        "offsets": [0, 2, 4, 6, 7],
        "itemsize": 8,
    }
)
PLACE_DTYPE = np.dtype(
    {"names": ["handle", "qx", "qy"], "formats": ["<u2", "<u2", "<u2"], "offsets": [0, 2, 4]}
)
MOVE_DTYPE = np.dtype(
    {"names": ["handle", "dx", "dy"], "formats": ["<u2", "i1", "i1"], "offsets": [0, 2, 3]}
)
LEAVE_DTYPE = np.dtype("<u2")

#: Bytes one change costs on the wire (the byte budget counts these).
COST_ENTER = ENTER_DTYPE.itemsize
COST_UPDATE = UPDATE_DTYPE.itemsize
COST_PLACE = PLACE_DTYPE.itemsize
COST_MOVE = MOVE_DTYPE.itemsize

_SECTIONS = ("leave", "enter", "update", "place", "move")
_STATE_FIELDS = ("hp", "hp_max", "flags", "level")


def _packb(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


_K = {name: _packb(name) for name in (*_SECTIONS, "full", "quantum", "xp", "events")}
_FULL_TRUE = _K["full"] + b"\xc3"
_MAP_HEADERS = [bytes((0x80 | n,)) for n in range(16)]  # fixmap
_EVENTS_HEADERS = [_K["events"] + bytes((0x90 | n,)) for n in range(16)]  # fixarray
_ACK_XP = struct.Struct(f">BI{len(_K['xp'])}sBI")  # ack's uint32, the "xp" key, xp's uint32

EMPTY_STATE: npt.NDArray[np.void] = np.zeros(0, dtype=STATE_DTYPE)


# Structured arrays are gathered, masked and copied field by field, 5-20x slower than the
# same rows as opaque records: the hot paths move rows through these views.
_RECORD = np.dtype((np.void, STATE_DTYPE.itemsize))


def stack(states: list[npt.NDArray[np.void]]) -> npt.NDArray[np.void]:
    """States back to back."""
    if not states:
        return EMPTY_STATE
    out: npt.NDArray[np.void] = np.concatenate([s.view(_RECORD) for s in states]).view(STATE_DTYPE)
    return out


def take(states: npt.NDArray[np.void], rows: npt.NDArray[Any]) -> npt.NDArray[np.void]:
    """``states[rows]`` for an index array or a boolean mask."""
    if rows.dtype == np.bool_:
        out: npt.NDArray[np.void] = states.view(_RECORD)[rows].view(STATE_DTYPE)
    else:
        out = np.take(states.view(_RECORD), rows).view(STATE_DTYPE)
    return out


def put(
    states: npt.NDArray[np.void], mask: npt.NDArray[np.bool_], rows: npt.NDArray[np.void]
) -> None:
    """``states[mask] = rows[mask]``, in place."""
    states.view(_RECORD)[mask] = rows.view(_RECORD)[mask]


def quantum_for(width: float, height: float) -> float:
    """The position unit of a zone: 1/32, doubled until the zone fits in 16 bits."""
    size = max(width, height, 1.0)
    quantum = FINEST_QUANTUM
    if size / quantum > MAX_QUANTIZED:
        quantum = 2.0 ** math.ceil(math.log2(size / MAX_QUANTIZED))
    return quantum


def state_key(ids: npt.NDArray[Any], handles: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """Handle, then id (48 bits): states sort by handle, which is the order a view's rows
    come in from the grid (so sorting them is merging a few sorted runs)."""
    return (handles.astype(np.uint64) << np.uint64(32)) | ids.astype(np.uint64)


@dataclass(frozen=True, slots=True)
class DeltaPart:
    """The shared part of a v2 snapshot: map entries between ``xp`` and ``events``."""

    entries: int  # how many map entries ``data`` holds
    data: bytes
    changes: int  # records in it (0: the client's state does not change)
    full: bool = False  # a keyframe: the client drops what it holds first


def _section(name: str, records: npt.NDArray[Any]) -> bytes:
    blob = records.tobytes()
    return _K[name] + bin_header(len(blob)) + blob


def keyframe(state: npt.NDArray[np.void], quantum: float) -> DeltaPart:
    """Everything in ``state``: the client drops what it holds first."""
    enter = np.zeros(len(state), dtype=ENTER_DTYPE)
    for name in ENTER_DTYPE.names or ():
        enter[name] = state[name]
    data = _FULL_TRUE + _K["quantum"] + _packb(float(quantum)) + _section("enter", enter)
    return DeltaPart(3, data, len(state), full=True)


def diff(old: npt.NDArray[np.void], new: npt.NDArray[np.void]) -> DeltaPart:
    """What turns a client holding ``old`` into one holding ``new`` (both sorted by key)."""
    return diff_many([(old, new)])[0]


MAX_BATCH = 1 << 16  # requests per vectorized pass (their index takes the key's top 16 bits)


def diff_many(
    pairs: list[tuple[npt.NDArray[np.void], npt.NDArray[np.void]]],
) -> list[DeltaPart]:
    """:func:`diff` of many (old, new) pairs in one vectorized pass.

    Every pair's records are tagged with the pair's index in the key's top 16 bits, so all
    pairs are matched by one ``searchsorted`` and each section is packed once; a pair's part
    is then a few byte slices. This is what keeps a tick's deltas cheap: the numpy work is
    per tick, not per pair.
    """
    if len(pairs) > MAX_BATCH:
        return [
            part
            for i in range(0, len(pairs), MAX_BATCH)
            for part in diff_many(pairs[i : i + MAX_BATCH])
        ]
    if not pairs:
        return []
    olds = stack([old for old, _ in pairs])
    news = stack([new for _, new in pairs])
    index = np.arange(len(pairs), dtype=np.uint64)
    r_old = np.repeat(index, [len(old) for old, _ in pairs])
    r_new = np.repeat(index, [len(new) for _, new in pairs])
    k_old = (r_old << np.uint64(48)) | olds["key"]
    k_new = (r_new << np.uint64(48)) | news["key"]
    at = np.searchsorted(k_old, k_new)
    if len(k_old):
        at = np.minimum(at, len(k_old) - 1)
        common = k_old[at] == k_new
    else:
        common = np.zeros(len(k_new), dtype=bool)
    kept_old = np.zeros(len(olds), dtype=bool)
    kept_old[at[common]] = True
    sections: list[tuple[str, npt.NDArray[Any], npt.NDArray[np.uint64]]] = []
    gone = ~kept_old
    sections.append(("leave", olds["handle"][gone].astype(LEAVE_DTYPE), r_old[gone]))
    entering = take(news, ~common)
    enter = np.zeros(len(entering), dtype=ENTER_DTYPE)
    for name in ENTER_DTYPE.names or ():
        enter[name] = entering[name]
    sections.append(("enter", enter, r_new[~common]))
    a, b, r_both = take(olds, at[common]), take(news, common), r_new[common]
    changed = np.zeros(len(b), dtype=bool)
    for name in _STATE_FIELDS:
        changed |= a[name] != b[name]
    rows = take(b, changed)
    update = np.zeros(len(rows), dtype=UPDATE_DTYPE)
    for name in UPDATE_DTYPE.names or ():
        update[name] = rows[name]
    sections.append(("update", update, r_both[changed]))
    dx = b["qx"].astype(np.int32) - a["qx"]
    dy = b["qy"].astype(np.int32) - a["qy"]
    moved = (dx != 0) | (dy != 0)
    small = moved & (np.abs(dx) <= SMALL_STEP) & (np.abs(dy) <= SMALL_STEP)
    far = moved & ~small
    place = np.zeros(int(far.sum()), dtype=PLACE_DTYPE)
    place["handle"], place["qx"], place["qy"] = b["handle"][far], b["qx"][far], b["qy"][far]
    sections.append(("place", place, r_both[far]))
    move = np.zeros(int(small.sum()), dtype=MOVE_DTYPE)
    move["handle"], move["dx"], move["dy"] = b["handle"][small], dx[small], dy[small]
    sections.append(("move", move, r_both[small]))
    cuts = []
    for name, records, owner in sections:
        bounds = np.searchsorted(owner, np.arange(len(pairs) + 1, dtype=np.uint64)).tolist()
        cuts.append((_K[name], records.tobytes(), records.dtype.itemsize, bounds))
    parts = []
    for i in range(len(pairs)):
        entries = changes = 0
        chunks: list[bytes] = []
        for key, blob, size, bounds in cuts:
            count = bounds[i + 1] - bounds[i]
            if count:
                entries += 1
                changes += count
                chunks += (
                    key,
                    bin_header(count * size),
                    blob[bounds[i] * size : bounds[i + 1] * size],
                )
        parts.append(DeltaPart(entries, b"".join(chunks), changes))
    return parts


def snapshot_v2(
    prefix: TickPrefix, ack: int, xp: int, part: DeltaPart, events: list[WireEvent]
) -> bytes:
    """One client's v2 snapshot: the tick's prefix, its own ack and xp, the shared delta.
    Written once per client and snapshot (~15,000 a second on a busy server): the headers
    come from tables, ack and xp from one ``struct`` call, and the bytes are joined once."""
    count = len(events)
    data = [
        _MAP_HEADERS[6 + part.entries],  # a v2 snapshot has 6 to 13 entries
        prefix.msgpack_v2,
        _ACK_XP.pack(0xCE, ack, _K["xp"], 0xCE, min(xp, 0xFFFFFFFF)),
        part.data,
        _EVENTS_HEADERS[count] if count < 16 else _K["events"] + array_header(count),
    ]
    if count:
        data.extend([e.msgpack() for e in events])
    return b"".join(data)


class DeltaError(ValueError):
    """A v2 snapshot that does not apply to the state held (a protocol violation)."""


class DeltaView:
    """A client's copy of its view, kept by applying v2 snapshots in order."""

    def __init__(self) -> None:
        self.quantum = FINEST_QUANTUM
        # handle -> [id, qx, qy, hp, hp_max, kind, flags, level]
        self.entities: dict[int, list[int]] = {}
        self.synced = False  # a keyframe has arrived

    def apply(self, message: dict[str, Any]) -> None:
        """Apply one decoded v2 snapshot. Raises :class:`DeltaError` if it does not fit, and
        then the view is left as it was."""
        full = bool(message.get("full"))
        if not full and not self.synced:
            raise DeltaError("a delta arrived before any keyframe")
        leave = _records(message, "leave", LEAVE_DTYPE).tolist()
        enter = _records(message, "enter", ENTER_DTYPE).tolist()
        update = _records(message, "update", UPDATE_DTYPE).tolist()
        place = _records(message, "place", PLACE_DTYPE).tolist()
        move = _records(message, "move", MOVE_DTYPE).tolist()
        # Check everything first, in the order of application.
        before = set() if full else set(self.entities)
        gone = set(leave)
        if len(gone) != len(leave) or not gone <= before:
            raise DeltaError(f"leave of unknown handle {min(set(leave) - before or gone)}")
        staying = before - gone
        came = {row[0] for row in enter}
        if len(came) != len(enter) or came & staying:
            raise DeltaError(f"enter of a handle already held: {min(came & staying or came)}")
        holds = staying | came
        for rows in (update, place, move):
            unknown = {row[0] for row in rows} - holds
            if unknown:
                raise DeltaError(f"change to unknown handle {min(unknown)}")
        # It fits: apply.
        held = self.entities
        if full:
            self.quantum = float(message["quantum"])
            held.clear()
            self.synced = True
        for h in leave:
            del held[h]
        for h, id_, qx, qy, hp, hp_max, kind, flags, level in enter:
            held[h] = [id_, qx, qy, hp, hp_max, kind, flags, level]
        for h, hp, hp_max, flags, level in update:
            row = held[h]
            row[3], row[4], row[6], row[7] = hp, hp_max, flags, level
        for h, qx, qy in place:
            row = held[h]
            row[1], row[2] = qx, qy
        for h, dx, dy in move:
            row = held[h]
            row[1] += dx
            row[2] += dy

    def state(self) -> npt.NDArray[np.void]:
        """What is held, as a :data:`STATE_DTYPE` array sorted by key (to compare with the
        server's)."""
        out = np.zeros(len(self.entities), dtype=STATE_DTYPE)
        for i, (h, row) in enumerate(self.entities.items()):
            out[i] = (0, h, *row)
        out["key"] = state_key(out["id"], out["handle"])
        return np.sort(out, order="key")

    def records(self) -> npt.NDArray[np.void]:
        """What is held as v1 entity records (positions in world units)."""
        rows = list(self.entities.values())
        out = np.zeros(len(rows), dtype=ENTITY_DTYPE)
        if rows:
            table = np.array(rows, dtype=np.int64)
            out["id"], out["kind"], out["flags"], out["level"] = (
                table[:, 0],
                table[:, 5],
                table[:, 6],
                table[:, 7],
            )
            out["x"] = table[:, 1] * self.quantum
            out["y"] = table[:, 2] * self.quantum
            out["hp"], out["hp_max"] = table[:, 3], table[:, 4]
        return out


def _records(message: dict[str, Any], name: str, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    blob = message.get(name)
    if blob is None:
        return np.zeros(0, dtype=dtype)
    if not isinstance(blob, bytes | bytearray | memoryview) or len(blob) % dtype.itemsize:
        raise DeltaError(f"{name} is not a whole number of {dtype.itemsize}-byte records")
    return np.frombuffer(blob, dtype=dtype)
