"""The client's bookkeeping, fed with snapshots as the server encodes them."""

import json

import numpy as np

from openmmo.client import GameClient
from openmmo.protocol.codes import Encoding
from openmmo.protocol.snapshot import (
    ENTITY_DTYPE,
    TickPrefix,
    WireEvent,
    area_part_json,
    snapshot_json,
)


def snapshot(ids, ack=0, events=()):
    records = np.zeros(len(ids), dtype=ENTITY_DTYPE)
    records["id"] = ids
    records["hp"] = records["hp_max"] = 100
    data = snapshot_json(
        TickPrefix.build(1, 1), ack, 0, area_part_json(records), [WireEvent(e) for e in events]
    )
    return json.loads(data)


def test_area_changes_compare_the_last_two_snapshots():
    client = GameClient(Encoding.JSON)
    client._receive(snapshot([1, 2, 3]))
    client._receive(snapshot([2, 3, 4]))
    assert client.area_changes() == ({4}, {1})
    assert sorted(client.entities) == [2, 3, 4]
    client.entity_id = 3
    assert client.me().id == 3 and client.me().hp == 100


def test_move_latency_is_measured_when_a_snapshot_acknowledges_it():
    client = GameClient(Encoding.JSON)
    client._pending[5] = ("move", 0.0)
    client._pending[6] = ("move", 0.0)
    client._pending[7] = ("attack", 0.0)
    client._receive(snapshot([1], ack=6))
    assert len(client.latencies()["move"]) == 2
    assert list(client._pending) == [7]  # attacks are acknowledged by their own ack


def test_events_are_kept_and_can_be_waited_for():
    client = GameClient(Encoding.JSON)
    client._receive(snapshot([1], events=[{"type": "chat", "message": "hi"}]))
    assert client.events[-1]["message"] == "hi"
