"""The connection state machine: phases, what each allows, and the transitions between them,
as explicit tables.

::

    AUTH ──authenticated──▶ LOBBY ──join──▶ JOINING ──entered──▶ PLAYING ──transfer──▶ TRANSFERRING
      (token at upgrade skips AUTH)   ◀─join_failed─┘      ◀──transfer_failed──┘
                                                       PLAYING ──leave──▶ LEAVING (saving)
    any phase ──close──▶ CLOSED

A message not allowed in the current phase is answered with the error code in
:data:`REFUSALS` and otherwise ignored (the connection stays open). A transition not in
:data:`TRANSITIONS` is a bug in the server and raises :class:`IllegalTransition`.
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
    LEAVING = "leaving"  # `leave` received: the character is being saved, then the close
    CLOSED = "closed"


class Event(StrEnum):
    """What moves a connection from one phase to the next."""

    AUTHENTICATED = "authenticated"  # a valid token, at the upgrade or in `auth`
    JOIN = "join"  # join_game accepted; loading the character
    JOIN_FAILED = "join_failed"  # the character could not be loaded; try again
    ENTERED = "entered"  # the character is in the world
    TRANSFER = "transfer"  # a portal or switch_channel: on the way to another server
    TRANSFER_FAILED = "transfer_failed"  # no channel, or storage failed: back in play
    LEAVE = "leave"  # the player asked to leave: save, then close
    CLOSE = "close"  # leave, an error that closes, disconnect, or the end of a transfer


class IllegalTransition(Exception):
    """A phase change that the table does not allow: a bug in the zone server."""


P, E = Phase, Event
TRANSITIONS: dict[tuple[Phase, Event], Phase] = {
    (P.AUTH, E.AUTHENTICATED): P.LOBBY,
    (P.LOBBY, E.JOIN): P.JOINING,
    (P.JOINING, E.JOIN_FAILED): P.LOBBY,
    (P.JOINING, E.ENTERED): P.PLAYING,
    (P.PLAYING, E.TRANSFER): P.TRANSFERRING,
    (P.TRANSFERRING, E.TRANSFER_FAILED): P.PLAYING,
    (P.TRANSFERRING, E.ENTERED): P.PLAYING,  # the transfer failed after leaving the world
    (P.PLAYING, E.LEAVE): P.LEAVING,
    **{(phase, E.CLOSE): P.CLOSED for phase in Phase},
}


def next_phase(phase: Phase, event: Event) -> Phase:
    try:
        return TRANSITIONS[(phase, event)]
    except KeyError:
        raise IllegalTransition(f"{event.value} is not possible while {phase.value}") from None


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
            C.RESYNC,
            C.INSPECT,
            C.LEAVE,
            C.GIVE,
            C.INVENTORY,
            C.SWITCH_CHANNEL,
            C.USE_ITEM,
            C.CUSTOM,
        }
    ),
    Phase.TRANSFERRING: frozenset({C.PING}),
    Phase.LEAVING: frozenset({C.PING}),
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
    **{(Phase.LEAVING, t): ErrorCode.NOT_JOINED for t in ClientType},
}


def check_allowed(phase: Phase, kind: ClientType, seq: int) -> None:
    """Raise :class:`ProtocolError` unless ``kind`` may be sent in ``phase``."""
    if kind not in ALLOWED[phase]:
        code = REFUSALS.get((phase, kind), ErrorCode.NOT_JOINED)
        raise ProtocolError(code, f"{kind.value!r} is not allowed while {phase.value}", seq)
