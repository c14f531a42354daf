"""The zone runtime: owns one world and every connection to it, and dispatches messages.

How it works. Transport callbacks run on the event loop and call :meth:`ZoneRuntime.connect`,
:meth:`on_message` and :meth:`disconnect`. A message is rate-limited, decoded, validated,
checked against the session phase (:mod:`openmmo.protocol.session`) and its sequence number,
then handled at once by a function of :mod:`openmmo.zone.handlers`: moves change the world
immediately and are acknowledged by the next snapshot; attacks and chat are answered with an
``ack`` (or ``error``) on the spot. Work that waits on storage or the bus (joining, global
chat) runs as a task of the server's TaskGroup. The tick (:mod:`openmmo.zone.replicate`)
advances the world and sends snapshots.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from openmmo.auth.tokens import JoinTicket, TokenError, TokenService
from openmmo.bus import Bus
from openmmo.checkpoints import HotCheckpoint
from openmmo.clock import Clock
from openmmo.directory import Directory
from openmmo.logs import get_logger
from openmmo.metrics import initialise_zone
from openmmo.protocol.codec import decode
from openmmo.protocol.codes import PROTOCOL_VERSION, CloseCode, Encoding, ErrorCode, Limits
from openmmo.protocol.messages import ProtocolError, parse_client_message
from openmmo.protocol.session import Phase, check_allowed
from openmmo.replication.interest import InterestGrid
from openmmo.sim.world import ActionRejected, EntityKind, World
from openmmo.storage import CharacterProgress, Storage
from openmmo.zone.checkpoint import Checkpointer
from openmmo.zone.handlers import HANDLERS
from openmmo.zone.session import Session, Transport, count_recent

log = get_logger("openmmo.zone")

Spawn = Callable[[Coroutine[Any, Any, None]], object]


@dataclass(frozen=True, slots=True)
class ZoneConfig:
    server_id: str
    ws_url: str
    max_players: int = 1000
    tick_interval_s: float = 0.05
    snapshot_interval_s: float = 0.1
    send_budget_s: float = 0.004
    max_concurrent_joins: int = 8
    slow_consumer_timeout_s: float = 10.0
    limits: Limits = field(default_factory=Limits)
    # Honour join and transfer tickets issued for any channel of this zone, not only this
    # one: for channels behind one load balancer, which picks the channel itself.
    accept_zone_tickets: bool = False


class ZoneRuntime:
    def __init__(
        self,
        world: World,
        config: ZoneConfig,
        *,
        tokens: TokenService,
        storage: Storage,
        bus: Bus,
        clock: Clock,
        checkpointer: Checkpointer,
        directory: Directory,
    ):
        self.world = world
        self.spec = world.spec
        self.config = config
        self.limits = config.limits
        self.tokens = tokens
        self.storage = storage
        self.bus = bus
        self.clock = clock
        self.checkpointer = checkpointer
        checkpointer.on_refused = self.ownership_lost
        self.directory = directory
        self.grid = InterestGrid(self.spec.width, self.spec.height, self.spec.cell_size)
        self.sessions: dict[int, Session] = {}
        self.players: dict[int, Session] = {}  # by character (= entity) id
        self.used_tickets: dict[str, float] = {}  # ticket id -> expiry (wall clock)
        # Seats held for players announced by a transfer hand-off: id -> (character, expiry).
        self.expected: dict[str, tuple[int, float]] = {}
        self.draining = False
        self.received: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.disconnects: Counter[int] = Counter()
        self.bytes_in = 0
        self.bytes_out = 0
        self._next_session_id = 1
        # Admission: joins load from storage this many at a time (see openmmo.zone.joining).
        self.join_slots = asyncio.Semaphore(config.max_concurrent_joins)
        self._spawn: Spawn | None = None
        initialise_zone(self.spec.name)

    def attach(self, spawn: Spawn) -> None:
        """Give the runtime its TaskGroup's ``create_task`` for work that must wait."""
        self._spawn = spawn

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if self._spawn is None:
            work.close()
            raise RuntimeError("the runtime is not attached to a task group")
        self._spawn(work)

    # --- connections ----------------------------------------------------------------------
    def connect(self, transport: Transport, encoding: Encoding, token: str | None) -> Session:
        now = self.clock.monotonic()
        session = Session(self._next_session_id, transport, encoding, self.limits, now)
        self._next_session_id += 1
        self.sessions[session.session_id] = session
        if self.draining:
            session.close(CloseCode.SERVICE_RESTART, "server is draining; reconnect via gateway")
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
            if claims.zone_id != self.spec.zone_id or (
                claims.server_id != self.config.server_id and not self.config.accept_zone_tickets
            ):
                self.refuse(
                    session,
                    ErrorCode.UNAUTHORIZED,
                    "this ticket is for another server",
                    seq,
                    CloseCode.FORBIDDEN,
                )
                return
            if claims.ticket_id in self.used_tickets:
                self.refuse(
                    session,
                    ErrorCode.UNAUTHORIZED,
                    "this ticket was already used",
                    seq,
                    CloseCode.UNAUTHORIZED,
                )
                return
            self.used_tickets[claims.ticket_id] = claims.expires_at
            session.ticket_character_id = claims.character_id
            session.transfer_id = claims.transfer_id
        session.account_id = claims.account_id
        session.username = claims.username
        session.phase = Phase.LOBBY
        self.send(session, self.welcome(session, seq))

    def welcome(self, session: Session, seq: int | None) -> dict[str, Any]:
        limits = self.limits
        message: dict[str, Any] = {
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "server_id": self.config.server_id,
            "encoding": session.encoding.value,
            "account_id": session.account_id,
            "zone": self.zone_info(),
            "tick_rate_hz": round(1 / self.config.tick_interval_s, 3),
            "snapshot_rate_hz": round(1 / self.config.snapshot_interval_s, 3),
            "limits": {
                "max_message_bytes": limits.max_message_bytes,
                "max_messages_per_s": limits.max_messages_per_s,
                "message_burst": limits.message_burst,
                "max_chat_chars": limits.max_chat_chars,
                "chat_per_s": limits.chat_per_s,
                "chat_burst": limits.chat_burst,
                "max_snapshot_entities": limits.max_snapshot_entities,
                "max_inspect_ids": limits.max_inspect_ids,
                "auth_timeout_s": limits.auth_timeout_s,
            },
        }
        if seq is not None:
            message["seq"] = seq
        return message

    def zone_info(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "zone_id": spec.zone_id,
            "name": spec.name,
            "width": spec.width,
            "height": spec.height,
            "pvp": spec.pvp,
            "cell_size": spec.cell_size,
        }

    def disconnect(self, session: Session) -> None:
        session.phase = Phase.CLOSED
        self.sessions.pop(session.session_id, None)
        self.leave_world(session)

    def leave_world(self, session: Session, *, save: bool = True) -> None:
        """Take the session's character out of the world; unless ``save`` is false, stage its
        progress to be saved and released (the character is free once that lands)."""
        character_id = session.character_id
        if character_id is None or self.players.get(character_id) is not session:
            return
        progress = self.progress_of(session, release=True)
        del self.players[character_id]
        session.actor = None
        self.world.remove(character_id)
        log.info(
            "player_left",
            zone=self.spec.name,
            account_id=session.account_id,
            character_id=character_id,
            players=len(self.players),
        )
        if save:
            self.checkpointer.stage(progress)
            self.checkpointer.request_flush()

    def progress_of(
        self,
        session: Session,
        *,
        release: bool = False,
        zone_id: int | None = None,
        x: float | None = None,
        y: float | None = None,
    ) -> CharacterProgress:
        """The character's progress now (optionally placed elsewhere), with a new version."""
        assert session.character_id is not None
        s = self.world.player_state(session.character_id)
        session.progress_version += 1
        return CharacterProgress(
            session.character_id,
            self.spec.zone_id if zone_id is None else zone_id,
            s.x if x is None else x,
            s.y if y is None else y,
            s.hp,
            s.level,
            s.xp,
            version=session.progress_version,
            epoch=session.epoch,
            release=release,
        )

    def ownership_lost(self, character_ids: list[int]) -> None:
        """The database refused our saves: another server owns these characters now. Their
        sessions end here, without saving (the new owner's state wins)."""
        for character_id in character_ids:
            session = self.players.get(character_id)
            if session is not None:
                self.send(
                    session,
                    {
                        "type": "notice",
                        "code": "session_replaced",
                        "message": "this character is now played elsewhere",
                    },
                )
                self.leave_world(session, save=False)
                session.close(CloseCode.SESSION_REPLACED, "session replaced")
                self.disconnects[CloseCode.SESSION_REPLACED] += 1

    def players_near(self, x: float, y: float) -> list[Session]:
        """Sessions of the players in the 3x3 cells around (x, y), as of the last grid rebuild
        (the audience of a nearby chat line or a hit). Filtered with numpy: a crowd's chat
        reaches hundreds of players per line."""
        world = self.world
        slots = self.grid.slots_near(self.grid.cell_at(x, y))
        slots = slots[world.used[slots] & (world.kind[slots] == EntityKind.PLAYER)]
        return [s for s in map(self.players.get, world.ids[slots].tolist()) if s is not None]

    def set_writable(self, session: Session, writable: bool) -> None:
        session.writable = writable
        session.backlogged_since = None if writable else self.clock.monotonic()

    def online_progress(self) -> list[CharacterProgress]:
        """The current state of every character in the world, for a durable save."""
        return [self.progress_of(session) for session in self.players.values()]

    def online_checkpoints(self) -> list[HotCheckpoint]:
        """The current state of every character in the world, for a hot checkpoint."""
        checkpoints = []
        for session in self.players.values():
            p = self.progress_of(session)
            checkpoints.append(
                HotCheckpoint(
                    p.character_id, p.epoch, p.version, p.zone_id, p.x, p.y, p.hp, p.level, p.xp
                )
            )
        return checkpoints

    # --- messages -------------------------------------------------------------------------
    def on_message(self, session: Session, payload: bytes, binary: bool) -> None:
        now = self.clock.monotonic()
        self.bytes_in += len(payload)
        if session.phase is Phase.CLOSED:
            return
        if not session.message_bucket.take(now):
            self._rate_limited(session, now)
            return
        try:
            message = parse_client_message(
                decode(payload, binary=binary), max_inspect_ids=self.limits.max_inspect_ids
            )
            check_allowed(session.phase, message.kind, message.seq)
            if message.seq <= session.last_seq:
                raise ProtocolError(
                    ErrorCode.BAD_SEQ, f"seq must be greater than {session.last_seq}", message.seq
                )
            session.last_seq = message.seq
            self.received[message.kind.value] += 1
            HANDLERS[message.kind](self, session, message, now)
        except ProtocolError as exc:
            self.protocol_error(session, exc, now)
        except ActionRejected as exc:
            self.send_error(session, ErrorCode(exc.code), exc.message, message.seq)

    def protocol_error(self, session: Session, exc: ProtocolError, now: float) -> None:
        self.send_error(session, exc.code, exc.message, exc.seq)
        limits = self.limits
        if (
            count_recent(session.error_times, now, limits.error_window_s)
            > limits.max_errors_before_close
        ):
            session.close(CloseCode.POLICY_VIOLATION, "too many protocol errors")
            self.disconnects[CloseCode.POLICY_VIOLATION] += 1

    def _rate_limited(self, session: Session, now: float) -> None:
        limits = self.limits
        if (
            count_recent(session.limited_times, now, limits.error_window_s)
            > limits.max_rate_limited_before_close
        ):
            session.close(CloseCode.RATE_LIMITED, "too many messages")
            self.disconnects[CloseCode.RATE_LIMITED] += 1
        elif now >= session.next_limit_notice_at:  # one notice per second, not per message
            session.next_limit_notice_at = now + 1.0
            self.send_error(
                session,
                ErrorCode.RATE_LIMITED,
                f"more than {limits.max_messages_per_s:g} messages/s; messages are being dropped",
            )

    # --- output ---------------------------------------------------------------------------
    def send(self, session: Session, message: dict[str, Any]) -> None:
        self.bytes_out += session.send(message)
        self.sent[message["type"]] += 1

    def send_error(
        self, session: Session, code: ErrorCode, message: str, seq: int | None = None
    ) -> None:
        self.errors[code.value] += 1
        self.bytes_out += session.send_error(code, message, seq)
        self.sent["error"] += 1

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
        session.close(close_code, message)
        self.disconnects[close_code] += 1
