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
    """§8.4's two messages, byte for byte, decode to the view the prose describes."""
    import msgpack

    from openmmo.protocol.delta import DeltaView

    keyframe = _hex_block(doc, "(103.125, 96.875) — is these 149 bytes")
    delta = _hex_block(doc, "The delta is 130 bytes")
    assert (len(keyframe), len(delta)) == (149, 130)
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
