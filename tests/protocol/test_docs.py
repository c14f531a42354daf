"""docs/reference/protocol.md names every wire code the protocol module defines."""

from dataclasses import fields
from pathlib import Path

import pytest

from openmmo.protocol.codes import (
    PROTOCOL_VERSION,
    SUBPROTOCOLS,
    ChatChannel,
    ClientType,
    CloseCode,
    ErrorCode,
    EventType,
    Limits,
    ServerType,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "protocol.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "enum", [ErrorCode, ClientType, ServerType, EventType, ChatChannel], ids=lambda e: e.__name__
)
def test_every_wire_name_is_documented_as_code(doc, enum):
    missing = [member.value for member in enum if f"`{member.value}`" not in doc]
    assert not missing, f"{enum.__name__} values missing from {DOC.name}: {missing}"


def test_every_close_code_is_documented(doc):
    missing = [int(code) for code in CloseCode if f"`{int(code)}`" not in doc]
    assert not missing, f"close codes missing from {DOC.name}: {missing}"


def test_subprotocols_and_version_are_documented(doc):
    assert SUBPROTOCOLS, "no subprotocols defined"
    missing = [name for name in SUBPROTOCOLS if f"`{name}`" not in doc]
    assert not missing, f"subprotocols missing from {DOC.name}: {missing}"
    assert f"Protocol version | `{PROTOCOL_VERSION}`" in doc


def test_every_limit_is_documented_with_its_default(doc):
    rows = {line.split("|")[1].strip(): line for line in doc.splitlines() if line.startswith("| `")}
    for field in fields(Limits):
        row = rows.get(f"`{field.name}`")
        assert row is not None, f"limit {field.name} has no row in {DOC.name}"
        assert f"| {field.default:g} |" in row, f"limit {field.name}: default is {field.default}"


def _hex_block(doc: str, after: str) -> bytes:
    """The bytes of the first fenced block after ``after``: the hex pairs that start each line
    (a line's prose after the bytes is skipped)."""
    block = doc[doc.index(after) :].split("```", 2)[1]
    data = bytearray()
    for line in block.splitlines()[1:]:
        for word in line.split():
            if len(word) != 2 or any(c not in "0123456789abcdef" for c in word):
                break
            data.append(int(word, 16))
    return bytes(data)


def test_the_v2_worked_example_is_what_the_codec_writes_and_reads(doc):
    """§8.4's two messages are, byte for byte, what the server's encoder writes for the states
    the prose describes, and decode to the view it describes."""
    import msgpack
    import numpy as np

    from openmmo.protocol import delta as codec
    from openmmo.protocol.delta import DeltaView
    from openmmo.protocol.snapshot import TickPrefix

    keyframe = _hex_block(doc, "(103.125, 96.875) — is these 149 bytes")
    delta = _hex_block(doc, "The delta is 130 bytes")
    assert (len(keyframe), len(delta)) == (149, 130)

    def state(rows: dict[int, tuple[int, ...]]) -> np.ndarray:
        """handle -> (id, qx, qy, hp, hp_max, kind, flags, level), as the server holds it."""
        out = np.zeros(len(rows), dtype=codec.STATE_DTYPE)
        for i, (handle, row) in enumerate(rows.items()):
            out[i] = (0, handle, *row)
        out["key"] = codec.state_key(out["id"], out["handle"])
        return np.sort(out, order="key")

    npc = 2147483648
    before = state(
        {3: (1, 3200, 3200, 100, 100, 0, 0, 1), 7: (npc, 3856, 3072, 40, 40, 1, 0, 2)}
        | {9: (5, 3300, 3100, 90, 100, 0, 0, 1)}
    )
    after = state(
        {3: (1, 3232, 3200, 100, 100, 0, 0, 1), 7: (npc, 3856, 3072, 25, 40, 1, 0, 2)}
        | {4: (42, 4160, 2888, 80, 100, 0, 0, 3)}
    )
    part = codec.keyframe(before, 1 / 32)
    assert codec.snapshot_v2(TickPrefix.build(1200, 1795706675531), 7, 0, part, []) == keyframe
    part = codec.diff(before, after)
    assert codec.snapshot_v2(TickPrefix.build(1202, 1795706675631), 8, 0, part, []) == delta

    view = DeltaView()
    view.apply(msgpack.unpackb(keyframe, raw=False))
    assert {int(r["id"]): (float(r["x"]), float(r["y"])) for r in view.records()} == {
        1: (100.0, 100.0),
        5: (103.125, 96.875),
        2147483648: (120.5, 96.0),
    }
    view.apply(msgpack.unpackb(delta, raw=False))
    records = {int(r["id"]): r for r in view.records()}
    assert {k: (float(r["x"]), float(r["y"])) for k, r in records.items()} == {
        1: (101.0, 100.0),
        42: (130.0, 90.25),
        2147483648: (120.5, 96.0),
    }
    assert int(records[2147483648]["hp"]) == 25 and int(records[42]["level"]) == 3
