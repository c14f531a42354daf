"""The zone's connections: authentication, phases, decoding, the inbox, sending.

How it works. Transport callbacks call :meth:`Sessions.connect`, :meth:`on_message` and
:meth:`disconnect`. A message is rate-limited, decoded, validated (the game's custom messages
included), checked against the session phase (:mod:`openmmo.protocol.session`) and its
sequence number. Then it is either handled at once, if it does not read or change the world
(``auth``, ``ping``, ``inspect``, chat lines, and the requests that start waiting on
storage: ``join_game``, ``inventory``, ``use_item``, ``leave``), or put in the **inbox**,
which the tick drains: the world changes only in the tick. Overflow policy of the inbox:
none is needed beyond the per-connection token bucket (``max_messages_per_s``,
``message_burst``), which bounds what one connection can queue between two ticks.

This part owns the connection table, the character → session index (bound and unbound by
:mod:`openmmo.zone.play` as characters enter and leave), used tickets and seats held for
transfers on their way. Nobody else changes them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from openmmo.auth.tokens import JoinTicket, TokenError, TokenService
from openmmo.clock import Clock
from openmmo.protocol.codec import decode
from openmmo.protocol.codes import ClientType, CloseCode, Encoding, ErrorCode, Limits, Wire
from openmmo.protocol.messages import (
    Chat,
    ClientMessage,
    Extension,
    Move,
    ProtocolError,
    parse_client_message,
)
from openmmo.protocol.server import Error, Notice, ServerMessage, Welcome
from openmmo.protocol.session import Event, Phase, check_allowed
from openmmo.sim.step import Inputs
from openmmo.zone.fastpath import MoveInbox
from openmmo.zone.session import Session, Transport, count_recent

# Messages answered as they arrive: they neither change nor need a consistent world (a
# `say` line finds its audience in the last tick's interest grid, as it always did; `inspect`
# reads names and levels). Every other type waits in the inbox for the tick.
IMMEDIATE = frozenset(
    {
        ClientType.AUTH,
        ClientType.PING,
        ClientType.RESYNC,
        ClientType.JOIN_GAME,
        ClientType.INVENTORY,
        ClientType.USE_ITEM,
        ClientType.LEAVE,
        ClientType.INSPECT,
    }
)


def handled_at_once(message: ClientMessage) -> bool:
    """Whether ``message`` is answered as it arrives rather than in the tick. A chat line
    is, unless it is a command (the game's, in the tick)."""
    if message.kind in IMMEDIATE:
        return True
    return isinstance(message, Chat) and not message.message.lstrip().startswith("/")


Handler = Callable[[Session, Any, float], None]


@dataclass
class Traffic:
    """Plain counters, moved into Prometheus once per tick (cheaper than a labelled metric
    per message)."""

    received: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    disconnects: Counter[int] = field(default_factory=Counter)
    bytes_in: int = 0
    bytes_out: int = 0
    snapshot_sizes: list[int] = field(default_factory=list)

    def clear(self) -> None:
        self.snapshot_sizes = []
        self.received.clear()
        self.sent.clear()
        self.errors.clear()
        self.disconnects.clear()
        self.bytes_in = self.bytes_out = 0


@dataclass(frozen=True, slots=True)
class Greeting:
    """What ``welcome`` says besides the session's own details."""

    server_id: str
    zone: Mapping[str, Any]
    tick_rate_hz: float
    snapshot_rate_hz: float
    game: Mapping[str, Any]


class Sessions:
    def __init__(
        self,
        *,
        zone_id: int,
        server_id: str,
        accept_zone_tickets: bool,
        limits: Limits,
        tokens: TokenService,
        clock: Clock,
        traffic: Traffic,
        connection_limit_exempt: frozenset[str] = frozenset(),
    ):
        self.zone_id = zone_id
        self.server_id = server_id
        self.accept_zone_tickets = accept_zone_tickets
        self.limits = limits
        self.tokens = tokens
        self.clock = clock
        self.traffic = traffic
        self.connection_limit_exempt = connection_limit_exempt
        self.connections: dict[int, Session] = {}
        self.players: dict[int, Session] = {}  # by character (= entity) id
        self.roster = 0  # counts changes to ``players`` (caches of audiences check it)
        self.inbox: list[tuple[Session, ClientMessage, float]] = []  # with arrival time
        # The compiled path's moves (openmmo.zone.fastpath); None: moves go to the inbox.
        self.moves: MoveInbox | None = None
        self.draining = False
        self.extensions: Mapping[str, Extension] = {}
        self.greeting: Callable[[], Greeting] | None = None
        self.on_immediate: Handler = lambda session, message, now: None
        self.on_disconnect: Callable[[Session], None] = lambda session: None
        self._used_tickets: dict[str, float] = {}  # ticket id -> expiry (wall clock)
        # Seats held for players announced by a transfer hand-off: id -> (character, expiry).
        self._seats: dict[str, tuple[int, float]] = {}
        self._next_session_id = 1
        self._per_address: Counter[str] = Counter()  # open connections
        self._per_account: Counter[int] = Counter()  # authenticated open connections

    # --- connections ----------------------------------------------------------------------
    def connect(self, transport: Transport, wire: Wire | Encoding, token: str | None) -> Session:
        now = self.clock.monotonic()
        if isinstance(wire, Encoding):
            wire = Wire(wire)
        session = Session(
            self._next_session_id, transport, wire.encoding, self.limits, now, wire.version
        )
        self._next_session_id += 1
        self.connections[session.session_id] = session
        address = transport.address
        self._per_address[address] += 1
        cap = self.limits.max_connections_per_address
        if self.draining:
            session.close(CloseCode.SERVICE_RESTART, "server is draining; reconnect via gateway")
        elif (
            cap and self._per_address[address] > cap and address not in self.connection_limit_exempt
        ):
            self.refuse(
                session,
                ErrorCode.TOO_MANY_CONNECTIONS,
                f"at most {cap} connections per address",
                None,
                CloseCode.TOO_MANY_CONNECTIONS,
            )
        elif token is not None:
            self.authenticate(session, token, None)
        return session

    def authenticate(self, session: Session, token: str, seq: int | None) -> None:
        try:
            claims = self.tokens.verify_game_token(token)
        except TokenError as exc:
            self.refuse(session, ErrorCode.UNAUTHORIZED, str(exc), seq, CloseCode.UNAUTHORIZED)
            return
        if isinstance(claims, JoinTicket):
            problem = self._ticket_problem(claims)
            if problem is not None:
                message, close_code = problem
                self.refuse(session, ErrorCode.UNAUTHORIZED, message, seq, close_code)
                return
            self._used_tickets[claims.ticket_id] = claims.expires_at
            session.ticket_character_id = claims.character_id
            session.transfer_id = claims.transfer_id
            session.traceparent = claims.traceparent
        cap = self.limits.max_connections_per_account
        if cap and self._per_account[claims.account_id] >= cap:
            self.refuse(
                session,
                ErrorCode.TOO_MANY_CONNECTIONS,
                f"at most {cap} connections per account",
                seq,
                CloseCode.TOO_MANY_CONNECTIONS,
            )
            return
        session.account_id = claims.account_id
        self._per_account[claims.account_id] += 1
        session.username = claims.username
        session.apply(Event.AUTHENTICATED)
        session.lobby_since = self.clock.monotonic()
        self.send(session, self._welcome(session, seq))

    def _ticket_problem(self, claims: JoinTicket) -> tuple[str, CloseCode] | None:
        if claims.zone_id != self.zone_id or (
            claims.server_id != self.server_id and not self.accept_zone_tickets
        ):
            return "this ticket is for another server", CloseCode.FORBIDDEN
        if claims.ticket_id in self._used_tickets:
            return "this ticket was already used", CloseCode.UNAUTHORIZED
        return None

    def _welcome(self, session: Session, seq: int | None) -> Welcome:
        assert self.greeting is not None and session.account_id is not None
        greeting, limits = self.greeting(), self.limits
        return Welcome(
            server_id=greeting.server_id,
            encoding=session.encoding.value,
            protocol=session.protocol,
            account_id=session.account_id,
            zone=greeting.zone,
            tick_rate_hz=greeting.tick_rate_hz,
            snapshot_rate_hz=greeting.snapshot_rate_hz,
            limits={
                "max_message_bytes": limits.max_message_bytes,
                "max_messages_per_s": limits.max_messages_per_s,
                "message_burst": limits.message_burst,
                "max_chat_chars": limits.max_chat_chars,
                "chat_per_s": limits.chat_per_s,
                "chat_burst": limits.chat_burst,
                "max_snapshot_entities": limits.max_snapshot_entities,
                "max_inspect_ids": limits.max_inspect_ids,
                "auth_timeout_s": limits.auth_timeout_s,
                "join_timeout_s": limits.join_timeout_s,
            },
            game=greeting.game,
            seq=seq,
        )

    def disconnect(self, session: Session) -> None:
        if session.phase is not Phase.CLOSED:
            session.apply(Event.CLOSE)
        if self.connections.pop(session.session_id, None) is not None:
            _decrement(self._per_address, session.transport.address)
            if session.account_id is not None:
                _decrement(self._per_account, session.account_id)
        self.on_disconnect(session)

    def set_writable(self, session: Session, writable: bool) -> None:
        session.writable = writable
        session.backlogged_since = None if writable else self.clock.monotonic()

    # --- the character index (changed by openmmo.zone.play only) --------------------------
    def bind(self, character_id: int, session: Session) -> None:
        self.players[character_id] = session
        self.roster += 1

    def unbind(self, character_id: int, session: Session) -> None:
        if self.players.get(character_id) is session:
            del self.players[character_id]
            self.roster += 1

    def joining(self) -> int:
        return sum(1 for s in self.connections.values() if s.phase is Phase.JOINING)

    # --- seats for transfers on their way -------------------------------------------------
    def hold_seat(self, transfer_id: str, character_id: int, expires_at: float) -> None:
        self._seats[transfer_id] = (character_id, expires_at)

    def release_seat(self, transfer_id: str) -> None:
        self._seats.pop(transfer_id, None)

    def seats_held(self, except_transfer: str | None = None) -> int:
        return sum(1 for t in self._seats if t != except_transfer)

    def forget_expired(self, wall_now: float) -> None:
        for ticket_id in [t for t, expiry in self._used_tickets.items() if expiry < wall_now - 60]:
            del self._used_tickets[ticket_id]
        for transfer_id in [t for t, (_, expiry) in self._seats.items() if expiry < wall_now]:
            del self._seats[transfer_id]

    # --- messages -------------------------------------------------------------------------
    def on_message(self, session: Session, payload: bytes, binary: bool) -> None:
        now = self.clock.monotonic()
        self.traffic.bytes_in += len(payload)
        if session.phase is Phase.CLOSED:
            return
        if not session.message_bucket.take(now):
            self._rate_limited(session, now)
            return
        try:
            message = parse_client_message(
                decode(payload, binary=binary),
                max_inspect_ids=self.limits.max_inspect_ids,
                extensions=self.extensions,
            )
            check_allowed(session.phase, message.kind, message.seq)
            if message.seq <= session.last_seq:
                raise ProtocolError(
                    ErrorCode.BAD_SEQ, f"seq must be greater than {session.last_seq}", message.seq
                )
        except ProtocolError as exc:
            self.protocol_error(session, exc, now)
            return
        session.last_seq = message.seq
        self.traffic.received[message.kind.value] += 1
        if handled_at_once(message):
            if not session.queued:
                session.ack_seq = message.seq
            self.on_immediate(session, message, now)
        elif self.moves is not None and isinstance(message, Move):
            self.moves.push(session, message.x, message.y, now)  # with the compiled path's
        else:
            session.queued = True
            self.inbox.append((session, message, now))

    def drain_inbox(self) -> list[tuple[Session, ClientMessage, float]]:
        """The messages since the last tick, in arrival order. Every seq received so far is
        processed once the tick has run them, so it is what snapshots acknowledge."""
        inbox, self.inbox = self.inbox, []
        for session, _, _ in inbox:
            if session.queued:
                session.queued = False
                session.ack_seq = session.last_seq
        return inbox

    def has_inputs(self) -> bool:
        """Whether messages wait for the next tick."""
        return bool(self.inbox) or (self.moves is not None and len(self.moves) > 0)

    def drain_moves(self, inputs: Inputs, arrivals: list[float]) -> None:
        """The compiled path's moves (and, while it is on, every other move) into ``inputs``,
        as :func:`openmmo.zone.handlers.handle_in_tick` would; after :meth:`drain_inbox`."""
        moves = self.moves
        if moves is None:
            return
        moves.drain(inputs, arrivals)
        if moves.accepted:  # what the compiled path read is counted here, once per tick
            self.traffic.received[ClientType.MOVE.value] += moves.accepted
            self.traffic.bytes_in += moves.bytes_in
            moves.accepted = moves.bytes_in = 0

    def protocol_error(self, session: Session, exc: ProtocolError, now: float) -> None:
        self.send_error(session, exc.code, exc.message, exc.seq)
        limits = self.limits
        if (
            count_recent(session.error_times, now, limits.error_window_s)
            > limits.max_errors_before_close
        ):
            self.close(session, CloseCode.POLICY_VIOLATION, "too many protocol errors")

    def _rate_limited(self, session: Session, now: float) -> None:
        limits = self.limits
        if (
            count_recent(session.limited_times, now, limits.error_window_s)
            > limits.max_rate_limited_before_close
        ):
            self.close(session, CloseCode.RATE_LIMITED, "too many messages")
        elif now >= session.next_limit_notice_at:  # one notice per second, not per message
            session.next_limit_notice_at = now + 1.0
            self.send_error(
                session,
                ErrorCode.RATE_LIMITED,
                f"more than {limits.max_messages_per_s:g} messages/s; messages are being dropped",
            )

    # --- output ---------------------------------------------------------------------------
    def send(self, session: Session, message: ServerMessage) -> None:
        self.traffic.bytes_out += session.send(message)
        self.traffic.sent[message.type.value] += 1

    def send_error(
        self, session: Session, code: ErrorCode | str, message: str, seq: int | None = None
    ) -> None:
        code = code.value if isinstance(code, ErrorCode) else code
        self.traffic.errors[code] += 1
        self.send(session, Error(code, message, seq))

    def close(self, session: Session, close_code: CloseCode, reason: str) -> None:
        if session.phase is not Phase.CLOSED:
            self.traffic.disconnects[close_code] += 1
        session.close(close_code, reason)

    def refuse(
        self,
        session: Session,
        code: ErrorCode,
        message: str,
        seq: int | None,
        close_code: CloseCode,
    ) -> None:
        """Send an error, then close the connection with ``close_code``."""
        self.send_error(session, code, message, seq)
        self.close(session, close_code, message)

    def replace(self, session: Session, notice: Notice) -> None:
        """Tell a connection its character is played from elsewhere now, and close it
        (4009). The character itself is taken out by :mod:`openmmo.zone.play`."""
        self.send(session, notice)
        self.close(session, CloseCode.SESSION_REPLACED, "session replaced")

    def housekeeping(self, now: float, slow_consumer_timeout_s: float) -> None:
        """Close connections that never authenticated, never joined, or stopped reading."""
        limits = self.limits
        auth, lobby = Phase.AUTH, Phase.LOBBY  # once, not per connection and tick
        for session in list(self.connections.values()):
            phase = session.phase
            if phase is auth and now - session.connected_at > limits.auth_timeout_s:
                self.refuse(
                    session,
                    ErrorCode.NOT_AUTHENTICATED,
                    f"no auth message within {limits.auth_timeout_s:g}s",
                    None,
                    CloseCode.AUTH_TIMEOUT,
                )
            elif phase is lobby and now - session.lobby_since > limits.join_timeout_s:
                self.refuse(
                    session,
                    ErrorCode.NOT_JOINED,
                    f"no character joined within {limits.join_timeout_s:g}s",
                    None,
                    CloseCode.JOIN_TIMEOUT,
                )
            elif (
                session.backlogged_since is not None
                and now - session.backlogged_since > slow_consumer_timeout_s
            ):
                self.close(session, CloseCode.SLOW_CONSUMER, "not reading snapshots")


def _decrement(counts: Counter[Any], key: object) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]
