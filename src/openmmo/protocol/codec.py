"""Encoding and decoding of whole messages in both encodings.

Inbound frames are decoded by their WebSocket opcode (text frames are JSON, binary frames are
msgpack), so a debugging tool may send JSON to a msgpack session; outbound frames use the
encoding negotiated for the connection. Snapshots have their own, pre-assembled encoder in
:mod:`openmmo.protocol.snapshot`.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack

from openmmo.protocol.codes import Encoding, ErrorCode
from openmmo.protocol.messages import ProtocolError

_json_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def decode_json(payload: bytes) -> Any:
    """Decode one JSON text frame. Any failure becomes ``bad_message``."""
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"malformed JSON: {exc}") from None


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"ext type {code} is not part of the protocol")


def decode_msgpack(payload: bytes) -> Any:
    """Decode one msgpack binary frame: exactly one object, string keys, no ext types."""
    try:
        return msgpack.unpackb(
            payload, raw=False, strict_map_key=True, use_list=True, ext_hook=_no_ext
        )
    except Exception as exc:  # msgpack raises ValueError, TypeError or its own errors
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"malformed msgpack: {exc}") from None


def decode(payload: bytes, *, binary: bool) -> Any:
    return decode_msgpack(payload) if binary else decode_json(payload)


def encode(message: dict[str, Any], encoding: Encoding) -> bytes:
    """Encode one server message in ``encoding``."""
    if encoding is Encoding.MSGPACK:
        return msgpack.packb(message, use_bin_type=True)
    return _json_encoder.encode(message).encode()


def encode_json_text(value: Any) -> str:
    return _json_encoder.encode(value)


def error_message(code: ErrorCode, message: str, seq: int | None = None) -> dict[str, Any]:
    """The ``error`` message: ``{"type": "error", "code", "message", "seq"?}``."""
    body: dict[str, Any] = {"type": "error", "code": code.value, "message": message}
    if seq is not None:
        body["seq"] = seq
    return body
