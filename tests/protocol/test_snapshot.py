import json

import msgpack
import numpy as np

from openmmo.protocol.snapshot import (
    ENTITY_DTYPE,
    ENTITY_RECORD_BYTES,
    TickPrefix,
    WireEvent,
    area_part_json,
    area_part_msgpack,
    entities_from_wire,
    snapshot_json,
    snapshot_msgpack,
)


def records(n):
    r = np.zeros(n, dtype=ENTITY_DTYPE)
    r["id"] = np.arange(1, n + 1)
    r["x"] = np.linspace(0, 100, n)
    r["y"] = 7.25
    r["hp"] = 90
    r["hp_max"] = 100
    r["kind"] = 1
    r["flags"] = 1
    r["level"] = 3
    return r


def test_record_layout_is_twenty_little_endian_bytes():
    r = records(1)
    assert ENTITY_RECORD_BYTES == 20
    raw = r.tobytes()
    assert raw[0:4] == (1).to_bytes(4, "little")
    assert raw[12:14] == (90).to_bytes(2, "little")
    assert raw[16:19] == bytes([1, 1, 3])


def test_msgpack_snapshot_is_an_ordinary_msgpack_map():
    r = records(300)  # 6000 bytes: a bin16 header
    events = [
        WireEvent({"type": "chat", "message": "hi"}),
        WireEvent({"type": "death", "entity": 2, "killer": 1}),
    ]
    data = snapshot_msgpack(
        TickPrefix.build(77, 1_800_000_000_123), 12, 345, area_part_msgpack(r.tobytes()), events
    )
    message = msgpack.unpackb(data, raw=False)
    assert message["type"] == "snapshot"
    assert (message["tick"], message["time_ms"], message["ack"], message["xp"]) == (
        77,
        1_800_000_000_123,
        12,
        345,
    )
    assert message["events"] == [e.body for e in events]
    decoded = entities_from_wire(message["entities"])
    assert np.array_equal(decoded, r)


def test_json_snapshot_has_the_same_fields_and_record_order():
    r = records(3)
    data = snapshot_json(
        TickPrefix.build(5, 1000),
        4,
        0,
        area_part_json(r),
        [WireEvent({"type": "xp", "amount": 5, "total": 5})],
    )
    message = json.loads(data)
    assert set(message) == {"type", "tick", "time_ms", "ack", "xp", "entities", "events"}
    assert message["entities"][0] == [1, 0.0, 7.25, 90, 100, 1, 1, 3]
    assert np.array_equal(entities_from_wire(message["entities"]), r)
    assert message["events"] == [{"type": "xp", "amount": 5, "total": 5}]


def test_large_event_lists_use_a_longer_array_header():
    events = [WireEvent({"type": "xp", "amount": i, "total": i}) for i in range(20)]
    data = snapshot_msgpack(TickPrefix.build(1, 1), 0, 0, area_part_msgpack(b""), events)
    assert len(msgpack.unpackb(data)["events"]) == 20


def test_tick_wraps_at_32_bits():
    data = snapshot_msgpack(TickPrefix.build(2**32 + 5, 1), 0, 0, area_part_msgpack(b""), [])
    assert msgpack.unpackb(data)["tick"] == 5


def test_event_encodings_are_cached():
    event = WireEvent({"type": "hit", "damage": 3})
    assert event.msgpack() is event.msgpack()
    assert event.json() is event.json()
