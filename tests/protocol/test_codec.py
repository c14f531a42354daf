import json

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openmmo.protocol.codec import decode, encode, error_message
from openmmo.protocol.codes import Encoding, ErrorCode
from openmmo.protocol.messages import ProtocolError, parse_client_message


@pytest.mark.parametrize("encoding", list(Encoding))
def test_server_messages_round_trip_in_both_encodings(encoding):
    message = {"type": "ack", "seq": 5, "result": {"target": 3, "hp": 40, "killed": False}}
    data = encode(message, encoding)
    assert decode(data, binary=encoding is Encoding.MSGPACK) == message


def test_json_is_compact_and_utf8():
    assert (
        encode({"type": "pong", "text": "héllo"}, Encoding.JSON)
        == '{"type":"pong","text":"héllo"}'.encode()
    )


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b"\xff\xfe", b"[" * 10000, b"", b'{"a": NaN'],
)
def test_malformed_json_is_a_bad_message(payload):
    with pytest.raises(ProtocolError) as raised:
        decode(payload, binary=False)
    assert raised.value.code is ErrorCode.BAD_MESSAGE


@pytest.mark.parametrize(
    "payload",
    [
        b"\xc1",
        b"\x81\xa1a",
        msgpack.packb({1: 2}),
        b"\x91" * 5000 + b"\xc0",
        msgpack.packb({"a": 1}) + b"\x00",
        msgpack.packb({"type": "ping", "seq": 1, "x": msgpack.ExtType(5, b"x")}),
    ],
)
def test_malformed_msgpack_is_a_bad_message(payload):
    with pytest.raises(ProtocolError) as raised:
        decode(payload, binary=True)
    assert raised.value.code is ErrorCode.BAD_MESSAGE


def test_error_message_shape():
    assert error_message(ErrorCode.COOLDOWN, "wait", 3) == {
        "type": "error",
        "code": "cooldown",
        "message": "wait",
        "seq": 3,
    }
    assert "seq" not in error_message(ErrorCode.INTERNAL, "x")


@given(st.binary(max_size=256))
def test_any_bytes_decode_or_fail_cleanly(payload):
    for binary in (True, False):
        try:
            parse_client_message(decode(payload, binary=binary))
        except ProtocolError as exc:
            assert exc.code in set(ErrorCode)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=8,
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "type",
                "seq",
                "x",
                "y",
                "target_id",
                "skill_id",
                "message",
                "channel",
                "ids",
                "token",
                "map_id",
            ]
        ),
        json_values | st.sampled_from(["move", "attack", "chat", "ping"]),
    )
)
def test_any_decoded_object_parses_or_fails_with_a_protocol_error(obj):
    try:
        parse_client_message(json.loads(json.dumps(obj)))
    except ProtocolError as exc:
        assert exc.code in set(ErrorCode)


def test_a_v2_offer_falls_back_to_v1_msgpack_and_v1_offers_one_name():
    from openmmo.protocol.codes import SUBPROTOCOLS, Encoding, offer

    assert offer(Encoding.MSGPACK, 2) == "openmmo.v2.msgpack, openmmo.v1.msgpack"
    assert offer(Encoding.JSON) == "openmmo.v1.json"
    assert all(name in SUBPROTOCOLS for name in offer(Encoding.MSGPACK, 2).split(", "))
