"""The compiled input path (openmmo.zone._fastpath) against the pure-Python path it stands in
for: it reads only moves the Python path would accept as they are, and a zone fed the same
frames sends the same bytes and ends in the same state with it on or off."""

import asyncio
import importlib
import json
import math
import struct
import sys

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from picows import WSMsgType
from picows.picows import _make_test_ws_frame

from openmmo.protocol.codec import decode
from openmmo.protocol.codes import Encoding, Limits, Wire
from openmmo.protocol.messages import Move, ProtocolError, parse_client_message
from openmmo.testing import RecordingTransport
from openmmo.zone import fastpath
from openmmo.zone.transport import GameListener
from tests.zone.conftest import make_zone


def test_make_install_built_the_compiled_path():
    assert fastpath.COMPILED, "openmmo.zone._fastpath is not built: run make install"


def python_reads(payload):
    """What the Python path makes of a binary frame: a Move, or None (anything else)."""
    try:
        message = parse_client_message(decode(payload, binary=True))
    except ProtocolError:
        return None
    return message if isinstance(message, Move) else None


numbers = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(width=32),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)
messages = st.dictionaries(
    st.sampled_from(["type", "seq", "x", "y", "z", "typ", ""]),
    st.one_of(st.sampled_from(["move", "attack", "Move"]), numbers),
    max_size=6,
).map(lambda d: {"type": "move", **d} if len(d) < 4 else d)


@st.composite
def payloads(draw):
    message = draw(messages)
    try:
        packed = msgpack.packb(message, use_single_float=draw(st.booleans()))
    except OverflowError:  # a double beyond float32's range
        packed = msgpack.packb(message)
    cut = draw(st.integers(0, 3))  # truncated, exact, or with bytes after the object
    if cut == 0:
        return packed[: draw(st.integers(0, len(packed)))]
    if cut == 1:
        return packed + draw(st.binary(min_size=1, max_size=4))
    return packed


@settings(max_examples=600, deadline=None)
@given(payloads())
def test_what_the_compiled_reader_takes_python_reads_as_the_same_move(payload):
    read = fastpath.parse_move(payload)
    if read is not None:
        seq, x, y = read
        move = python_reads(payload)
        assert move is not None, payload
        assert (move.seq, struct.pack("<dd", move.x, move.y)) == (seq, struct.pack("<dd", x, y))


@pytest.mark.parametrize(
    "message",
    [
        {"type": "move", "x": 100.25, "y": 3.5, "seq": 7},  # the Python client's order
        {"seq": 2**32 - 1, "type": "move", "x": 1, "y": -4},  # bots.c: seq first, integers
        {"type": "move", "seq": 1, "x": 0.0, "y": 2047.96875},
    ],
)
def test_the_moves_our_clients_send_are_read_compiled(message):
    for single in (False, True):  # the browser's msgpack writes float64, others may float32
        payload = msgpack.packb(message, use_single_float=single)
        assert fastpath.parse_move(payload) is not None
        assert python_reads(payload) is not None


def test_anything_else_is_left_to_python():
    good = {"type": "move", "seq": 3, "x": 1.0, "y": 2.0}
    for bad in (
        {**good, "seq": 0},
        {**good, "seq": 2**32},
        {**good, "seq": True},
        {**good, "x": math.nan},
        {**good, "y": math.inf},
        {**good, "x": "1"},
        {**good, "type": "attack"},
        {**good, "hp": 1},
        {"type": "move", "seq": 3, "x": 1.0},
    ):
        assert fastpath.parse_move(msgpack.packb(bad)) is None, bad
    packed = msgpack.packb(good)
    assert fastpath.parse_move(packed + b"\x00") is None  # trailing bytes: malformed
    assert fastpath.parse_move(packed[:-1]) is None
    assert fastpath.parse_move(b"") is None


# --- the same frames through a zone with the compiled path on and off ---------------------

NAMES = ("aria", "bob", "cid")
step = st.one_of(
    st.tuples(st.just("tick"), st.sampled_from([0.0, 0.01, 0.05, 0.2])),
    st.tuples(
        st.just("send"),
        st.integers(0, len(NAMES) - 1),
        st.sampled_from(
            [
                "move",
                "move",
                "move",
                "move_f32",
                "stale_move",
                "move_extra_field",
                "move_nan",
                "attack",
                "ping",
                "json_move",
                "garbage",
                "fragment",
                "open_fragment",
            ]
        ),
        st.floats(-3, 3),
    ),
)


def frame(payload, msg_type=WSMsgType.BINARY, fin=True):
    return _make_test_ws_frame(msg_type, payload, fin, False)


async def play(script, compiled):
    zone = make_zone(limits=Limits(max_messages_per_s=20, message_burst=6), compiled=compiled)
    players = []
    for index, name in enumerate(NAMES):
        account, _ = await zone.account(name, x=100.0 + 5 * index, y=100.0)
        token = zone.tokens.issue_access(account.account_id, name)
        listener = GameListener(zone.runtime, Wire(Encoding.MSGPACK, 2), token)
        transport = RecordingTransport(f"10.0.0.{index}:1")
        listener.attach(transport)
        listener.on_ws_frame(None, frame(msgpack.packb({"type": "join_game", "seq": 1})))
        await zone.settle()
        players.append([listener, transport, 1, 100.0 + 5 * index])
    await zone.tick()
    for action in script:
        if action[0] == "tick":
            if action[1]:
                await zone.tick(action[1])
            continue
        _, index, kind, dx = action
        player = players[index]
        listener, _, seq, x = player
        player[2] = seq = seq + (0 if kind == "stale_move" else 1)
        player[3] = x = min(max(x + dx, 1.0), 900.0)
        move = {"type": "move", "seq": seq, "x": round(x, 2), "y": 100.0}
        if kind == "move_f32":
            payload = msgpack.packb(move, use_single_float=True)
        elif kind == "move_extra_field":
            payload = msgpack.packb({**move, "note": "hi"})
        elif kind == "move_nan":
            payload = msgpack.packb({**move, "x": math.nan})
        elif kind == "attack":
            payload = msgpack.packb({"type": "attack", "seq": seq, "target_id": 2, "skill_id": 1})
        elif kind == "ping":
            payload = msgpack.packb({"type": "ping", "seq": seq, "client_time": 1.5})
        elif kind == "garbage":
            payload = b"\xc1\x84"
        else:
            payload = msgpack.packb(move)
        if kind == "json_move":
            listener.on_ws_frame(None, frame(json.dumps(move).encode(), WSMsgType.TEXT))
        elif kind == "fragment":  # a move split in two frames: assembled by Python
            listener.on_ws_frame(None, frame(payload[:3], fin=False))
            listener.on_ws_frame(None, frame(payload[3:], WSMsgType.CONTINUATION))
        elif kind == "open_fragment":  # the next message, a move too, breaks RFC 6455 5.4
            listener.on_ws_frame(None, frame(payload[:3], fin=False))
        else:
            listener.on_ws_frame(None, frame(payload))
    await zone.tick()
    traffic = zone.runtime.traffic
    sessions = [p[0].session for p in players]
    state = [
        (s.last_seq, s.ack_seq, s.message_bucket.tokens, s.message_bucket.updated_at, s.phase)
        for s in sessions
    ]
    world = zone.runtime.play.world
    positions = [(float(world.x[s.actor.slot]), float(world.y[s.actor.slot])) for s in sessions]
    moves = zone.runtime.sessions.moves
    return (
        [p[1].frames for p in players],
        state,
        positions,
        (dict(traffic.received), dict(traffic.errors), traffic.bytes_in),
    ), (moves.total if moves is not None else 0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=40))
def test_a_zone_sends_the_same_bytes_with_the_compiled_path_on_and_off(script):
    compiled, accepted = asyncio.run(play(script, True))
    pure, none = asyncio.run(play(script, False))
    assert none == 0
    sends = [a for a in script if a[0] == "send"]
    broken = {a[1] for a in sends if a[2] == "open_fragment"}  # closed by their next message
    if any(a[2] == "move" and a[1] not in broken for a in sends):
        assert accepted > 0  # the compiled path did read moves
    assert compiled == pure


def test_without_the_compiled_module_every_frame_takes_the_python_path(monkeypatch):
    monkeypatch.setitem(sys.modules, "openmmo.zone._fastpath", None)  # as if never built
    try:
        pure = importlib.reload(fastpath)
        assert pure.COMPILED is False and pure.MoveInbox is None
        assert "openmmo.zone._fastpath" in pure.UNAVAILABLE  # what the zone will log
        seen = []

        class Listener(pure.FastGameListener):
            def on_frame(self, transport, frame):
                seen.append(frame.get_payload_as_bytes())

        payload = msgpack.packb({"type": "move", "seq": 1, "x": 1.0, "y": 1.0})
        Listener().on_ws_frame(None, frame(payload))
        assert seen == [payload]
    finally:
        monkeypatch.undo()
        importlib.reload(fastpath)
    assert fastpath.COMPILED
