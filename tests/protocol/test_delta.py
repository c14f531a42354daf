"""The v2 delta codec: any two states, the client holding the first ends up holding the second."""

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmmo.protocol.delta import (
    STATE_DTYPE,
    DeltaError,
    DeltaView,
    diff,
    keyframe,
    quantum_for,
    snapshot_v2,
    state_key,
)
from openmmo.protocol.snapshot import TickPrefix, WireEvent

entity = st.tuples(
    st.integers(1, 2**32 - 1),  # id
    st.integers(0, 0xFFFF),  # qx
    st.integers(0, 0xFFFF),  # qy
    st.integers(0, 0xFFFF),  # hp
    st.integers(0, 0xFFFF),  # hp_max
    st.integers(0, 1),  # kind
    st.integers(0, 255),  # flags
    st.integers(0, 255),  # level
)


def state_of(rows: dict[int, tuple]) -> np.ndarray:
    """``rows`` maps handle -> (id, qx, qy, hp, hp_max, kind, flags, level)."""
    out = np.zeros(len(rows), dtype=STATE_DTYPE)
    for i, (handle, row) in enumerate(rows.items()):
        out[i] = (0, handle, *row)
    out["key"] = state_key(out["id"], out["handle"])
    return np.sort(out, order="key")


states = st.dictionaries(st.integers(0, 0xFFFF), entity, max_size=40)


def wire(part, ack=1, events=()):
    data = snapshot_v2(TickPrefix.build(9, 1_000), ack, 5, part, list(events))
    return msgpack.unpackb(data, raw=False)


def nudged(rows, draw_steps):
    """``rows`` with some entities moved a little (so ``move`` records are exercised)."""
    out = dict(rows)
    for handle, (dx, dy) in zip(list(out), draw_steps, strict=False):
        id_, qx, qy, *rest = out[handle]
        out[handle] = (id_, min(max(qx + dx, 0), 0xFFFF), min(max(qy + dy, 0), 0xFFFF), *rest)
    return out


@settings(max_examples=300, deadline=None)
@given(
    first=states,
    second=states,
    steps=st.lists(st.tuples(st.integers(-200, 200), st.integers(-200, 200)), max_size=40),
)
def test_a_client_holding_any_state_ends_up_holding_the_next(first, second, steps):
    # Some of the second state's entities are the first's, moved: exercises move/place/update.
    second = {**second, **nudged(first, steps)} if steps else second
    old, new = state_of(first), state_of(second)
    view = DeltaView()
    view.apply(wire(keyframe(old, 0.03125)))
    assert np.array_equal(view.state(), old)
    message = wire(diff(old, new))
    view.apply(message)
    assert np.array_equal(view.state(), new)
    assert message["type"] == "snapshot" and message["ack"] == 1 and message["xp"] == 5


def test_an_unchanged_entity_costs_nothing_and_a_step_four_bytes():
    old = state_of({7: (100, 50, 50, 10, 10, 0, 0, 1), 8: (101, 60, 60, 10, 10, 0, 0, 1)})
    assert diff(old, old).data == b"" and diff(old, old).changes == 0
    new = state_of({7: (100, 53, 48, 10, 10, 0, 0, 1), 8: (101, 60, 60, 10, 10, 0, 0, 1)})
    part = diff(old, new)
    assert part.data == b"\xa4move\xc4\x04" + bytes([7, 0, 3, 0xFE])
    assert part.entries == 1 and part.changes == 1


def test_a_long_step_is_an_absolute_place():
    old = state_of({7: (100, 50, 50, 10, 10, 0, 0, 1)})
    new = state_of({7: (100, 50 + 128, 50, 10, 10, 0, 0, 1)})
    assert wire(diff(old, new))["place"] == bytes([7, 0, 178, 0, 50, 0])


def test_events_ride_the_snapshot():
    part = diff(state_of({}), state_of({}))
    message = wire(part, events=[WireEvent({"type": "chat", "text": "hi"})])
    assert message["events"] == [{"type": "chat", "text": "hi"}]
    assert set(message) == {"type", "tick", "time_ms", "ack", "xp", "events"}


@settings(max_examples=200, deadline=None)
@given(
    first=states,
    second=states,
    ack=st.integers(0, 2**32 - 1),
    xp=st.integers(0, 2**40),
    chat=st.lists(st.text(max_size=20), max_size=20),
)
def test_a_snapshot_is_one_msgpack_map_of_its_fields(first, second, ack, xp, chat):
    """The hand-assembled snapshot decodes to the map it stands for: any delta or keyframe,
    ack and xp (clamped to 32 bits), and 0 to 20 events (the array header grows at 16)."""
    quantum = quantum_for(1024, 1024)
    for part in (diff(state_of(first), state_of(second)), keyframe(state_of(second), quantum)):
        events = [WireEvent({"type": "chat", "message": m}) for m in chat]
        data = snapshot_v2(TickPrefix.build(9, 1_000), ack, xp, part, events)
        decoded = msgpack.unpackb(data, raw=False)  # raises on bytes beyond the one map
        assert decoded["type"] == "snapshot"
        assert (decoded["tick"], decoded["time_ms"]) == (9, 1_000)
        assert (decoded["ack"], decoded["xp"]) == (ack, min(xp, 2**32 - 1))
        assert decoded["events"] == [{"type": "chat", "message": m} for m in chat]
        assert len(decoded) == 6 + part.entries
        assert decoded.get("full", False) is part.full


def test_a_delta_that_does_not_fit_is_refused():
    view = DeltaView()
    with pytest.raises(DeltaError, match="before any keyframe"):
        view.apply({"move": b"\x07\x00\x01\x01"})
    view.apply(wire(keyframe(state_of({}), 0.03125)))
    with pytest.raises(DeltaError, match="unknown handle 7"):
        view.apply({"move": b"\x07\x00\x01\x01"})
    with pytest.raises(DeltaError, match="whole number"):
        view.apply({"leave": b"\x07"})


def test_the_quantum_fits_the_zone_in_sixteen_bits():
    assert quantum_for(1024, 1024) == 1 / 32
    assert quantum_for(2047, 100) == 1 / 32
    assert quantum_for(2048.5, 100) == 1 / 16
    assert quantum_for(40_000, 100) == 1.0
    for size in (3000.0, 70_000.0, 1e6):
        assert size / quantum_for(size, 1) <= 0xFFFF


def test_records_are_world_units():
    view = DeltaView()
    view.apply(wire(keyframe(state_of({3: (9, 320, 64, 5, 10, 1, 1, 2)}), 0.03125)))
    (record,) = view.records()
    assert (int(record["id"]), float(record["x"]), float(record["y"])) == (9, 10.0, 2.0)
    assert (int(record["hp"]), int(record["kind"]), int(record["flags"])) == (5, 1, 1)


def test_a_delta_that_does_not_fit_changes_nothing():
    view = DeltaView()
    view.apply(wire(keyframe(state_of({3: (1, 100, 100, 5, 5, 0, 0, 1)}), 0.03125)))
    before = view.state()
    bad = {"leave": b"\x03\x00", "move": b"\x03\x00\x01\x01"}  # moves the handle it let go
    with pytest.raises(DeltaError, match="unknown handle 3"):
        view.apply(bad)
    assert np.array_equal(view.state(), before)
    with pytest.raises(DeltaError, match="already held: 3"):
        view.apply({"enter": b"\x03\x00" + bytes(15)})
    assert np.array_equal(view.state(), before)
