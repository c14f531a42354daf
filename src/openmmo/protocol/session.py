"""The connection state machine, as an explicit table.

::

    AUTH ──auth ok──▶ LOBBY ──join_game──▶ JOINING ──loaded──▶ PLAYING ──portal──▶ TRANSFERRING
      │ (token at upgrade skips AUTH)         │ join failed ─▶ LOBBY    ◀─ no channel ─┘   │
      └───────────── any error that closes, or leave ─────────▶ CLOSED ◀─── transfer ─────┘

A message not allowed in the current phase is answered with the error code in
:data:`REFUSALS` and otherwise ignored (the connection stays open).
"""

from __future__ import annotations

from enum import StrEnum

from openmmo.protocol.codes import ClientType, ErrorCode
from openmmo.protocol.messages import ProtocolError


class Phase(StrEnum):
    AUTH = "auth"
    LOBBY = "lobby"
    JOINING = "joining"
    PLAYING = "playing"
    TRANSFERRING = "transferring"
    CLOSED = "closed"


C = ClientType
ALLOWED: dict[Phase, frozenset[ClientType]] = {
    Phase.AUTH: frozenset({C.AUTH, C.PING}),
    Phase.LOBBY: frozenset({C.JOIN_GAME, C.PING, C.LEAVE}),
    Phase.JOINING: frozenset({C.PING, C.LEAVE}),
    Phase.PLAYING: frozenset(
        {
            C.MOVE,
            C.ATTACK,
            C.CHAT,
            C.PING,
            C.INSPECT,
            C.LEAVE,
            C.GIVE,
            C.INVENTORY,
            C.SWITCH_CHANNEL,
        }
    ),
    Phase.TRANSFERRING: frozenset({C.PING}),
    Phase.CLOSED: frozenset(),
}

# Why a message is refused in a phase: (phase, type) -> error code; default NOT_JOINED.
REFUSALS: dict[tuple[Phase, ClientType], ErrorCode] = {
    **{(Phase.AUTH, t): ErrorCode.NOT_AUTHENTICATED for t in ClientType},
    **{
        (p, C.AUTH): ErrorCode.ALREADY_AUTHENTICATED
        for p in (Phase.LOBBY, Phase.JOINING, Phase.PLAYING)
    },
    **{(p, C.JOIN_GAME): ErrorCode.ALREADY_JOINED for p in (Phase.JOINING, Phase.PLAYING)},
    **{(Phase.TRANSFERRING, t): ErrorCode.TRANSFERRING for t in ClientType},
}


def check_allowed(phase: Phase, kind: ClientType, seq: int) -> None:
    """Raise :class:`ProtocolError` unless ``kind`` may be sent in ``phase``."""
    if kind not in ALLOWED[phase]:
        code = REFUSALS.get((phase, kind), ErrorCode.NOT_JOINED)
        raise ProtocolError(code, f"{kind.value!r} is not allowed while {phase.value}", seq)
