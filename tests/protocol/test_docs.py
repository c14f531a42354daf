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
